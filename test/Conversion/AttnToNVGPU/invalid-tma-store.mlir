// RUN: attn-opt %s -attn-gpu-tile-attention='mma=wgmma softmax-overlap=true warp-specialize=true tma=false tma-store=true' -verify-diagnostics

// O's tensor map comes with those of the TMA loads.
module attributes {gpu.container_module} {
  gpu.module @m [#nvvm.target<chip = "sm_90a">] {
    gpu.func @k(%q: memref<?x2x64xbf16>, %cu: memref<?xi32>, %out: memref<?x2x64xbf16>, %lse: memref<2x?xf32>) kernel {
      %qt = bufferization.to_tensor %q restrict : memref<?x2x64xbf16> to tensor<?x2x64xbf16>
      %ct = bufferization.to_tensor %cu restrict : memref<?xi32> to tensor<?xi32>
      // expected-error @+1 {{a TMA store of O needs TMA loads}}
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
