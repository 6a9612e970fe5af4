// RUN: attn-opt %s -attn-gpu-sequence-ops -split-input-file | FileCheck %s

// doc_positions: one thread per token, blocks of 256; each finds its
// document by bisection over cu_seqlens and stores t - c[d].
// CHECK: module attributes {attn.launch = {"attn_kernels::doc_positions" = {arch = "sm_80", grid = "tokens", kernel = "doc_positions", sequence = "doc_positions", shared_bytes = 0 : i64, threads = 256 : i64}}
// CHECK-LABEL: gpu.func @doc_positions
// CHECK-SAME: (%[[CU:.*]]: memref<?xi32>, %[[POS:.*]]: memref<?xi32>) kernel attributes {known_block_size = array<i32: 256, 1, 1>}
// CHECK-NOT: attn.doc_positions
// CHECK: %[[T:.*]] = memref.dim %[[POS]], %c0
// CHECK: %[[TID:.*]] = gpu.thread_id x
// CHECK: %[[BID:.*]] = gpu.block_id x
// CHECK: %[[BASE:.*]] = arith.muli %[[BID]], %c256
// CHECK: %[[TOK:.*]] = arith.addi %[[BASE]], %[[TID]]
// CHECK: %[[IN:.*]] = arith.cmpi ult, %[[TOK]], %[[T]]
// CHECK: scf.if %[[IN]] {
// CHECK: scf.while
// CHECK: memref.load %[[CU]]
// CHECK: %[[P:.*]] = arith.subi %[[TOK]], %{{.*}} : index
// CHECK: %[[P32:.*]] = arith.index_cast %[[P]] : index to i32
// CHECK: memref.store %[[P32]], %[[POS]][%[[TOK]]]
module attributes {gpu.container_module} {
  gpu.module @attn_kernels [#nvvm.target<chip = "sm_80">] {
    gpu.func @doc_positions(%cu: memref<?xi32>, %pos: memref<?xi32>) kernel {
      %c = bufferization.to_tensor %cu restrict : memref<?xi32> to tensor<?xi32>
      %p = attn.doc_positions %c : tensor<?xi32> -> tensor<?xi32>
      bufferization.materialize_in_destination %p in restrict writable %pos : (tensor<?xi32>, memref<?xi32>) -> ()
      gpu.return
    }
  }
}

// -----

// segments_from_separators {padded}: one block of 1024 threads, each
// counting a run of ceil(T / 1024) tokens; a scan of the counts in shared
// memory (10 rounds, two barriers each); the ends; cu[0]; the padding.
// CHECK: module attributes {attn.launch = {"attn_kernels::segments" = {arch = "sm_90a", grid = "one", kernel = "segments", separator = 2 : i64, sequence = "segments_from_separators", shared_bytes = 0 : i64, threads = 1024 : i64}}
// CHECK-LABEL: gpu.func @segments
// CHECK-SAME: (%[[TOKS:.*]]: memref<?xi64>, %[[CU:.*]]: memref<?xi32>) workgroup(%[[COUNTS:.*]] : memref<1024xi32, #gpu.address_space<workgroup>>) kernel
// CHECK-NOT: attn.segments_from_separators
// CHECK-DAG: %[[SEP:.*]] = arith.constant 2 : i64
// CHECK: %[[TID:.*]] = gpu.thread_id x
// CHECK: %[[T:.*]] = memref.dim %[[TOKS]], %c0
// CHECK: %[[PER:.*]] = arith.ceildivui %[[T]], %c1024
// CHECK: %[[COUNT:.*]] = scf.for
// CHECK: arith.cmpi eq, %{{.*}}, %[[SEP]] : i64
// CHECK: memref.store %{{.*}}, %[[COUNTS]][%[[TID]]]
// CHECK-COUNT-21: gpu.barrier
// CHECK: %[[LAST:.*]] = memref.load %[[COUNTS]][%c1023]
// CHECK: scf.for
// CHECK: scf.if
// CHECK: memref.store %{{.*}}, %[[CU]]
// CHECK: memref.store %{{.*}}, %[[CU]][%c0{{.*}}]
// CHECK: %[[END:.*]] = arith.index_cast %[[T]] : index to i32
// CHECK: scf.for %[[J:.*]] = %{{.*}} to %{{.*}} step %c1024
// CHECK: memref.store %[[END]], %[[CU]][%[[J]]]
module attributes {gpu.container_module} {
  gpu.module @attn_kernels {
    gpu.func @segments(%tokens: memref<?xi64>, %cu: memref<?xi32>) kernel {
      %t = bufferization.to_tensor %tokens restrict : memref<?xi64> to tensor<?xi64>
      %s = attn.segments_from_separators %t {padded, separator = 2 : i64} : tensor<?xi64> -> tensor<?xi32>
      bufferization.materialize_in_destination %s in restrict writable %cu : (tensor<?xi32>, memref<?xi32>) -> ()
      gpu.return
    }
  }
}

// -----

// check_cu_seqlens, in place: one thread per entry, blocks of 256; an entry
// that breaks a rule ors 1 into the record, a valid one stores nothing.
// CHECK: module attributes {attn.launch = {"attn_kernels::check" = {arch = "sm_90a", grid = "entries", kernel = "check", sequence = "check_cu_seqlens", shared_bytes = 0 : i64, threads = 256 : i64}}
// CHECK-LABEL: gpu.func @check
// CHECK-SAME: (%[[CU:.*]]: memref<?xi32>, %[[T:.*]]: index, %[[E:.*]]: memref<1xi32>) kernel attributes {known_block_size = array<i32: 256, 1, 1>}
// CHECK-NOT: attn.check_cu_seqlens
// CHECK: %[[N:.*]] = memref.dim %[[CU]], %c0
// CHECK: %[[I:.*]] = arith.addi
// CHECK: %[[IN:.*]] = arith.cmpi ult, %[[I]], %[[N]]
// CHECK: scf.if %[[IN]] {
// CHECK: memref.load %[[CU]][%[[I]]]
// CHECK: arith.cmpi eq, %{{.*}}, %[[T]] : index
// CHECK: %[[BAD:.*]] = arith.cmpi ne
// CHECK: scf.if %[[BAD]] {
// CHECK: memref.atomic_rmw ori %{{.*}}, %[[E]][%{{.*}}] : (i32, memref<1xi32>) -> i32
// CHECK-NOT: memref.store
// CHECK: gpu.return
module attributes {gpu.container_module} {
  gpu.module @attn_kernels [#nvvm.target<chip = "sm_90a">] {
    gpu.func @check(%cu: memref<?xi32>, %t: index, %errors: memref<1xi32>) kernel {
      %c = bufferization.to_tensor %cu restrict : memref<?xi32> to tensor<?xi32>
      %e = bufferization.to_tensor %errors restrict : memref<1xi32> to tensor<1xi32>
      %r = attn.check_cu_seqlens %c, %e, %t : tensor<?xi32>, tensor<1xi32> -> tensor<1xi32>
      bufferization.materialize_in_destination %r in writable %errors : (tensor<1xi32>, memref<1xi32>) -> ()
      gpu.return
    }
  }
}
