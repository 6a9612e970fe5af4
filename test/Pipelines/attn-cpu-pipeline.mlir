// RUN: attn-opt %s --attn-cpu-pipeline="block-q=32 block-k=32" | FileCheck %s \
// RUN:   --implicit-check-not='{{[ "]attn\.}}' --implicit-check-not='{{[ "]scf\.}}' \
// RUN:   --implicit-check-not='{{[ "]memref\.}}' --implicit-check-not='{{[ "]vector\.}}'

// The whole CPU pipeline ends in the LLVM dialect: no attn, scf, memref or
// vector op is left anywhere (the implicit checks), and the function keeps
// its C interface.
// CHECK-LABEL: llvm.func @attn(
// CHECK: llvm.intr.exp2
// CHECK: llvm.intr.log2
// CHECK-LABEL: llvm.func @_mlir_ciface_attn(
func.func @attn(%q: memref<?x4x64xbf16>, %k: memref<?x1x64xbf16>,
                %v: memref<?x1x64xbf16>, %cu: memref<?xi32>,
                %out: memref<?x4x64xbf16>, %lse: memref<4x?xf32>)
    attributes {llvm.emit_c_interface} {
  %qt = bufferization.to_tensor %q restrict : memref<?x4x64xbf16> to tensor<?x4x64xbf16>
  %kt = bufferization.to_tensor %k restrict : memref<?x1x64xbf16> to tensor<?x1x64xbf16>
  %vt = bufferization.to_tensor %v restrict : memref<?x1x64xbf16> to tensor<?x1x64xbf16>
  %ct = bufferization.to_tensor %cu restrict : memref<?xi32> to tensor<?xi32>
  %o, %l = attn.attention %qt, %kt, %vt, %ct {mask = #attn.mask<document, causal>}
      : tensor<?x4x64xbf16>, tensor<?x1x64xbf16>, tensor<?x1x64xbf16>,
        tensor<?xi32> -> tensor<?x4x64xbf16>, tensor<4x?xf32>
  bufferization.materialize_in_destination %o in restrict writable %out
      : (tensor<?x4x64xbf16>, memref<?x4x64xbf16>) -> ()
  bufferization.materialize_in_destination %l in restrict writable %lse
      : (tensor<4x?xf32>, memref<4x?xf32>) -> ()
  return
}
