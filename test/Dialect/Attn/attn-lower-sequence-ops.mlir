// RUN: attn-opt %s -attn-lower-sequence-ops -split-input-file | FileCheck %s

// doc_positions: one tensor.generate whose body finds the document by binary
// search over cu_seqlens (scf.while) and subtracts its start.
// CHECK-LABEL: func @doc_positions
// CHECK-SAME: (%[[CU:.*]]: tensor<?xi32>)
// CHECK-NOT: attn.doc_positions
// CHECK: %[[N:.*]] = tensor.dim %[[CU]]
// CHECK: %[[LAST:.*]] = tensor.extract %[[CU]]
// CHECK: %[[T:.*]] = arith.index_cast %[[LAST]] : i32 to index
// CHECK: tensor.generate %[[T]] {
// CHECK: ^bb0(%[[I:.*]]: index):
// CHECK: scf.while
// CHECK: arith.cmpi sle
// CHECK: %[[START:.*]] = arith.index_cast %{{.*}} : i32 to index
// CHECK: %[[POS:.*]] = arith.subi %[[I]], %[[START]] : index
// CHECK: %[[R:.*]] = arith.index_cast %[[POS]] : index to i32
// CHECK: tensor.yield %[[R]] : i32
func.func @doc_positions(%cu: tensor<?xi32>) -> tensor<?xi32> {
  %0 = attn.doc_positions %cu : tensor<?xi32> -> tensor<?xi32>
  return %0 : tensor<?xi32>
}

// -----

// segments_from_separators: count the separators, then fill cu_seqlens.
// CHECK-LABEL: func @segments
// CHECK-SAME: (%[[TOK:.*]]: tensor<?xi32>)
// CHECK-NOT: attn.segments_from_separators
// CHECK-DAG: %[[SEP:.*]] = arith.constant 2 : i32
// CHECK: %[[T:.*]] = tensor.dim %[[TOK]]
// CHECK: %[[COUNT:.*]] = scf.for
// CHECK: arith.cmpi eq, %{{.*}}, %[[SEP]] : i32
// CHECK: %[[TRAIL:.*]] = scf.if
// CHECK: tensor.empty
// CHECK: scf.for {{.*}} iter_args
// CHECK: scf.if
// CHECK: tensor.insert
// CHECK: tensor.insert
func.func @segments(%tokens: tensor<?xi32>) -> tensor<?xi64> {
  %0 = attn.segments_from_separators %tokens {separator = 2 : i64}
      : tensor<?xi32> -> tensor<?xi64>
  return %0 : tensor<?xi64>
}

// -----

// padded: T + 1 entries, the ones past the last document filled with T.
// CHECK-LABEL: func @segments_padded
// CHECK-SAME: (%[[TOK:.*]]: tensor<?xi64>)
// CHECK-DAG: %[[C1:.*]] = arith.constant 1 : index
// CHECK: %[[T:.*]] = tensor.dim %[[TOK]]
// CHECK: arith.index_castui
// CHECK-NEXT: %[[DOCS:.*]] = arith.addi %{{.*}}, %{{.*}} : index
// CHECK: %[[SIZE:.*]] = arith.addi %[[T]], %[[C1]] : index
// CHECK: tensor.empty(%[[SIZE]])
// CHECK: %[[END:.*]] = arith.index_cast %[[T]] : index to i32
// CHECK: %[[LAST:.*]] = tensor.insert %[[END]] into %{{.*}}[%[[DOCS]]]
// CHECK: %[[FROM:.*]] = arith.addi %[[DOCS]], %[[C1]] : index
// CHECK: scf.for %[[I:.*]] = %[[FROM]] to %[[SIZE]] step %[[C1]] iter_args(%[[ACC:.*]] = %[[LAST]])
// CHECK: tensor.insert %[[END]] into %[[ACC]][%[[I]]]
func.func @segments_padded(%tokens: tensor<?xi64>) -> tensor<?xi32> {
  %0 = attn.segments_from_separators %tokens {padded, separator = 2 : i64}
      : tensor<?xi64> -> tensor<?xi32>
  return %0 : tensor<?xi32>
}

// -----

// check_cu_seqlens: a loop over the entries taking the largest of the
// mask algebra's per-entry errors (the entry before, entry 0 and entry N
// against T); the record gets its bit 0 set if any, else stays.
// CHECK-LABEL: func @check_cu_seqlens
// CHECK-SAME: (%[[CU:.*]]: tensor<?xi32>, %[[E:.*]]: tensor<1xi32>, %[[T:.*]]: index)
// CHECK-NOT: attn.check_cu_seqlens
// CHECK: %[[ANY:.*]] = scf.for %[[I:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%[[ACC:.*]] = %{{.*}}) -> (index) {
// CHECK: tensor.extract %[[CU]][%[[I]]]
// CHECK: arith.cmpi slt
// CHECK: arith.cmpi eq, %{{.*}}, %[[T]] : index
// CHECK: %[[MAX:.*]] = arith.maxsi %[[ACC]], %{{.*}} : index
// CHECK: scf.yield %[[MAX]] : index
// CHECK: %[[BEFORE:.*]] = tensor.extract %[[E]][%{{.*}}] : tensor<1xi32>
// CHECK: %[[BAD:.*]] = arith.cmpi ne, %[[ANY]], %{{.*}} : index
// CHECK: %[[SET:.*]] = arith.ori %[[BEFORE]], %{{.*}} : i32
// CHECK: %[[R:.*]] = arith.select %[[BAD]], %[[SET]], %[[BEFORE]] : i32
// CHECK: tensor.from_elements %[[R]] : tensor<1xi32>
func.func @check_cu_seqlens(%cu: tensor<?xi32>, %errors: tensor<1xi32>,
                            %t: index) -> tensor<1xi32> {
  %0 = attn.check_cu_seqlens %cu, %errors, %t
      : tensor<?xi32>, tensor<1xi32> -> tensor<1xi32>
  return %0 : tensor<1xi32>
}
