// RUN: attn-opt %s -attn-gpu-tile-attention | FileCheck %s
// RUN: attn-opt %s -attn-gpu-tile-attention='deterministic=true' | FileCheck %s --check-prefix=DET
// RUN: sed 's/sm_80/sm_90a/' %s | attn-opt -attn-gpu-tile-attention | FileCheck %s --check-prefix=WGMMA
// RUN: sed 's/sm_80/sm_90a/' %s | attn-opt -attn-gpu-tile-attention='mma=wgmma schedule=warp-specialized-pingpong grid=dynamic loads=tma stores=tma' | FileCheck %s --check-prefix=ANY-FLAVOUR
// RUN: sed 's/sm_80/sm_90a/' %s | attn-opt -attn-gpu-tile-attention='mma=mma-sync' | FileCheck %s --check-prefix=MMA-SYNC

// attn.attention_grad in a gpu.func kernel becomes the backward kernel:
// key items (the query tiles attn.query_tile_range names, masked by each
// key's attn.col_interval), each product an mma.sync, dk and dv stored.
// dq by default with atomics: each key item writes its warps' dS^T to
// shared memory and, after a barrier, adds dQ = dS K (dS read transposed)
// into the f32 accumulator, the kernel's new last argument; a second
// kernel, @attn_grad_dq, scales and converts it into dq. Its launch
// contract says "backward", "atomic", 128 threads, 64-row tiles, one
// column part (head dims up to 128), and names the dq kernel.

// CHECK: attn.launch = {"attn_kernels::attn_grad" = {arch = "sm_80", block_k = 64 : i64, block_q = 64 : i64, column_parts = 1 : i64, direction = "backward", dq = "atomic", dq_kernel = "attn_grad_dq", dq_threads = 256 : i64, dtype = "bf16", grid = "tiles", head_dim = 64 : i64, heads = 4 : i64, kernel = "attn_grad", kv_heads = 2 : i64, loads = "cp.async", mask = "document,causal", mma = "mma-sync", scale = 1.250000e-01 : f64, schedule = "plain", shared_bytes = 46592 : i64, stores = "st.global", threads = 128 : i64, value_dim = 64 : i64}}
// CHECK-LABEL: gpu.func @attn_grad(
// CHECK-SAME: %arg9: memref<?x2x64xbf16>, %arg10: memref<?x4x64xf32>)
// CHECK-SAME: known_block_size = array<i32: 128, 1, 1>
// CHECK: gpu.dynamic_shared_memory
// CHECK-NOT: scf.if {{.*}} -> (
// CHECK: attn.query_tile_range
// CHECK: attn.col_interval
// CHECK: attn.col_interval
// CHECK: scf.for
// CHECK: nvgpu.device_async_copy
// CHECK: nvvm.mma.sync
// CHECK: vector.store {{.*}} : memref<64x72xbf16, #gpu.address_space<workgroup>>, vector<2xbf16>
// CHECK: gpu.barrier
// CHECK: nvgpu.ldmatrix {{.*}} {numTiles = 4 : i32, transpose = true} : memref<64x72xbf16
// CHECK: memref.atomic_rmw addf {{.*}}, %arg10[
// CHECK-NOT: attn.key_tile_range
// CHECK-NOT: attn.attention_grad
// CHECK-NOT: bufferization.materialize_in_destination
// CHECK: gpu.return
// CHECK-LABEL: gpu.func @attn_grad_dq(%arg0: memref<?x4x64xf32>, %arg1: memref<?x4x64xbf16>) kernel
// CHECK-SAME: known_block_size = array<i32: 256, 1, 1>
// CHECK: vector.load %arg0[{{.*}}] {alignment = 8 : i64} : memref<?x4x64xf32>, vector<2xf32>
// CHECK: arith.mulf {{.*}} : vector<2xf32>
// CHECK: arith.truncf {{.*}} : vector<2xf32> to vector<2xbf16>
// CHECK: vector.store {{.*}}, %arg1[{{.*}}] {alignment = 4 : i64}
// CHECK: gpu.return

