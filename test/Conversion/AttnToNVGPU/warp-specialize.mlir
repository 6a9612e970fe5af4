// RUN: attn-opt %s -attn-gpu-tile-attention='mma=wgmma schedule=warp-specialized' | FileCheck %s

// Warp specialization of the software-pipelined wgmma loop: a producer
// warpgroup (the third) copies Q and the K/V tiles and signals mbarriers;
// the two compute warpgroups wait on them and hand the stages back; no
// block barrier in the key loop.
// CHECK-LABEL: gpu.func @attn
// CHECK-SAME: known_block_size = array<i32: 384, 1, 1>
// CHECK-SAME: nvvm.minctasm = 1 : i32
// Thread 0 initializes the nine mbarriers (full: 128 producer threads;
// empty: 8 compute warps), then one block barrier publishes them.
// CHECK: scf.if
// CHECK-COUNT-2: "mbarrier.init.shared::cta.b64 [$0], 128;"
// CHECK-COUNT-2: "mbarrier.init.shared::cta.b64 [$0], 8;"
// CHECK-COUNT-2: "mbarrier.init.shared::cta.b64 [$0], 128;"
// CHECK-COUNT-2: "mbarrier.init.shared::cta.b64 [$0], 8;"
// CHECK: "mbarrier.init.shared::cta.b64 [$0], 128;"
// CHECK: gpu.barrier
// CHECK: %[[B:[^,]*]], %{{[^,]*}}, %{{[^,]*}}, %[[E:[^,]*]], %{{[^,]*}}, %{{[^,]*}} = attn.key_tile_range
// CHECK-NOT: gpu.barrier
// The producer: fewer registers, Q, then per key tile: wait until the
// stage is empty, copy, arrive on its full barrier once the copies land.
// CHECK: scf.if
// CHECK-NEXT: nvvm.setmaxregister decrease 56
// CHECK: nvgpu.device_async_copy %arg0
// CHECK: "cp.async.mbarrier.arrive.noinc.shared::cta.b64 [$0];"
// CHECK: scf.for %{{.*}} = %[[B]] to %[[E]]
// CHECK: scf.while
// CHECK: mbarrier.try_wait.parity.shared::cta.b64
// CHECK: nvgpu.device_async_copy %arg1
// CHECK: "cp.async.mbarrier.arrive.noinc.shared::cta.b64 [$0];"
// CHECK: scf.while
// CHECK: mbarrier.try_wait.parity.shared::cta.b64
// CHECK: nvgpu.device_async_copy %arg2
// CHECK: "cp.async.mbarrier.arrive.noinc.shared::cta.b64 [$0];"
// It leaves with no copy in flight.
// CHECK: nvvm.cp.async.commit.group
// CHECK-NEXT: nvvm.cp.async.wait.group 0
// The compute warpgroups: more registers, no copies of their own.
// CHECK: } else {
// CHECK-NEXT: nvvm.setmaxregister increase 224
// CHECK-NOT: nvgpu.device_async_copy
// CHECK-NOT: gpu.barrier
// CHECK: attn.row_interval
// The first tile: wait for Q and K, proxy fence, S; K handed back.
// CHECK: mbarrier.try_wait.parity.shared::cta.b64
// CHECK: mbarrier.try_wait.parity.shared::cta.b64
// CHECK: nvvm.fence.proxy
// CHECK: nvvm.wgmma.wait.group.sync.aligned 0
// CHECK: "mbarrier.arrive.shared::cta.b64 _, [$0];"
// Each loop iteration: wait for K_j, issue S_j; wait for V_{j-1}, issue
// P V; K_j handed back once S_j is done, V_{j-1} once the P V is.
// CHECK: scf.for
// CHECK: mbarrier.try_wait.parity.shared::cta.b64
// CHECK: nvvm.fence.proxy
// CHECK-COUNT-8: nvvm.wgmma.mma_async
// CHECK: mbarrier.try_wait.parity.shared::cta.b64
// CHECK: nvvm.fence.proxy
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK-NEXT: nvvm.wgmma.wait.group.sync.aligned 1
// CHECK: "mbarrier.arrive.shared::cta.b64 _, [$0];"
// CHECK: nvvm.wgmma.wait.group.sync.aligned 0
// CHECK: "mbarrier.arrive.shared::cta.b64 _, [$0];"
// CHECK-NOT: gpu.barrier
// CHECK: scf.yield
// CHECK-NOT: gpu.barrier
// CHECK-NOT: nvgpu.device_async_copy
// CHECK: vector.store {{.*}} : memref<?x16x128xbf16>, vector<2xbf16>
// CHECK-NOT: attn.attention
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
