// RUN: attn-opt %s -attn-gpu-tile-attention -split-input-file -verify-diagnostics

func.func @not_in_kernel(%q: tensor<?x2x64xbf16>, %lse: tensor<2x?xf32>, %cu: tensor<?xi32>) {
  // expected-error @+1 {{the NVIDIA lowering needs the op in a gpu.func kernel}}
  %dq, %dk, %dv = attn.attention_grad %q, %q, %q, %q, %q, %lse, %cu {mask = #attn.mask<document, causal>}
      : tensor<?x2x64xbf16>, tensor<?x2x64xbf16>, tensor<?x2x64xbf16>, tensor<?x2x64xbf16>,
        tensor<?x2x64xbf16>, tensor<2x?xf32>, tensor<?xi32>
        -> tensor<?x2x64xbf16>, tensor<?x2x64xbf16>, tensor<?x2x64xbf16>
  return
}

// -----

module attributes {gpu.container_module} {
  gpu.module @m {
    gpu.func @f32(%q: memref<?x2x64xf32>, %lse: memref<2x?xf32>, %cu: memref<?xi32>) kernel {
      %qt = bufferization.to_tensor %q restrict : memref<?x2x64xf32> to tensor<?x2x64xf32>
      %lt = bufferization.to_tensor %lse restrict : memref<2x?xf32> to tensor<2x?xf32>
      %ct = bufferization.to_tensor %cu restrict : memref<?xi32> to tensor<?xi32>
      // expected-error @+1 {{the NVIDIA lowering supports f16 and bf16, got 'f32'}}
      %dq, %dk, %dv = attn.attention_grad %qt, %qt, %qt, %qt, %qt, %lt, %ct {mask = #attn.mask<document, causal>}
          : tensor<?x2x64xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>,
            tensor<?x2x64xf32>, tensor<2x?xf32>, tensor<?xi32>
            -> tensor<?x2x64xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>
      gpu.return
    }
  }
}

// -----

module attributes {gpu.container_module} {
  gpu.module @m [#nvvm.target<chip = "sm_86">] {
    gpu.func @d256(%q: memref<?x2x256xbf16>, %lse: memref<2x?xf32>, %cu: memref<?xi32>) kernel {
      %qt = bufferization.to_tensor %q restrict : memref<?x2x256xbf16> to tensor<?x2x256xbf16>
      %lt = bufferization.to_tensor %lse restrict : memref<2x?xf32> to tensor<2x?xf32>
      %ct = bufferization.to_tensor %cu restrict : memref<?xi32> to tensor<?xi32>
      // expected-error @+1 {{the backward kernel needs 144896 bytes of shared memory per block (head dims 256/256), more than the 101376 sm_86 allows}}
      %dq, %dk, %dv = attn.attention_grad %qt, %qt, %qt, %qt, %qt, %lt, %ct {mask = #attn.mask<document, causal>}
          : tensor<?x2x256xbf16>, tensor<?x2x256xbf16>, tensor<?x2x256xbf16>, tensor<?x2x256xbf16>,
            tensor<?x2x256xbf16>, tensor<2x?xf32>, tensor<?xi32>
            -> tensor<?x2x256xbf16>, tensor<?x2x256xbf16>, tensor<?x2x256xbf16>
      gpu.return
    }
  }
}

// -----

// Past 128 the kernel splits the columns into parts of at most 96: D = 256
// takes 4, which Dv = 96 does not split into (24 columns).
module attributes {gpu.container_module} {
  gpu.module @m [#nvvm.target<chip = "sm_90a">] {
    gpu.func @parts(%q: memref<?x2x256xbf16>, %v: memref<?x2x96xbf16>, %lse: memref<2x?xf32>, %cu: memref<?xi32>) kernel {
      %qt = bufferization.to_tensor %q restrict : memref<?x2x256xbf16> to tensor<?x2x256xbf16>
      %vt = bufferization.to_tensor %v restrict : memref<?x2x96xbf16> to tensor<?x2x96xbf16>
      %lt = bufferization.to_tensor %lse restrict : memref<2x?xf32> to tensor<2x?xf32>
      %ct = bufferization.to_tensor %cu restrict : memref<?xi32> to tensor<?xi32>
      // expected-error @+1 {{the NVIDIA backward kernel splits head dims past 128 into parts of at most 96 columns in whole 16-column steps, which D = 256 and Dv = 96 together do not allow (the CPU target takes every head dim of the op)}}
      %dq, %dk, %dv = attn.attention_grad %qt, %qt, %vt, %vt, %vt, %lt, %ct {mask = #attn.mask<document, causal>}
          : tensor<?x2x256xbf16>, tensor<?x2x256xbf16>, tensor<?x2x96xbf16>, tensor<?x2x96xbf16>,
            tensor<?x2x96xbf16>, tensor<2x?xf32>, tensor<?xi32>
            -> tensor<?x2x256xbf16>, tensor<?x2x256xbf16>, tensor<?x2x96xbf16>
      gpu.return
    }
  }
}

// -----

module attributes {gpu.container_module} {
  gpu.module @m [#nvvm.target<chip = "sm_75">] {
    gpu.func @chip(%q: memref<?x2x64xbf16>, %lse: memref<2x?xf32>, %cu: memref<?xi32>) kernel {
      %qt = bufferization.to_tensor %q restrict : memref<?x2x64xbf16> to tensor<?x2x64xbf16>
      %lt = bufferization.to_tensor %lse restrict : memref<2x?xf32> to tensor<2x?xf32>
      %ct = bufferization.to_tensor %cu restrict : memref<?xi32> to tensor<?xi32>
      // expected-error @+1 {{the NVIDIA kernels support sm_80, sm_86, sm_87, sm_89, sm_90 and sm_90a, the gpu.module targets sm_75}}
      %dq, %dk, %dv = attn.attention_grad %qt, %qt, %qt, %qt, %qt, %lt, %ct {mask = #attn.mask<document, causal>}
          : tensor<?x2x64xbf16>, tensor<?x2x64xbf16>, tensor<?x2x64xbf16>, tensor<?x2x64xbf16>,
            tensor<?x2x64xbf16>, tensor<2x?xf32>, tensor<?xi32>
            -> tensor<?x2x64xbf16>, tensor<?x2x64xbf16>, tensor<?x2x64xbf16>
      gpu.return
    }
  }
}

// -----

module attributes {gpu.container_module} {
  gpu.module @m {
    gpu.func @tensor_inputs(%q: tensor<?x2x64xbf16>, %lse: tensor<2x?xf32>, %cu: tensor<?xi32>) kernel {
      // expected-error @+1 {{the NVIDIA lowering needs inputs read with bufferization.to_tensor from memrefs}}
      %dq, %dk, %dv = attn.attention_grad %q, %q, %q, %q, %q, %lse, %cu {mask = #attn.mask<document, causal>}
          : tensor<?x2x64xbf16>, tensor<?x2x64xbf16>, tensor<?x2x64xbf16>, tensor<?x2x64xbf16>,
            tensor<?x2x64xbf16>, tensor<2x?xf32>, tensor<?xi32>
            -> tensor<?x2x64xbf16>, tensor<?x2x64xbf16>, tensor<?x2x64xbf16>
      gpu.return
    }
  }
}

// -----

module attributes {gpu.container_module} {
  gpu.module @m {
    gpu.func @not_materialized(%q: memref<?x2x64xbf16>, %lse: memref<2x?xf32>, %cu: memref<?xi32>) kernel {
      %qt = bufferization.to_tensor %q restrict : memref<?x2x64xbf16> to tensor<?x2x64xbf16>
      %lt = bufferization.to_tensor %lse restrict : memref<2x?xf32> to tensor<2x?xf32>
      %ct = bufferization.to_tensor %cu restrict : memref<?xi32> to tensor<?xi32>
      // expected-error @+1 {{the NVIDIA lowering needs every result materialized into kernel arguments}}
      %dq, %dk, %dv = attn.attention_grad %qt, %qt, %qt, %qt, %qt, %lt, %ct {mask = #attn.mask<document, causal>}
          : tensor<?x2x64xbf16>, tensor<?x2x64xbf16>, tensor<?x2x64xbf16>, tensor<?x2x64xbf16>,
            tensor<?x2x64xbf16>, tensor<2x?xf32>, tensor<?xi32>
            -> tensor<?x2x64xbf16>, tensor<?x2x64xbf16>, tensor<?x2x64xbf16>
      gpu.return
    }
  }
}
