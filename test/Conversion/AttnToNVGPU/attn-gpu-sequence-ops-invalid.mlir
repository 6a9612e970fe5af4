// RUN: attn-opt %s -attn-gpu-sequence-ops -split-input-file -verify-diagnostics

func.func @not_in_kernel(%cu: tensor<?xi32>) {
  // expected-error @+1 {{the NVIDIA lowering needs the op in a gpu.func kernel}}
  %p = attn.doc_positions %cu : tensor<?xi32> -> tensor<?xi32>
  return
}

// -----

module attributes {gpu.container_module} {
  gpu.module @attn_kernels {
    gpu.func @segments(%tokens: memref<?xi64>, %cu: memref<?xi32>) kernel {
      %t = bufferization.to_tensor %tokens restrict : memref<?xi64> to tensor<?xi64>
      // expected-error @+1 {{the NVIDIA lowering computes the padded form only (T + 1 entries, known without reading the tokens)}}
      %s = attn.segments_from_separators %t {separator = 2 : i64} : tensor<?xi64> -> tensor<?xi32>
      bufferization.materialize_in_destination %s in restrict writable %cu : (tensor<?xi32>, memref<?xi32>) -> ()
      gpu.return
    }
  }
}

// -----

module attributes {gpu.container_module} {
  gpu.module @attn_kernels {
    gpu.func @positions(%cu: memref<?xi32>) kernel {
      %c = bufferization.to_tensor %cu restrict : memref<?xi32> to tensor<?xi32>
      // expected-error @+1 {{the NVIDIA lowering needs every result materialized into kernel arguments}}
      %p = attn.doc_positions %c : tensor<?xi32> -> tensor<?xi32>
      gpu.return
    }
  }
}

// -----

module attributes {gpu.container_module} {
  gpu.module @attn_kernels {
    gpu.func @check(%cu: memref<?xi32>, %t: index, %errors: memref<1xi32>,
                    %other: memref<1xi32>) kernel {
      %c = bufferization.to_tensor %cu restrict : memref<?xi32> to tensor<?xi32>
      %e = bufferization.to_tensor %errors restrict : memref<1xi32> to tensor<1xi32>
      // expected-error @+1 {{the NVIDIA lowering updates the error record in place (the result materialized into the errors' buffer)}}
      %r = attn.check_cu_seqlens %c, %e, %t : tensor<?xi32>, tensor<1xi32> -> tensor<1xi32>
      bufferization.materialize_in_destination %r in restrict writable %other : (tensor<1xi32>, memref<1xi32>) -> ()
      gpu.return
    }
  }
}

// -----

module attributes {gpu.container_module} {
  gpu.module @attn_kernels {
    gpu.func @positions_strided(%cu: memref<?xi32, strided<[2]>>, %pos: memref<?xi32>) kernel {
      %c = bufferization.to_tensor %cu restrict : memref<?xi32, strided<[2]>> to tensor<?xi32>
      // expected-error @+1 {{the NVIDIA lowering needs memrefs of the identity layout in global memory (dense, as the runtime passes them), got 'memref<?xi32, strided<[2]>>'}}
      %p = attn.doc_positions %c : tensor<?xi32> -> tensor<?xi32>
      bufferization.materialize_in_destination %p in restrict writable %pos : (tensor<?xi32>, memref<?xi32>) -> ()
      gpu.return
    }
  }
}
