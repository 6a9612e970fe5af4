// RUN: attn-opt %s -attn-gpu-tile-attention | FileCheck %s
// RUN: attn-opt %s -attn-gpu-tile-attention='mma=wgmma schedule=warp-specialized-pingpong grid=dynamic loads=tma stores=tma' | FileCheck %s --check-prefix=ANY-FLAVOUR

// attn.attention_grad in a gpu.func kernel becomes the backward kernel:
// blocks of key items (the query tiles attn.query_tile_range names, masked
// by each key's attn.col_interval) then query items (attn.key_tile_range,
// attn.row_interval), each product an mma.sync, dq, dk and dv stored; its
// launch contract says "backward", 128 threads, 64-row tiles, one column
// part (head dims up to 128).

// CHECK: attn.launch = {"attn_kernels::attn_grad" = {arch = "sm_80", block_k = 64 : i64, block_q = 64 : i64, column_parts = 1 : i64, direction = "backward", dtype = "bf16", grid = "tiles", head_dim = 64 : i64, heads = 4 : i64, kernel = "attn_grad", kv_heads = 2 : i64, loads = "cp.async", mask = "document,causal", mma = "mma-sync", scale = 1.250000e-01 : f64, schedule = "plain", shared_bytes = 37376 : i64, stores = "st.global", threads = 128 : i64, value_dim = 64 : i64}}
// CHECK-LABEL: gpu.func @attn_grad
// CHECK-SAME: known_block_size = array<i32: 128, 1, 1>
// CHECK: gpu.dynamic_shared_memory
// CHECK: scf.if
// CHECK: attn.query_tile_range
// CHECK: attn.col_interval
// CHECK: attn.col_interval
// CHECK: scf.for
// CHECK: nvgpu.device_async_copy
// CHECK: nvvm.mma.sync
// CHECK: } else {
// CHECK: attn.key_tile_range
// CHECK: attn.row_interval
// CHECK: attn.row_interval
// CHECK: nvvm.mma.sync
// CHECK-NOT: attn.attention_grad
// CHECK-NOT: bufferization.materialize_in_destination
// CHECK: gpu.return

// The backward has one flavour, whatever the forward's options.
// ANY-FLAVOUR: mma = "mma-sync"
// ANY-FLAVOUR-SAME: threads = 128

module attributes {gpu.container_module} {
  gpu.module @attn_kernels [#nvvm.target<chip = "sm_80">] {
    gpu.func @attn_grad(%arg0: memref<?x4x64xbf16>, %arg1: memref<?x2x64xbf16>, %arg2: memref<?x2x64xbf16>, %arg3: memref<?xi32>, %arg4: memref<?x4x64xbf16>, %arg5: memref<4x?xf32>, %arg6: memref<?x4x64xbf16>, %arg7: memref<?x4x64xbf16>, %arg8: memref<?x2x64xbf16>, %arg9: memref<?x2x64xbf16>) kernel {
      %0 = bufferization.to_tensor %arg0 restrict : memref<?x4x64xbf16> to tensor<?x4x64xbf16>
      %1 = bufferization.to_tensor %arg1 restrict : memref<?x2x64xbf16> to tensor<?x2x64xbf16>
      %2 = bufferization.to_tensor %arg2 restrict : memref<?x2x64xbf16> to tensor<?x2x64xbf16>
      %3 = bufferization.to_tensor %arg3 restrict : memref<?xi32> to tensor<?xi32>
      %4 = bufferization.to_tensor %arg4 restrict : memref<?x4x64xbf16> to tensor<?x4x64xbf16>
      %5 = bufferization.to_tensor %arg5 restrict : memref<4x?xf32> to tensor<4x?xf32>
      %6 = bufferization.to_tensor %arg6 restrict : memref<?x4x64xbf16> to tensor<?x4x64xbf16>
      %dq, %dk, %dv = attn.attention_grad %0, %1, %2, %4, %6, %5, %3 {mask = #attn.mask<document, causal>} : tensor<?x4x64xbf16>, tensor<?x2x64xbf16>, tensor<?x2x64xbf16>, tensor<?x4x64xbf16>, tensor<?x4x64xbf16>, tensor<4x?xf32>, tensor<?xi32> -> tensor<?x4x64xbf16>, tensor<?x2x64xbf16>, tensor<?x2x64xbf16>
      bufferization.materialize_in_destination %dq in restrict writable %arg7 : (tensor<?x4x64xbf16>, memref<?x4x64xbf16>) -> ()
      bufferization.materialize_in_destination %dk in restrict writable %arg8 : (tensor<?x2x64xbf16>, memref<?x2x64xbf16>) -> ()
      bufferization.materialize_in_destination %dv in restrict writable %arg9 : (tensor<?x2x64xbf16>, memref<?x2x64xbf16>) -> ()
      gpu.return
    }
  }
}
