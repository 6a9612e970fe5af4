// Executes the reference lowering of the sequence helpers on the host.
// RUN: attn-opt %s --attn-cpu-pipeline \
// RUN: | mlir-runner -e main -entry-point-result=void \
// RUN:   -shared-libs=%mlir_lib_dir/libmlir_runner_utils.so,%mlir_lib_dir/libmlir_c_runner_utils.so \
// RUN: | FileCheck %s

func.func @positions(%cu: tensor<?xi32>) {
  %pos = attn.doc_positions %cu : tensor<?xi32> -> tensor<?xi32>
  %u = tensor.cast %pos : tensor<?xi32> to tensor<*xi32>
  call @printMemrefI32(%u) : (tensor<*xi32>) -> ()
  return
}

func.func @segments(%tokens: tensor<?xi32>) {
  %cu = attn.segments_from_separators %tokens {separator = 2 : i64}
      : tensor<?xi32> -> tensor<?xi32>
  %u = tensor.cast %cu : tensor<?xi32> to tensor<*xi32>
  call @printMemrefI32(%u) : (tensor<*xi32>) -> ()
  return
}

func.func @segments_padded(%tokens: tensor<?xi64>) {
  %cu = attn.segments_from_separators %tokens {padded, separator = 2 : i64}
      : tensor<?xi64> -> tensor<?xi32>
  %u = tensor.cast %cu : tensor<?xi32> to tensor<*xi32>
  call @printMemrefI32(%u) : (tensor<*xi32>) -> ()
  return
}

