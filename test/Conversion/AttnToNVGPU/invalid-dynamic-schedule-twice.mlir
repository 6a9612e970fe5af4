// RUN: attn-opt %s -attn-gpu-tile-attention='mma=wgmma softmax-overlap=true warp-specialize=true persistent=true dynamic-schedule=true tma=true' -verify-diagnostics

// A kernel has one tile counter, for one attention: a second one in the
// same kernel is refused.
module attributes {gpu.container_module} {
  gpu.module @m [#nvvm.target<chip = "sm_90a">] {
    gpu.func @k(%q: memref<?x2x64xbf16>, %cu: memref<?xi32>, %out: memref<?x2x64xbf16>, %lse: memref<2x?xf32>,
                %out2: memref<?x2x64xbf16>, %lse2: memref<2x?xf32>) kernel {
      %qt = bufferization.to_tensor %q restrict : memref<?x2x64xbf16> to tensor<?x2x64xbf16>
      %ct = bufferization.to_tensor %cu restrict : memref<?xi32> to tensor<?xi32>
      %o, %l = attn.attention %qt, %qt, %qt, %ct {mask = #attn.mask<document, causal>}
          : tensor<?x2x64xbf16>, tensor<?x2x64xbf16>, tensor<?x2x64xbf16>,
            tensor<?xi32> -> tensor<?x2x64xbf16>, tensor<2x?xf32>
      bufferization.materialize_in_destination %o in restrict writable %out
          : (tensor<?x2x64xbf16>, memref<?x2x64xbf16>) -> ()
      bufferization.materialize_in_destination %l in restrict writable %lse
          : (tensor<2x?xf32>, memref<2x?xf32>) -> ()
      // expected-error @+1 {{the kernel already has a tile-counter argument}}
      %o2, %l2 = attn.attention %qt, %qt, %qt, %ct {mask = #attn.mask<document, causal>}
          : tensor<?x2x64xbf16>, tensor<?x2x64xbf16>, tensor<?x2x64xbf16>,
            tensor<?xi32> -> tensor<?x2x64xbf16>, tensor<2x?xf32>
      bufferization.materialize_in_destination %o2 in restrict writable %out2
          : (tensor<?x2x64xbf16>, memref<?x2x64xbf16>) -> ()
      bufferization.materialize_in_destination %l2 in restrict writable %lse2
          : (tensor<2x?xf32>, memref<2x?xf32>) -> ()
      gpu.return
    }
  }
}
