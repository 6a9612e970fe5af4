// RUN: attn-opt %s -attn-gpu-tile-attention='mma=wgmma schedule=warp-specialized loads=tma' | FileCheck %s

// TMA loads: the kernel takes the tensor maps of Q, K and V as three more
// arguments (marked for attn-nvvm-tensor-map-args); the stages' and Q's
// full barriers count one arrival (the TMA thread's expect_tx), and one
// producer thread loads every tile as 64-column boxes into the swizzled
// stages, 128 rows x 128 bytes each, completing the barrier's bytes.
// CHECK-LABEL: gpu.func @attn
// CHECK-SAME: %[[QM:[^:]*]]: !llvm.ptr, %[[KM:[^:]*]]: !llvm.ptr, %[[VM:[^:]*]]: !llvm.ptr) kernel
// CHECK-SAME: attn.tensor_map_args = 3 : i64
// CHECK-SAME: known_block_size = array<i32: 384, 1, 1>
// CHECK-COUNT-2: "mbarrier.init.shared::cta.b64 [$0], 1;"
// CHECK-COUNT-2: "mbarrier.init.shared::cta.b64 [$0], 8;"
// CHECK-COUNT-2: "mbarrier.init.shared::cta.b64 [$0], 1;"
// CHECK-COUNT-2: "mbarrier.init.shared::cta.b64 [$0], 8;"
// CHECK: "mbarrier.init.shared::cta.b64 [$0], 1;"
// CHECK-NEXT: "fence.mbarrier_init.release.cluster;"
// CHECK: gpu.barrier
// The producer warpgroup: its first thread only, no cp.async.
// CHECK: nvvm.setmaxregister decrease 56
// CHECK: %[[FIRST:.*]] = arith.cmpi eq, %{{.*}}, %c256 : index
// CHECK-NEXT: scf.if %[[FIRST]] {
// CHECK-NOT: nvgpu.device_async_copy
// Q: 128 rows x 2 boxes of 128 bytes.
// CHECK: "mbarrier.arrive.expect_tx.shared::cta.b64 _, [$0], 32768;"
// CHECK: llvm.inline_asm has_side_effects asm_dialect = att "cp.async.bulk.tensor.3d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [$0], [$1, {$2, $3, $4}], [$5];", "r,l,r,r,r,r" %{{.*}}, %[[QM]], %c0_i32{{[_0-9]*}},
// CHECK: "cp.async.bulk.tensor.3d{{.*}}" %{{.*}}, %[[QM]], %c64_i32{{[_0-9]*}},
// Each key tile: K and V after their stage's empty wait.
// CHECK: scf.for
// CHECK: mbarrier.try_wait.parity
// CHECK: "mbarrier.arrive.expect_tx.shared::cta.b64 _, [$0], 32768;"
// CHECK: "cp.async.bulk.tensor.3d{{.*}}" %{{.*}}, %[[KM]], %c0_i32{{[_0-9]*}},
// CHECK: "cp.async.bulk.tensor.3d{{.*}}" %{{.*}}, %[[KM]], %c64_i32{{[_0-9]*}},
// CHECK: mbarrier.try_wait.parity
// CHECK: "mbarrier.arrive.expect_tx.shared::cta.b64 _, [$0], 32768;"
// CHECK: "cp.async.bulk.tensor.3d{{.*}}" %{{.*}}, %[[VM]], %c0_i32{{[_0-9]*}},
// CHECK: "cp.async.bulk.tensor.3d{{.*}}" %{{.*}}, %[[VM]], %c64_i32{{[_0-9]*}},
// CHECK-NOT: nvvm.cp.async.wait.group
// The compute warpgroups: no proxy fence after a stage's wait (TMA
// writes through the async proxy the tensor cores read).
// CHECK: } else {
// CHECK: nvvm.setmaxregister increase 224
// CHECK-NOT: nvvm.fence.proxy
// CHECK: gpu.return

module attributes {gpu.container_module} {
  gpu.module @attn_kernels [#nvvm.target<chip = "sm_90a">] {
    gpu.func @attn(%q: memref<?x16x128xbf16>, %k: memref<?x16x128xbf16>,
                   %v: memref<?x16x128xbf16>, %cu: memref<?xi32>,
                   %out: memref<?x16x128xbf16>, %lse: memref<16x?xf32>) kernel {
      %qt = bufferization.to_tensor %q restrict : memref<?x16x128xbf16> to tensor<?x16x128xbf16>
      %kt = bufferization.to_tensor %k restrict : memref<?x16x128xbf16> to tensor<?x16x128xbf16>
      %vt = bufferization.to_tensor %v restrict : memref<?x16x128xbf16> to tensor<?x16x128xbf16>
      %ct = bufferization.to_tensor %cu restrict : memref<?xi32> to tensor<?xi32>
      %o, %l = attn.attention %qt, %kt, %vt, %ct {mask = #attn.mask<document, causal>}
          : tensor<?x16x128xbf16>, tensor<?x16x128xbf16>, tensor<?x16x128xbf16>,
            tensor<?xi32> -> tensor<?x16x128xbf16>, tensor<16x?xf32>
      bufferization.materialize_in_destination %o in restrict writable %out
          : (tensor<?x16x128xbf16>, memref<?x16x128xbf16>) -> ()
      bufferization.materialize_in_destination %l in restrict writable %lse
          : (tensor<16x?xf32>, memref<16x?xf32>) -> ()
      gpu.return
    }
  }
}
