// RUN: attn-opt %s -attn-lower-tile-ops -canonicalize -cse -split-input-file | FileCheck %s

// A document mask needs the documents of the tile's first and last rows: a
// bisection over cu_seqlens for the first, then a forward gallop from its
// document and a bisection of the bracket it finds for the last (one load
// when the tile lies in one document); then O(1) integer arithmetic. The
// two documents are returned for attn.row_interval.
// CHECK-LABEL: func @doc_causal_range
// CHECK-SAME: (%[[CU:.*]]: memref<?xi32>, %[[T:.*]]: index, %[[Q0:.*]]: index, %[[Q1:.*]]: index)
// CHECK-NOT: attn.key_tile_range
// CHECK: %[[LAST:.*]] = arith.subi %[[Q1]], %{{.*}}
// CHECK: %[[FIRST:.*]]:2 = scf.while
// CHECK: arith.cmpi slt
// CHECK: memref.load %[[CU]]
// CHECK: arith.cmpi sle, %{{.*}}, %[[Q0]]
// CHECK: %[[GALLOP:.*]]:2 = scf.while (%{{.*}} = %{{.*}}, %{{.*}} = %{{.*}})
// CHECK: memref.load %[[CU]]
// CHECK: arith.cmpi sle, %{{.*}}, %[[LAST]]
// CHECK: scf.condition
// CHECK: %[[LASTDOC:.*]]:2 = scf.while (%{{.*}} = %[[GALLOP]]#0, %{{.*}} = %{{.*}})
// CHECK: arith.cmpi sle, %{{.*}}, %[[LAST]]
// CHECK-NOT: scf.while
// CHECK: %[[BEGIN:.*]] = arith.divui
// CHECK: return %[[BEGIN]], %{{.*}}, %{{.*}}, %{{.*}}, %[[FIRST]]#0, %[[LASTDOC]]#0
func.func @doc_causal_range(%cu: memref<?xi32>, %t: index, %q0: index, %q1: index)
    -> (index, index, index, index, index, index) {
  %b, %fb, %fe, %e, %d0, %d1 = attn.key_tile_range %cu, %t, %q0, %q1
      {mask = #attn.mask<document, causal>, block_k = 64 : i64} : memref<?xi32>
  return %b, %fb, %fe, %e, %d0, %d1 : index, index, index, index, index, index
}

// -----

// Without the document term, cu_seqlens is never read.
// CHECK-LABEL: func @causal_window_range
// CHECK-NOT: scf.while
// CHECK-NOT: memref.load
// CHECK: return
func.func @causal_window_range(%cu: memref<?xi32>, %t: index, %q0: index, %q1: index)
    -> (index, index, index, index) {
  %b, %fb, %fe, %e, %d0, %d1 = attn.key_tile_range %cu, %t, %q0, %q1
      {mask = #attn.mask<causal, window = 128>, block_k = 32 : i64} : memref<?xi32>
  return %b, %fb, %fe, %e : index, index, index, index
}

// -----

// A row interval on tensors: one bisection over all documents; causality
// makes hi = q + 1 (q < the end of its document), so only the start is read.
// CHECK-LABEL: func @row_interval
// CHECK-SAME: (%[[CU:.*]]: tensor<?xi32>, %[[T:.*]]: index, %[[Q:.*]]: index)
// CHECK: %[[D:.*]]:2 = scf.while
// CHECK: tensor.extract %[[CU]]
// CHECK: scf.yield
// CHECK: %[[S:.*]] = tensor.extract %[[CU]][%[[D]]#0]
// CHECK: %[[START:.*]] = arith.index_cast %[[S]]
// CHECK: %[[HI:.*]] = arith.addi %[[Q]], %{{.*}}
// CHECK-NOT: tensor.extract
// CHECK: return %[[START]], %[[HI]]
func.func @row_interval(%cu: tensor<?xi32>, %t: index, %q: index) -> (index, index) {
  %lo, %hi = attn.row_interval %cu, %t, %q {mask = #attn.mask<document, causal>}
      : tensor<?xi32>
  return %lo, %hi : index, index
}

// -----

// Within [d0, d1]: the bisection starts from that window (clamped to the
// valid documents, so a wrong window cannot read outside cu_seqlens), and
// runs no step when d0 == d1.
// CHECK-LABEL: func @row_interval_within
// CHECK-SAME: (%[[CU:.*]]: memref<?xi32>, %[[T:.*]]: index, %[[Q:.*]]: index, %[[D0:.*]]: index, %[[D1:.*]]: index)
// CHECK: %[[DIM:.*]] = memref.dim %[[CU]]
// CHECK: %[[MAXDOC:.*]] = arith.maxsi
// CHECK: %[[LO0:.*]] = arith.maxsi %[[D0]]
// CHECK: %[[LO:.*]] = arith.minsi %[[LO0]], %[[MAXDOC]]
// CHECK: %[[HI0:.*]] = arith.maxsi %[[D1]], %[[LO]]
// CHECK: %[[HI:.*]] = arith.minsi %[[HI0]], %[[MAXDOC]]
// CHECK: %[[D:.*]]:2 = scf.while (%{{.*}} = %[[LO]], %{{.*}} = %[[HI]])
// CHECK: arith.cmpi slt
// CHECK: memref.load %[[CU]][%[[D]]#0]
func.func @row_interval_within(%cu: memref<?xi32>, %t: index, %q: index,
                               %d0: index, %d1: index) -> (index, index) {
  %lo, %hi = attn.row_interval %cu, %t, %q within [%d0, %d1]
      {mask = #attn.mask<document, causal>} : memref<?xi32>
  return %lo, %hi : index, index
}

// -----

// The transposed ops (the backward pass) lower through the same algebra:
// the documents of the key tile's first and last keys, then the query-tile
// range; a key's column interval under causal starts at the key itself.
// CHECK-LABEL: func @query_tile_range_and_col_interval
// CHECK-SAME: (%[[CU:.*]]: memref<?xi32>, %[[T:.*]]: index, %[[K0:.*]]: index, %[[K1:.*]]: index)
// CHECK-NOT: attn.query_tile_range
// CHECK: scf.while
// CHECK: arith.cmpi sle, %{{.*}}, %[[K0]]
// CHECK-NOT: attn.col_interval
// CHECK: return %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[K0]], %{{.*}}
func.func @query_tile_range_and_col_interval(%cu: memref<?xi32>, %t: index, %k0: index, %k1: index)
    -> (index, index, index, index, index, index) {
  %b, %fb, %fe, %e, %d0, %d1 = attn.query_tile_range %cu, %t, %k0, %k1
      {mask = #attn.mask<document, causal>, block_q = 64 : i64} : memref<?xi32>
  %lo, %hi = attn.col_interval %cu, %t, %k0 within [%d0, %d1]
      {mask = #attn.mask<document, causal>} : memref<?xi32>
  return %b, %fb, %fe, %e, %lo, %hi : index, index, index, index, index, index
}
