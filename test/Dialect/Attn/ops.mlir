// RUN: attn-opt %s | FileCheck %s
// RUN: attn-opt %s | attn-opt | FileCheck %s
// RUN: attn-opt %s --mlir-print-op-generic | attn-opt | FileCheck %s

// CHECK-LABEL: func @doc_causal
// CHECK: attn.attention %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {mask = #attn.mask<document, causal>} : tensor<?x16x128xbf16>, tensor<?x4x128xbf16>, tensor<?x4x128xbf16>, tensor<?xi32> -> tensor<?x16x128xbf16>, tensor<16x?xf32>
func.func @doc_causal(%q: tensor<?x16x128xbf16>, %k: tensor<?x4x128xbf16>,
                      %v: tensor<?x4x128xbf16>, %cu: tensor<?xi32>)
    -> (tensor<?x16x128xbf16>, tensor<16x?xf32>) {
  %o, %l = attn.attention %q, %k, %v, %cu {mask = #attn.mask<document, causal>}
      : tensor<?x16x128xbf16>, tensor<?x4x128xbf16>, tensor<?x4x128xbf16>,
        tensor<?xi32> -> tensor<?x16x128xbf16>, tensor<16x?xf32>
  return %o, %l : tensor<?x16x128xbf16>, tensor<16x?xf32>
}

// CHECK-LABEL: func @masks_and_scale
// CHECK: mask = #attn.mask<document, causal, window = 256>, scale = 1.250000e-01 : f64
// CHECK: mask = #attn.mask<>
// CHECK: mask = #attn.mask<causal>
// CHECK: mask = #attn.mask<document>
func.func @masks_and_scale(%q: tensor<100x8x64xf32>, %k: tensor<100x1x64xf32>,
                           %v: tensor<100x1x128xf32>, %cu: tensor<3xi64>) {
  %0:2 = attn.attention %q, %k, %v, %cu {mask = #attn.mask<causal, window = 256, document>, scale = 0.125 : f64}
      : tensor<100x8x64xf32>, tensor<100x1x64xf32>, tensor<100x1x128xf32>,
        tensor<3xi64> -> tensor<100x8x128xf32>, tensor<8x100xf32>
  %1:2 = attn.attention %q, %k, %v, %cu {mask = #attn.mask<>}
      : tensor<100x8x64xf32>, tensor<100x1x64xf32>, tensor<100x1x128xf32>,
        tensor<3xi64> -> tensor<100x8x128xf32>, tensor<8x100xf32>
  %2:2 = attn.attention %q, %k, %v, %cu {mask = #attn.mask<causal>}
      : tensor<100x8x64xf32>, tensor<100x1x64xf32>, tensor<100x1x128xf32>,
        tensor<3xi64> -> tensor<100x8x128xf32>, tensor<8x100xf32>
  %3:2 = attn.attention %q, %k, %v, %cu {mask = #attn.mask<document>}
      : tensor<100x8x64xf32>, tensor<100x1x64xf32>, tensor<100x1x128xf32>,
        tensor<3xi64> -> tensor<100x8x128xf32>, tensor<8x100xf32>
  return
}

// CHECK-LABEL: func @f16_static_and_dynamic_mix
// CHECK: attn.attention {{.*}} : tensor<?x2x64xf16>, tensor<7x2x64xf16>, tensor<?x2x64xf16>, tensor<2xi32> -> tensor<7x2x64xf16>, tensor<2x?xf32>
func.func @f16_static_and_dynamic_mix(%q: tensor<?x2x64xf16>, %k: tensor<7x2x64xf16>,
                                      %v: tensor<?x2x64xf16>, %cu: tensor<2xi32>) {
  %0:2 = attn.attention %q, %k, %v, %cu {mask = #attn.mask<document, causal>}
      : tensor<?x2x64xf16>, tensor<7x2x64xf16>, tensor<?x2x64xf16>,
        tensor<2xi32> -> tensor<7x2x64xf16>, tensor<2x?xf32>
  return
}

// CHECK-LABEL: func @sequence_helpers
// CHECK: attn.doc_positions %{{.*}} : tensor<?xi32> -> tensor<?xi32>
// CHECK: attn.segments_from_separators %{{.*}} {separator = 2 : i64} : tensor<?xi32> -> tensor<?xi64>
// CHECK: attn.segments_from_separators %{{.*}} {padded, separator = 2 : i64} : tensor<6xi64> -> tensor<7xi32>
func.func @sequence_helpers(%cu: tensor<?xi32>, %tokens: tensor<?xi32>,
                            %six: tensor<6xi64>) {
  %pos = attn.doc_positions %cu : tensor<?xi32> -> tensor<?xi32>
  %seg = attn.segments_from_separators %tokens {separator = 2 : i64}
      : tensor<?xi32> -> tensor<?xi64>
  %pad = attn.segments_from_separators %six {padded, separator = 2 : i64}
      : tensor<6xi64> -> tensor<7xi32>
  return
}

// CHECK-LABEL: func @check_cu_seqlens
// CHECK: attn.check_cu_seqlens %{{.*}}, %{{.*}}, %{{.*}} : tensor<?xi32>, tensor<1xi32> -> tensor<1xi32>
func.func @check_cu_seqlens(%cu: tensor<?xi32>, %errors: tensor<1xi32>,
                            %t: index) -> tensor<1xi32> {
  %e = attn.check_cu_seqlens %cu, %errors, %t
      : tensor<?xi32>, tensor<1xi32> -> tensor<1xi32>
  return %e : tensor<1xi32>
}

// CHECK-LABEL: func @tile_ops
// CHECK: %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[D0:.*]], %[[D1:.*]] = attn.key_tile_range %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {block_k = 64 : i64, mask = #attn.mask<document, causal>} : memref<?xi32>
// CHECK: attn.row_interval %{{.*}}, %{{.*}}, %{{.*}} {mask = #attn.mask<document, causal>} : tensor<?xi32>
// CHECK: attn.row_interval %{{.*}}, %{{.*}}, %{{.*}} within [%[[D0]], %[[D1]]] {mask = #attn.mask<document, causal>} : memref<?xi32>
func.func @tile_ops(%cu: memref<?xi32>, %cut: tensor<?xi32>, %t: index,
                    %q0: index, %q1: index) -> (index, index, index, index, index, index, index, index) {
  %b, %fb, %fe, %e, %d0, %d1 = attn.key_tile_range %cu, %t, %q0, %q1
      {mask = #attn.mask<document, causal>, block_k = 64 : i64} : memref<?xi32>
  %lo, %hi = attn.row_interval %cut, %t, %q0 {mask = #attn.mask<document, causal>}
      : tensor<?xi32>
  %lo2, %hi2 = attn.row_interval %cu, %t, %q0 within [%d0, %d1]
      {mask = #attn.mask<document, causal>} : memref<?xi32>
  return %b, %fb, %fe, %e, %lo, %hi, %lo2, %hi2
      : index, index, index, index, index, index, index, index
}

// CHECK-LABEL: func @attention_grad
// CHECK: attn.attention_grad %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {mask = #attn.mask<document, causal>, scale = 1.250000e-01 : f64} : tensor<?x16x128xbf16>, tensor<?x4x128xbf16>, tensor<?x4x128xbf16>, tensor<?x16x128xbf16>, tensor<?x16x128xbf16>, tensor<16x?xf32>, tensor<?xi32> -> tensor<?x16x128xbf16>, tensor<?x4x128xbf16>, tensor<?x4x128xbf16>
func.func @attention_grad(%q: tensor<?x16x128xbf16>, %k: tensor<?x4x128xbf16>,
                          %v: tensor<?x4x128xbf16>, %o: tensor<?x16x128xbf16>,
                          %do: tensor<?x16x128xbf16>, %lse: tensor<16x?xf32>,
                          %cu: tensor<?xi32>) {
  %dq, %dk, %dv = attn.attention_grad %q, %k, %v, %o, %do, %lse, %cu
      {mask = #attn.mask<document, causal>, scale = 0.125 : f64}
      : tensor<?x16x128xbf16>, tensor<?x4x128xbf16>, tensor<?x4x128xbf16>,
        tensor<?x16x128xbf16>, tensor<?x16x128xbf16>, tensor<16x?xf32>,
        tensor<?xi32> -> tensor<?x16x128xbf16>, tensor<?x4x128xbf16>,
        tensor<?x4x128xbf16>
  return
}

// CHECK-LABEL: func @transposed_tile_ops
// CHECK: attn.query_tile_range %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {block_q = 64 : i64, mask = #attn.mask<document, causal, window = 8>} : memref<?xi32>
// CHECK: attn.col_interval %{{.*}}, %{{.*}}, %{{.*}} within [%{{.*}}, %{{.*}}] {mask = #attn.mask<document, causal, window = 8>} : memref<?xi32>
func.func @transposed_tile_ops(%cu: memref<?xi32>, %t: index, %k0: index, %k1: index) {
  %b, %fb, %fe, %e, %d0, %d1 = attn.query_tile_range %cu, %t, %k0, %k1
      {mask = #attn.mask<document, causal, window = 8>, block_q = 64 : i64} : memref<?xi32>
  %lo, %hi = attn.col_interval %cu, %t, %k0 within [%d0, %d1]
      {mask = #attn.mask<document, causal, window = 8>} : memref<?xi32>
  return
}

// A static size agrees with a dynamic one (dout, dq against out, q).
// CHECK-LABEL: func @attention_grad_static_dynamic
// CHECK: attn.attention_grad {{.*}} -> tensor<8x4x64xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>
func.func @attention_grad_static_dynamic(%q: tensor<?x4x64xf32>, %k: tensor<?x2x64xf32>,
                                         %v: tensor<?x2x64xf32>, %o: tensor<?x4x64xf32>,
                                         %do: tensor<8x4x64xf32>, %lse: tensor<4x?xf32>,
                                         %cu: tensor<?xi32>) {
  %dq, %dk, %dv = attn.attention_grad %q, %k, %v, %o, %do, %lse, %cu {mask = #attn.mask<causal>}
      : tensor<?x4x64xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>, tensor<?x4x64xf32>,
        tensor<8x4x64xf32>, tensor<4x?xf32>, tensor<?xi32>
        -> tensor<8x4x64xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>
  return
}