func.func @main() {
  // Documents of 3, 0 (empty), 1 and 5 tokens.
  // CHECK: sizes = [9]
  // CHECK-NEXT: [0,  1,  2,  0,  0,  1,  2,  3,  4]
  %cu0 = arith.constant dense<[0, 3, 3, 4, 9]> : tensor<5xi32>
  %c0 = tensor.cast %cu0 : tensor<5xi32> to tensor<?xi32>
  call @positions(%c0) : (tensor<?xi32>) -> ()

  // One document.
  // CHECK: sizes = [4]
  // CHECK-NEXT: [0,  1,  2,  3]
  %cu1 = arith.constant dense<[0, 4]> : tensor<2xi32>
  %c1 = tensor.cast %cu1 : tensor<2xi32> to tensor<?xi32>
  call @positions(%c1) : (tensor<?xi32>) -> ()

  // The separator ends its document; a trailing document without one counts.
  // CHECK: sizes = [4]
  // CHECK-NEXT: [0,  2,  5,  6]
  %t0 = arith.constant dense<[5, 2, 7, 7, 2, 9]> : tensor<6xi32>
  %s0 = tensor.cast %t0 : tensor<6xi32> to tensor<?xi32>
  call @segments(%s0) : (tensor<?xi32>) -> ()

  // Ending on a separator: no trailing document; back-to-back separators
  // make length-1 documents.
  // CHECK: sizes = [4]
  // CHECK-NEXT: [0,  1,  2,  4]
  %t1 = arith.constant dense<[2, 2, 8, 2]> : tensor<4xi32>
  %s1 = tensor.cast %t1 : tensor<4xi32> to tensor<?xi32>
  call @segments(%s1) : (tensor<?xi32>) -> ()

  // No separator at all: one document.
  // CHECK: sizes = [2]
  // CHECK-NEXT: [0,  3]
  %t2 = arith.constant dense<[7, 7, 7]> : tensor<3xi32>
  %s2 = tensor.cast %t2 : tensor<3xi32> to tensor<?xi32>
  call @segments(%s2) : (tensor<?xi32>) -> ()

  // No tokens: no document.
  // CHECK: sizes = [1]
  // CHECK-NEXT: [0]
  %t3 = arith.constant dense<> : tensor<0xi32>
  %s3 = tensor.cast %t3 : tensor<0xi32> to tensor<?xi32>
  call @segments(%s3) : (tensor<?xi32>) -> ()

  // padded: T + 1 entries, T repeated past the last document.
  // CHECK: sizes = [7]
  // CHECK-NEXT: [0,  2,  5,  6,  6,  6,  6]
  %p0 = arith.constant dense<[5, 2, 7, 7, 2, 9]> : tensor<6xi64>
  %q0 = tensor.cast %p0 : tensor<6xi64> to tensor<?xi64>
  call @segments_padded(%q0) : (tensor<?xi64>) -> ()
  // Every token a separator: T documents, nothing to pad.
  // CHECK: sizes = [4]
  // CHECK-NEXT: [0,  1,  2,  3]
  %p1 = arith.constant dense<[2, 2, 2]> : tensor<3xi64>
  %q1 = tensor.cast %p1 : tensor<3xi64> to tensor<?xi64>
  call @segments_padded(%q1) : (tensor<?xi64>) -> ()
  // No tokens: [0].
  // CHECK: sizes = [1]
  // CHECK-NEXT: [0]
  %p2 = arith.constant dense<> : tensor<0xi64>
  %q2 = tensor.cast %p2 : tensor<0xi64> to tensor<?xi64>
  call @segments_padded(%q2) : (tensor<?xi64>) -> ()

  // check_cu_seqlens (%c0: the documents of 3, 0, 1 and 5 tokens above):
  // the record stays for a packing of T tokens (0 or 1), becomes 1
  // otherwise.
  %ok = arith.constant dense<0> : tensor<1xi32>
  %set = arith.constant dense<1> : tensor<1xi32>
  %i9 = arith.constant 9 : index
  %i10 = arith.constant 10 : index
  %i0 = arith.constant 0 : index
  // CHECK: sizes = [1] strides = [1] data =
  // CHECK-NEXT: [0]
  call @check(%c0, %ok, %i9) : (tensor<?xi32>, tensor<1xi32>, index) -> ()
  // CHECK: sizes = [1] strides = [1] data =
  // CHECK-NEXT: [1]
  call @check(%c0, %set, %i9) : (tensor<?xi32>, tensor<1xi32>, index) -> ()
  // Another T.
  // CHECK: sizes = [1] strides = [1] data =
  // CHECK-NEXT: [1]
  call @check(%c0, %ok, %i10) : (tensor<?xi32>, tensor<1xi32>, index) -> ()
  // A decrease.
  // CHECK: sizes = [1] strides = [1] data =
  // CHECK-NEXT: [1]
  %down = arith.constant dense<[0, 3, 2, 9]> : tensor<4xi32>
  %d0 = tensor.cast %down : tensor<4xi32> to tensor<?xi32>
  call @check(%d0, %ok, %i9) : (tensor<?xi32>, tensor<1xi32>, index) -> ()
  // Not starting at 0.
  // CHECK: sizes = [1] strides = [1] data =
  // CHECK-NEXT: [1]
  %late = arith.constant dense<[1, 9]> : tensor<2xi32>
  %l0 = tensor.cast %late : tensor<2xi32> to tensor<?xi32>
  call @check(%l0, %ok, %i9) : (tensor<?xi32>, tensor<1xi32>, index) -> ()
  // No tokens, one entry.
  // CHECK: sizes = [1] strides = [1] data =
  // CHECK-NEXT: [0]
  %none = arith.constant dense<[0]> : tensor<1xi32>
  %n0 = tensor.cast %none : tensor<1xi32> to tensor<?xi32>
  call @check(%n0, %ok, %i0) : (tensor<?xi32>, tensor<1xi32>, index) -> ()
  return
}

func.func @check(%cu: tensor<?xi32>, %errors: tensor<1xi32>, %t: index) {
  %e = attn.check_cu_seqlens %cu, %errors, %t
      : tensor<?xi32>, tensor<1xi32> -> tensor<1xi32>
  %u = tensor.cast %e : tensor<1xi32> to tensor<*xi32>
  call @printMemrefI32(%u) : (tensor<*xi32>) -> ()
  return
}

func.func private @printMemrefI32(tensor<*xi32>)
