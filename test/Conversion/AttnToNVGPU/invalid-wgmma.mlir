// RUN: attn-opt %s -attn-gpu-tile-attention='mma=wgmma schedule=warp-specialized' -split-input-file -verify-diagnostics

// The wgmma kernels' own rules (the option combinations are
// invalid-options.mlir's). The chip and the backward's head dims are
// checked whatever the schedule; the forward's head-dim limit is the
// warp-specialized schedule's.

// The forward on wgmma: sm_90a only.
module attributes {gpu.container_module} {
  gpu.module @m [#nvvm.target<chip = "sm_80">] {
    gpu.func @k(%q: memref<?x2x64xbf16>, %cu: memref<?xi32>, %out: memref<?x2x64xbf16>, %lse: memref<2x?xf32>) kernel {
      %qt = bufferization.to_tensor %q restrict : memref<?x2x64xbf16> to tensor<?x2x64xbf16>
      %ct = bufferization.to_tensor %cu restrict : memref<?xi32> to tensor<?xi32>
      // expected-error @+1 {{wgmma needs sm_90a, the gpu.module targets sm_80}}
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

// The backward kernel on wgmma (mma=wgmma): sm_90a only.
module attributes {gpu.container_module} {
  gpu.module @m [#nvvm.target<chip = "sm_80">] {
    gpu.func @chip(%q: memref<?x2x64xbf16>, %lse: memref<2x?xf32>, %cu: memref<?xi32>) kernel {
      %qt = bufferization.to_tensor %q restrict : memref<?x2x64xbf16> to tensor<?x2x64xbf16>
      %lt = bufferization.to_tensor %lse restrict : memref<2x?xf32> to tensor<2x?xf32>
      %ct = bufferization.to_tensor %cu restrict : memref<?xi32> to tensor<?xi32>
      // expected-error @+1 {{wgmma needs sm_90a, the gpu.module targets sm_80}}
      %dq, %dk, %dv = attn.attention_grad %qt, %qt, %qt, %qt, %qt, %lt, %ct {mask = #attn.mask<document, causal>}
          : tensor<?x2x64xbf16>, tensor<?x2x64xbf16>, tensor<?x2x64xbf16>, tensor<?x2x64xbf16>,
            tensor<?x2x64xbf16>, tensor<2x?xf32>, tensor<?xi32>
            -> tensor<?x2x64xbf16>, tensor<?x2x64xbf16>, tensor<?x2x64xbf16>
      gpu.return
    }
  }
}

// -----

// Its dK and dV accumulate whole rows: head dims up to 128 (mma.sync
// splits larger ones into column parts).
module attributes {gpu.container_module} {
  gpu.module @m [#nvvm.target<chip = "sm_90a">] {
    gpu.func @wide(%q: memref<?x2x192xbf16>, %lse: memref<2x?xf32>, %cu: memref<?xi32>) kernel {
      %qt = bufferization.to_tensor %q restrict : memref<?x2x192xbf16> to tensor<?x2x192xbf16>
      %lt = bufferization.to_tensor %lse restrict : memref<2x?xf32> to tensor<2x?xf32>
      %ct = bufferization.to_tensor %cu restrict : memref<?xi32> to tensor<?xi32>
      // expected-error @+1 {{the wgmma backward kernel takes head dims up to 128, got D = 192 and Dv = 192 (its dK and dV of whole rows); use mma=mma-sync}}
      %dq, %dk, %dv = attn.attention_grad %qt, %qt, %qt, %qt, %qt, %lt, %ct {mask = #attn.mask<document, causal>}
          : tensor<?x2x192xbf16>, tensor<?x2x192xbf16>, tensor<?x2x192xbf16>, tensor<?x2x192xbf16>,
            tensor<?x2x192xbf16>, tensor<2x?xf32>, tensor<?xi32>
            -> tensor<?x2x192xbf16>, tensor<?x2x192xbf16>, tensor<?x2x192xbf16>
      gpu.return
    }
  }
}

// -----

// A consumer warpgroup's registers do not hold O's accumulators at D = 256.
module attributes {gpu.container_module} {
  gpu.module @m [#nvvm.target<chip = "sm_90a">] {
    gpu.func @k(%q: memref<?x2x256xbf16>, %cu: memref<?xi32>, %out: memref<?x2x256xbf16>, %lse: memref<2x?xf32>) kernel {
      %qt = bufferization.to_tensor %q restrict : memref<?x2x256xbf16> to tensor<?x2x256xbf16>
      %ct = bufferization.to_tensor %cu restrict : memref<?xi32> to tensor<?xi32>
      // expected-error @+1 {{the warp-specialized wgmma kernels take head dims up to 192, got D = 256 and Dv = 256 (at 256 they spill: O's accumulators under a consumer's 224 registers, a cp.async producer's copies under its 56); use schedule=plain or softmax-overlap, or mma=mma-sync}}
      %o, %l = attn.attention %qt, %qt, %qt, %ct {mask = #attn.mask<document, causal>}
          : tensor<?x2x256xbf16>, tensor<?x2x256xbf16>, tensor<?x2x256xbf16>,
            tensor<?xi32> -> tensor<?x2x256xbf16>, tensor<2x?xf32>
      bufferization.materialize_in_destination %o in restrict writable %out
          : (tensor<?x2x256xbf16>, memref<?x2x256xbf16>) -> ()
      bufferization.materialize_in_destination %l in restrict writable %lse
          : (tensor<2x?xf32>, memref<2x?xf32>) -> ()
      gpu.return
    }
  }
}
