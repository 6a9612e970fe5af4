// RUN: attn-opt %s -attn-gpu-tile-attention='mma=wgmma schedule=warp-specialized' -verify-diagnostics

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