// deterministic: blocks of key items, then query items (attn.key_tile_range,
// attn.row_interval) that compute dq = dS K themselves: no atomics, no
// accumulator, no dS^T tile, no second kernel.
// DET: attn.launch = {"attn_kernels::attn_grad" = {{{.*}}direction = "backward", dq = "query-items", dtype
// DET-SAME: shared_bytes = 37376 : i64
// DET-LABEL: gpu.func @attn_grad(
// DET-SAME: %arg9: memref<?x2x64xbf16>)
// DET-NOT: memref.atomic_rmw
// DET: scf.if
// DET: attn.query_tile_range
// DET: nvvm.mma.sync
// DET: } else {
// DET: attn.key_tile_range
// DET: attn.row_interval
// DET: attn.row_interval
// DET: nvvm.mma.sync
// DET-NOT: memref.atomic_rmw
// DET: gpu.return
// DET-NOT: gpu.func

// On sm_90a (mma=auto) the same kernel on wgmma: one warpgroup, tiles in
// 128-byte-swizzled shared memory (16-byte units, 1024-byte aligned).
// S^T = K Q^T and dP^T = V dO^T with both operands K-major from shared
// memory; dV += P^T dO and dK += dS^T Q with A from registers (inline
// wgmma) and B MN-major; each warp's dS^T stored, made visible to the
// tensor cores (fence.proxy.async) and, after a barrier, read as the
// transposed (MN-major, <col>) A of dQ = dS K, added with atomics.
// WGMMA: attn.launch = {"attn_kernels::attn_grad" = {arch = "sm_90a", {{.*}}dq = "atomic"{{.*}}mma = "wgmma"{{.*}}schedule = "plain", shared_bytes = 43008 : i64, stores = "st.global", threads = 128 : i64
// WGMMA-LABEL: gpu.func @attn_grad(
// WGMMA-SAME: known_block_size = array<i32: 128, 1, 1>
// WGMMA: nvgpu.device_async_copy {{.*}} : memref<?x2x64xbf16> to memref<512x8xbf16, #gpu.address_space<workgroup>>
// WGMMA: attn.query_tile_range
// WGMMA: nvvm.wgmma.mma_async {{.*}}, <m = 64, n = 64, k = 16>, D[<f32>, <zero>], A[<bf16>, <one>, <row>], B[<bf16>, <one>, <col>]
// WGMMA: nvvm.wgmma.mma_async {{.*}}, <m = 64, n = 64, k = 16>, D[<f32>, <zero>], A[<bf16>, <one>, <row>], B[<bf16>, <one>, <col>]
// WGMMA: wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16
// WGMMA: vector.store {{.*}} {alignment = 4 : i64} : memref<512x8xbf16, #gpu.address_space<workgroup>>, vector<2xbf16>
// WGMMA: nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>
// WGMMA-NEXT: gpu.barrier
// WGMMA: wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16
// WGMMA: nvvm.wgmma.mma_async {{.*}}, <m = 64, n = 64, k = 16>, D[<f32>, <zero>], A[<bf16>, <one>, <col>], B[<bf16>, <one>, <row>]
// WGMMA: memref.atomic_rmw addf {{.*}}, %arg10[
// WGMMA-NOT: nvvm.mma.sync
// WGMMA-NOT: nvgpu.ldmatrix
// WGMMA: gpu.return
// WGMMA-LABEL: gpu.func @attn_grad_dq(

// The backward takes the tensor core from the options (mma) and ignores
// the forward's schedule (key loop, grid, loads, stores).
// ANY-FLAVOUR: attn.launch = {{.*}}"attn_kernels::attn_grad" = {{{.*}}grid = "tiles"{{.*}}loads = "cp.async"{{.*}}mma = "wgmma", {{.*}}schedule = "plain"{{.*}}threads = 128
// MMA-SYNC: attn.launch = {"attn_kernels::attn_grad" = {arch = "sm_90a", {{.*}}mma = "mma-sync"{{.*}}threads = 128
// MMA-SYNC: nvvm.mma.sync

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
