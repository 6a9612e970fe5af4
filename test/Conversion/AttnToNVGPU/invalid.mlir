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
      // expected-error @+1 {{the NVIDIA lowering needs every result materialized into kernel arguments}}
      %o, %l = attn.attention %qt, %qt, %qt, %ct {mask = #attn.mask<document, causal>}
          : tensor<?x2x64xbf16>, tensor<?x2x64xbf16>, tensor<?x2x64xbf16>,
            tensor<?xi32> -> tensor<?x2x64xbf16>, tensor<2x?xf32>
      gpu.return
    }
  }
}

// -----

// A kernel has one tile counter and one set of tensor maps (mma=auto on
// sm_90a: a dynamic grid and TMA), for one attention.
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
      // expected-error @+1 {{a kernel with a tile counter or tensor maps holds one attention; @k has one already}}
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

// -----

// The runtime passes dense tensors (TMA's maps assume them): a strided
// argument is refused, not read with the wrong strides.
module attributes {gpu.container_module} {
  gpu.module @m {
    gpu.func @strided(%q: memref<?x4x64xbf16, strided<[512, 64, 1]>>, %k: memref<?x2x64xbf16>, %v: memref<?x2x64xbf16>, %cu: memref<?xi32>, %out: memref<?x4x64xbf16>, %lse: memref<4x?xf32>) kernel {
      %qt = bufferization.to_tensor %q restrict : memref<?x4x64xbf16, strided<[512, 64, 1]>> to tensor<?x4x64xbf16>
      %kt = bufferization.to_tensor %k restrict : memref<?x2x64xbf16> to tensor<?x2x64xbf16>
      %vt = bufferization.to_tensor %v restrict : memref<?x2x64xbf16> to tensor<?x2x64xbf16>
      %ct = bufferization.to_tensor %cu restrict : memref<?xi32> to tensor<?xi32>
      // expected-error @+1 {{the NVIDIA lowering needs memrefs of the identity layout in global memory (dense, as the runtime passes them), got 'memref<?x4x64xbf16, strided<[512, 64, 1]>>'}}
      %o, %l = attn.attention %qt, %kt, %vt, %ct {mask = #attn.mask<document, causal>}
          : tensor<?x4x64xbf16>, tensor<?x2x64xbf16>, tensor<?x2x64xbf16>, tensor<?xi32> -> tensor<?x4x64xbf16>, tensor<4x?xf32>
      bufferization.materialize_in_destination %o in restrict writable %out : (tensor<?x4x64xbf16>, memref<?x4x64xbf16>) -> ()
      bufferization.materialize_in_destination %l in restrict writable %lse : (tensor<4x?xf32>, memref<4x?xf32>) -> ()
      gpu.return
    }
  }
}

// -----

module attributes {gpu.container_module} {
  gpu.module @m {
    gpu.func @strided_cu_seqlens(%q: memref<?x4x64xbf16>, %k: memref<?x2x64xbf16>, %v: memref<?x2x64xbf16>, %cu: memref<?xi32, strided<[2]>>, %out: memref<?x4x64xbf16>, %lse: memref<4x?xf32>) kernel {
      %qt = bufferization.to_tensor %q restrict : memref<?x4x64xbf16> to tensor<?x4x64xbf16>
      %kt = bufferization.to_tensor %k restrict : memref<?x2x64xbf16> to tensor<?x2x64xbf16>
      %vt = bufferization.to_tensor %v restrict : memref<?x2x64xbf16> to tensor<?x2x64xbf16>
      %ct = bufferization.to_tensor %cu restrict : memref<?xi32, strided<[2]>> to tensor<?xi32>
      // expected-error @+1 {{the NVIDIA lowering needs memrefs of the identity layout in global memory (dense, as the runtime passes them), got 'memref<?xi32, strided<[2]>>'}}
      %o, %l = attn.attention %qt, %kt, %vt, %ct {mask = #attn.mask<document, causal>}
          : tensor<?x4x64xbf16>, tensor<?x2x64xbf16>, tensor<?x2x64xbf16>, tensor<?xi32> -> tensor<?x4x64xbf16>, tensor<4x?xf32>
      bufferization.materialize_in_destination %o in restrict writable %out : (tensor<?x4x64xbf16>, memref<?x4x64xbf16>) -> ()
      bufferization.materialize_in_destination %l in restrict writable %lse : (tensor<4x?xf32>, memref<4x?xf32>) -> ()
      gpu.return
    }
  }
}

// -----

module attributes {gpu.container_module} {
  gpu.module @m {
    gpu.func @other_memory_space(%q: memref<?x4x64xbf16, 3>, %k: memref<?x2x64xbf16>, %v: memref<?x2x64xbf16>, %cu: memref<?xi32>, %out: memref<?x4x64xbf16>, %lse: memref<4x?xf32>) kernel {
      %qt = bufferization.to_tensor %q restrict : memref<?x4x64xbf16, 3> to tensor<?x4x64xbf16>
      %kt = bufferization.to_tensor %k restrict : memref<?x2x64xbf16> to tensor<?x2x64xbf16>
      %vt = bufferization.to_tensor %v restrict : memref<?x2x64xbf16> to tensor<?x2x64xbf16>
      %ct = bufferization.to_tensor %cu restrict : memref<?xi32> to tensor<?xi32>
      // expected-error @+1 {{the NVIDIA lowering needs memrefs of the identity layout in global memory (dense, as the runtime passes them), got 'memref<?x4x64xbf16, 3>'}}
      %o, %l = attn.attention %qt, %kt, %vt, %ct {mask = #attn.mask<document, causal>}
          : tensor<?x4x64xbf16>, tensor<?x2x64xbf16>, tensor<?x2x64xbf16>, tensor<?xi32> -> tensor<?x4x64xbf16>, tensor<4x?xf32>
      bufferization.materialize_in_destination %o in restrict writable %out : (tensor<?x4x64xbf16>, memref<?x4x64xbf16>) -> ()
      bufferization.materialize_in_destination %l in restrict writable %lse : (tensor<4x?xf32>, memref<4x?xf32>) -> ()
      gpu.return
    }
  }
}

// -----

// A view of an argument (here a dense-typed reinterpret_cast of a strided
// one) is not what the runtime passes.
module attributes {gpu.container_module} {
  gpu.module @m {
    gpu.func @view(%q: memref<?x4x128xbf16>, %k: memref<?x2x64xbf16>, %v: memref<?x2x64xbf16>, %cu: memref<?xi32>, %out: memref<?x4x64xbf16>, %lse: memref<4x?xf32>) kernel {
      %c0 = arith.constant 0 : index
      %t = memref.dim %q, %c0 : memref<?x4x128xbf16>
      %qv = memref.reinterpret_cast %q to offset: [0], sizes: [%t, 4, 64], strides: [256, 64, 1] : memref<?x4x128xbf16> to memref<?x4x64xbf16>
      %qt = bufferization.to_tensor %qv restrict : memref<?x4x64xbf16> to tensor<?x4x64xbf16>
      %kt = bufferization.to_tensor %k restrict : memref<?x2x64xbf16> to tensor<?x2x64xbf16>
      %vt = bufferization.to_tensor %v restrict : memref<?x2x64xbf16> to tensor<?x2x64xbf16>
      %ct = bufferization.to_tensor %cu restrict : memref<?xi32> to tensor<?xi32>
      // expected-error @+1 {{the NVIDIA lowering needs the kernel's arguments themselves, not views of them}}
      %o, %l = attn.attention %qt, %kt, %vt, %ct {mask = #attn.mask<document, causal>}
          : tensor<?x4x64xbf16>, tensor<?x2x64xbf16>, tensor<?x2x64xbf16>, tensor<?xi32> -> tensor<?x4x64xbf16>, tensor<4x?xf32>
      bufferization.materialize_in_destination %o in restrict writable %out : (tensor<?x4x64xbf16>, memref<?x4x64xbf16>) -> ()
      bufferization.materialize_in_destination %l in restrict writable %lse : (tensor<4x?xf32>, memref<4x?xf32>) -> ()
      gpu.return
    }
  }
}
