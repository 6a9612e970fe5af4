// RUN: attn-opt %s -attn-lower-tile-ops -canonicalize -cse -split-input-file | FileCheck %s

// A document mask needs the bounds of two rows' documents: two binary
// searches over cu_seqlens, then O(1) integer arithmetic.
// CHECK-LABEL: func @doc_causal_range
// CHECK-SAME: (%[[CU:.*]]: memref<?xi32>, %[[T:.*]]: index, %[[Q0:.*]]: index, %[[Q1:.*]]: index)
// CHECK-NOT: attn.key_tile_range
// CHECK: %[[N:.*]] = memref.dim %[[CU]]
// CHECK: scf.while ({{.*}} = %{{.*}}, {{.*}} = %[[N]])
// CHECK: arith.cmpi sle, %{{.*}}, %[[Q0]]
// CHECK: %[[LAST:.*]] = arith.subi %[[Q1]], %{{.*}}
// CHECK: scf.while ({{.*}} = %{{.*}}, {{.*}} = %[[N]])
// CHECK: arith.cmpi sle, %{{.*}}, %[[LAST]]
// CHECK-NOT: scf.while
// CHECK: %[[NUMK:.*]] = arith.ceildivui %[[T]], %{{.*}}
// CHECK: %[[BEGIN:.*]] = arith.divui
// CHECK: return %[[BEGIN]], %{{.*}}, %{{.*}}, %{{.*}} : index, index, index, index
func.func @doc_causal_range(%cu: memref<?xi32>, %t: index, %q0: index, %q1: index)
    -> (index, index, index, index) {
  %b, %fb, %fe, %e = attn.key_tile_range %cu, %t, %q0, %q1
      {mask = #attn.mask<document, causal>, block_k = 64 : i64} : memref<?xi32>
  return %b, %fb, %fe, %e : index, index, index, index
}

// -----

// Without the document term, cu_seqlens is never read.
// CHECK-LABEL: func @causal_window_range
// CHECK-NOT: scf.while
// CHECK-NOT: memref.load
// CHECK: return
func.func @causal_window_range(%cu: memref<?xi32>, %t: index, %q0: index, %q1: index)
    -> (index, index, index, index) {
  %b, %fb, %fe, %e = attn.key_tile_range %cu, %t, %q0, %q1
      {mask = #attn.mask<causal, window = 128>, block_k = 32 : i64} : memref<?xi32>
  return %b, %fb, %fe, %e : index, index, index, index
}

// -----

// A row interval on tensors: one binary search, bounds clamped by causality.
// CHECK-LABEL: func @row_interval
// CHECK-SAME: (%[[CU:.*]]: tensor<?xi32>, %[[T:.*]]: index, %[[Q:.*]]: index)
// CHECK: scf.while
// CHECK: scf.yield
// CHECK: %[[UB:.*]] = arith.minsi
// CHECK: %[[PREV:.*]] = arith.subi %[[UB]]
// CHECK: %[[S:.*]] = tensor.extract %[[CU]][%[[PREV]]]
// CHECK: %[[START:.*]] = arith.index_cast %[[S]]
// CHECK: %[[E:.*]] = tensor.extract %[[CU]][%[[UB]]]
// CHECK: %[[END:.*]] = arith.index_cast %[[E]]
// CHECK: %[[QP1:.*]] = arith.addi %[[Q]], %{{.*}}
// CHECK: %[[HI:.*]] = arith.minsi %[[END]], %[[QP1]]
// CHECK: return %[[START]], %[[HI]]
func.func @row_interval(%cu: tensor<?xi32>, %t: index, %q: index) -> (index, index) {
  %lo, %hi = attn.row_interval %cu, %t, %q {mask = #attn.mask<document, causal>}
      : tensor<?xi32>
  return %lo, %hi : index, index
}
