// RUN: attn-opt %s -attn-gpu-tile-attention -split-input-file -verify-diagnostics

func.func @not_in_kernel(%q: tensor<?x2x64xbf16>, %cu: tensor<?xi32>) {
  // expected-error @+1 {{the NVIDIA lowering needs the op in a gpu.func kernel}}
  %o, %l = attn.attention %q, %q, %q, %cu {mask = #attn.mask<document, causal>}
      : tensor<?x2x64xbf16>, tensor<?x2x64xbf16>, tensor<?x2x64xbf16>,
        tensor<?xi32> -> tensor<?x2x64xbf16>, tensor<2x?xf32>
  return
}

// -----

module attributes {gpu.container_module} {
  gpu.module @m {
    gpu.func @f32(%q: memref<?x2x64xf32>, %cu: memref<?xi32>) kernel {
      %qt = bufferization.to_tensor %q restrict : memref<?x2x64xf32> to tensor<?x2x64xf32>
      %ct = bufferization.to_tensor %cu restrict : memref<?xi32> to tensor<?xi32>
      // expected-error @+1 {{the NVIDIA lowering supports f16 and bf16, got 'f32'}}
      %o, %l = attn.attention %qt, %qt, %qt, %ct {mask = #attn.mask<document, causal>}
          : tensor<?x2x64xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>,
            tensor<?xi32> -> tensor<?x2x64xf32>, tensor<2x?xf32>
      gpu.return
    }
  }
}

// -----

module attributes {gpu.container_module} {
  gpu.module @m {
    gpu.func @tensor_inputs(%q: tensor<?x2x64xbf16>, %cu: tensor<?xi32>) kernel {
      // expected-error @+1 {{the NVIDIA lowering needs inputs read with bufferization.to_tensor from memrefs}}
      %o, %l = attn.attention %q, %q, %q, %cu {mask = #attn.mask<document, causal>}
          : tensor<?x2x64xbf16>, tensor<?x2x64xbf16>, tensor<?x2x64xbf16>,
            tensor<?xi32> -> tensor<?x2x64xbf16>, tensor<2x?xf32>
      gpu.return
    }
  }
}

// -----

module attributes {gpu.container_module} {
  gpu.module @m {
    gpu.func @unmaterialized(%q: memref<?x2x64xbf16>, %cu: memref<?xi32>) kernel {
      %qt = bufferization.to_tensor %q restrict : memref<?x2x64xbf16> to tensor<?x2x64xbf16>
      %ct = bufferization.to_tensor %cu restrict : memref<?xi32> to tensor<?xi32>
      // expected-error @+1 {{the NVIDIA lowering needs both results materialized into kernel arguments}}
      %o, %l = attn.attention %qt, %qt, %qt, %ct {mask = #attn.mask<document, causal>}
          : tensor<?x2x64xbf16>, tensor<?x2x64xbf16>, tensor<?x2x64xbf16>,
            tensor<?xi32> -> tensor<?x2x64xbf16>, tensor<2x?xf32>
      gpu.return
    }
  }
}
