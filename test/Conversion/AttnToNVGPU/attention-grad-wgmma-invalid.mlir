// RUN: attn-opt %s -attn-gpu-tile-attention='mma=wgmma' -split-input-file -verify-diagnostics

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
