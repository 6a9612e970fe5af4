// The kernel options: every value is one of those KernelSchedule.td
// declares (or auto), and a flavour is a combination that can be built.
// A named mma is checked with the options, before any IR is read:
// RUN: not attn-opt %s -attn-gpu-tile-attention='mma=tcgen05' 2>&1 | FileCheck %s --check-prefix=MMA
// MMA: error: attn-gpu-tile-attention: unknown mma 'tcgen05' (expected auto, mma-sync or wgmma)
// RUN: not attn-opt %s -attn-gpu-tile-attention='schedule=eager' 2>&1 | FileCheck %s --check-prefix=SCHEDULE
// SCHEDULE: error: attn-gpu-tile-attention: unknown schedule 'eager' (expected auto, plain, softmax-overlap, warp-specialized or warp-specialized-pingpong)
// RUN: not attn-opt %s -attn-gpu-tile-attention='grid=fast' 2>&1 | FileCheck %s --check-prefix=GRID
// GRID: error: attn-gpu-tile-attention: unknown grid 'fast' (expected auto, tiles, persistent or dynamic)
// RUN: not attn-opt %s -attn-gpu-tile-attention='loads=ldg' 2>&1 | FileCheck %s --check-prefix=LOADS
// LOADS: error: attn-gpu-tile-attention: unknown loads 'ldg' (expected auto, cp.async or tma)
// RUN: not attn-opt %s -attn-gpu-tile-attention='stores=st' 2>&1 | FileCheck %s --check-prefix=STORES
// STORES: error: attn-gpu-tile-attention: unknown stores 'st' (expected auto, st.global or tma)
// RUN: not attn-opt %s -attn-gpu-tile-attention='mma=mma-sync schedule=softmax-overlap' 2>&1 | FileCheck %s --check-prefix=OVERLAP
// OVERLAP: error: attn-gpu-tile-attention: schedule=softmax-overlap needs mma=wgmma (an asynchronous tensor-core product)
// RUN: not attn-opt %s -attn-gpu-tile-attention='mma=mma-sync schedule=warp-specialized' 2>&1 | FileCheck %s --check-prefix=WS
// WS: error: attn-gpu-tile-attention: schedule=warp-specialized needs mma=wgmma
// RUN: not attn-opt %s -attn-gpu-tile-attention='mma=wgmma schedule=softmax-overlap grid=persistent' 2>&1 | FileCheck %s --check-prefix=PERSISTENT
// PERSISTENT: error: attn-gpu-tile-attention: grid=persistent needs a warp-specialized schedule (warp-specialized or warp-specialized-pingpong)
// RUN: not attn-opt %s -attn-gpu-tile-attention='mma=wgmma schedule=plain loads=tma' 2>&1 | FileCheck %s --check-prefix=TMA
// TMA: error: attn-gpu-tile-attention: loads=tma needs a warp-specialized schedule
// RUN: not attn-opt %s -attn-gpu-tile-attention='mma=wgmma schedule=warp-specialized grid=dynamic' 2>&1 | FileCheck %s --check-prefix=DYNAMIC
// DYNAMIC: error: attn-gpu-tile-attention: grid=dynamic needs loads=tma
// RUN: not attn-opt %s -attn-gpu-tile-attention='mma=wgmma schedule=warp-specialized stores=tma' 2>&1 | FileCheck %s --check-prefix=STORE
// STORE: error: attn-gpu-tile-attention: stores=tma needs loads=tma

// Under mma=auto the flavour depends on the chip and the head dim, so it is
// checked per attention, and the message shows what auto chose.
// RUN: attn-opt %s -attn-gpu-tile-attention='schedule=plain grid=persistent' -split-input-file -verify-diagnostics

module attributes {gpu.container_module} {
  gpu.module @m [#nvvm.target<chip = "sm_90a">] {
    gpu.func @k(%q: memref<?x2x64xbf16>, %cu: memref<?xi32>, %out: memref<?x2x64xbf16>, %lse: memref<2x?xf32>) kernel {
      %qt = bufferization.to_tensor %q restrict : memref<?x2x64xbf16> to tensor<?x2x64xbf16>
      %ct = bufferization.to_tensor %cu restrict : memref<?xi32> to tensor<?xi32>
      // expected-error @+1 {{grid=persistent needs a warp-specialized schedule (warp-specialized or warp-specialized-pingpong) (mma=wgmma schedule=plain grid=persistent loads=tma stores=tma)}}
      %o, %l = attn.attention %qt, %qt, %qt, %ct {mask = #attn.mask<document, causal>}
          : tensor<?x2x64xbf16>, tensor<?x2x64xbf16>, tensor<?x2x64xbf16>,
            tensor<?xi32> -> tensor<?x2x64xbf16>, tensor<2x?xf32>
      bufferization.materialize_in_destination %o in restrict writable %out
          : (tensor<?x2x64xbf16>, memref<?x2x64xbf16>) -> ()
      bufferization.materialize_in_destination %l in restrict writable %lse
          : (tensor<2x?xf32>, memref<2x?xf32>) -> ()
      gpu.return
    }
  }
}

// -----

module attributes {gpu.container_module} {
  gpu.module @m [#nvvm.target<chip = "sm_80">] {
    gpu.func @k(%q: memref<?x2x64xbf16>, %cu: memref<?xi32>, %out: memref<?x2x64xbf16>, %lse: memref<2x?xf32>) kernel {
      %qt = bufferization.to_tensor %q restrict : memref<?x2x64xbf16> to tensor<?x2x64xbf16>
      %ct = bufferization.to_tensor %cu restrict : memref<?xi32> to tensor<?xi32>
      // expected-error @+1 {{grid=persistent needs a warp-specialized schedule (warp-specialized or warp-specialized-pingpong) (mma=mma-sync schedule=plain grid=persistent loads=cp.async stores=st.global)}}
      %o, %l = attn.attention %qt, %qt, %qt, %ct {mask = #attn.mask<document, causal>}
          : tensor<?x2x64xbf16>, tensor<?x2x64xbf16>, tensor<?x2x64xbf16>,
            tensor<?xi32> -> tensor<?x2x64xbf16>, tensor<2x?xf32>
      bufferization.materialize_in_destination %o in restrict writable %out
          : (tensor<?x2x64xbf16>, memref<?x2x64xbf16>) -> ()
      bufferization.materialize_in_destination %l in restrict writable %lse
          : (tensor<2x?xf32>, memref<2x?xf32>) -> ()
      gpu.return
    }
  }
}
