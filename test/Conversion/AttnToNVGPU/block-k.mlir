// RUN: not attn-opt %s -attn-gpu-tile-attention='mma=mma-sync block-k=24' 2>&1 | FileCheck %s
// CHECK: error: 'attn.attention' op block_k must be a positive multiple of 16

// wgmma: 256 threads copy 16 bytes each per step, so a 16-key tile of
// D = 64 (128 units) does not split; wgmma's N is at most 256.
// RUN: not attn-opt %s -attn-gpu-tile-attention='mma=wgmma block-k=16' 2>&1 | FileCheck %s --check-prefix=SPLIT
// SPLIT: error: 'attn.attention' op the tiles (block_q 128, block_k 16) do not split into 16-byte copies over 256 threads for head dims 64/64
// RUN: not attn-opt %s -attn-gpu-tile-attention='mma=wgmma block-k=320' 2>&1 | FileCheck %s --check-prefix=WIDE
// WIDE: error: 'attn.attention' op wgmma needs block_k <= 256, got 320

module attributes {gpu.container_module} {
  gpu.module @m {
    gpu.func @k(%q: memref<?x2x64xbf16>, %cu: memref<?xi32>, %out: memref<?x2x64xbf16>, %lse: memref<2x?xf32>) kernel {
      %qt = bufferization.to_tensor %q restrict : memref<?x2x64xbf16> to tensor<?x2x64xbf16>
      %ct = bufferization.to_tensor %cu restrict : memref<?xi32> to tensor<?xi32>
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

// A bad option is an error naming the pass.
// RUN: not attn-opt %s -attn-gpu-tile-attention="bogus=1" 2>&1 | FileCheck %s --check-prefix=BADOPT
// BADOPT: error: attn-gpu-tile-attention: bad options 'bogus=1'
