// RUN: attn-opt %s -attn-gpu-tile-attention='mma=wgmma schedule=warp-specialized-pingpong' | FileCheck %s

// The warpgroup ping-pong of the warp-specialized loop: compute warpgroup
// w (thread / 128) waits on named barrier 1 + w before it issues a key
// tile's S and P V, and arrives on the other's (2 - w) once they are
// issued; warpgroup 0 arrives on its own first. 256 threads each: the
// waiting warpgroup and the one passing the turn.
// CHECK-LABEL: gpu.func @attn
// CHECK-SAME: known_block_size = array<i32: 384, 1, 1>
// CHECK: nvvm.setmaxregister decrease 56
// CHECK-NOT: nvvm.barrier
// CHECK: nvvm.setmaxregister increase 224
// CHECK: %[[WG:.*]] = arith.divui %thread_id_x, %c128{{.*}} : index
// CHECK: %[[WG32:.*]] = arith.index_castui %[[WG]] : index to i32
// CHECK: %[[OWN:.*]] = arith.addi %[[WG32]], %c1_i32 : i32
// CHECK: %[[OTHER:.*]] = arith.subi %c2_i32, %[[WG32]] : i32
// CHECK: %[[FIRST:.*]] = arith.cmpi eq, %[[WG32]], %{{.*}} : i32
// CHECK: scf.if %[[FIRST]] {
// CHECK-NEXT: %[[N:.*]] = arith.constant 256 : i32
// CHECK-NEXT: nvvm.barrier.arrive id = %[[OWN]] number_of_threads = %[[N]]
// CHECK-NEXT: }
// The first tile takes no turn.
// CHECK-NOT: nvvm.barrier
// CHECK: nvvm.wgmma.wait.group.sync.aligned 0
// CHECK-NOT: nvvm.barrier
// Each loop (partial, full, partial): K_j's stage, then the turn, both
// products, the turn passed on, then the waits.
// CHECK-COUNT-3: scf.for
// CHECK: mbarrier.try_wait.parity.shared::cta.b64
// CHECK: nvvm.fence.proxy
// CHECK-NEXT: %[[N1:.*]] = arith.constant 256 : i32
// CHECK-NEXT: nvvm.barrier id = %[[OWN]] number_of_threads = %[[N1]]
// CHECK-NOT: nvvm.barrier
// CHECK-COUNT-8: nvvm.wgmma.mma_async
// CHECK: mbarrier.try_wait.parity.shared::cta.b64
// CHECK-COUNT-8: llvm.inline_asm has_side_effects {{.*}}wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK-NEXT: %[[N2:.*]] = arith.constant 256 : i32
// CHECK-NEXT: nvvm.barrier.arrive id = %[[OTHER]] number_of_threads = %[[N2]]
// CHECK-NEXT: nvvm.wgmma.wait.group.sync.aligned 1
// CHECK-NOT: nvvm.barrier
// CHECK: scf.yield
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
