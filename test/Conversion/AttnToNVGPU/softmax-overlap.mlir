// RUN: attn-opt %s -attn-gpu-tile-attention='mma=wgmma schedule=softmax-overlap' | FileCheck %s

// The software-pipelined key loop of the wgmma flavour: iteration j issues
// S_j = Q K_j^T and O = alpha_{j-1} O + P_{j-1} V_{j-1}, waits for S_j
// only, and computes the mask and softmax of tile j while that P V runs.
// CHECK-LABEL: gpu.func @attn
// CHECK: %[[Q:view[_0-9]*]] = memref.view
// CHECK: %[[K:view[_0-9]*]] = memref.view
// CHECK: %[[V:view[_0-9]*]] = memref.view
// The prologue copies Q, then only K of the first tile, and does not wait.
// CHECK: nvgpu.device_async_copy {{.*}}, %[[Q]][
// CHECK: nvvm.cp.async.commit.group
// CHECK: %[[B:[^,]*]], %{{[^,]*}}, %{{[^,]*}}, %[[E:[^,]*]], %{{[^,]*}}, %{{[^,]*}} = attn.key_tile_range
// CHECK: %[[ANY:.*]] = arith.cmpi slt, %[[B]], %[[E]]
// CHECK: scf.if %[[ANY]] {
// CHECK-NOT: %[[V]][
// CHECK: nvgpu.device_async_copy {{.*}}, %[[K]][
// CHECK-NOT: %[[V]][
// CHECK: nvvm.cp.async.commit.group
// CHECK-NOT: gpu.barrier
// CHECK: attn.row_interval
// CHECK-NOT: gpu.barrier
// CHECK: attn.row_interval
// The first tile, peeled: every copy waited for, K of the next tile and V
// of this one started, S, the mask (harmless on a full tile), the softmax;
// no P V yet.
// CHECK: scf.if %[[ANY]] -> (
// CHECK: nvvm.cp.async.wait.group 0
// CHECK-NEXT: nvvm.fence.proxy
// CHECK-NEXT: gpu.barrier
// CHECK: nvgpu.device_async_copy {{.*}}, %[[K]][
// CHECK: nvgpu.device_async_copy {{.*}}, %[[V]][
// CHECK: nvvm.cp.async.commit.group
// CHECK: nvvm.wgmma.fence.aligned
// CHECK-COUNT-8: nvvm.wgmma.mma_async
// CHECK-NEXT: nvvm.wgmma.commit.group.sync.aligned
// CHECK-NEXT: nvvm.wgmma.wait.group.sync.aligned 0
// CHECK-NOT: wgmma.mma_async.sync.aligned
// CHECK: arith.andi {{.*}} : i1
// CHECK-NOT: wgmma.mma_async.sync.aligned
// CHECK: ex2.approx
// CHECK-NOT: wgmma.mma_async.sync.aligned
// CHECK: scf.yield
// CHECK: else
// The loops start at the second tile.
// CHECK: %[[SECOND:.*]] = arith.addi %[[B]], %{{.*}} : index
// CHECK: scf.for %{{.*}} = %[[SECOND]] to
// One barrier per key tile, after every copy landed.
// CHECK: nvvm.cp.async.wait.group 0
// CHECK-NEXT: nvvm.fence.proxy
// CHECK-NEXT: gpu.barrier
// CHECK: nvgpu.device_async_copy {{.*}}, %[[K]][
// CHECK: nvgpu.device_async_copy {{.*}}, %[[V]][
// CHECK: nvvm.cp.async.commit.group
// S_j; O rescaled by tile j - 1's factor while it runs; then
// P_{j-1} V_{j-1} from the other stage: two groups.
// CHECK: nvvm.wgmma.fence.aligned
// CHECK-COUNT-8: nvvm.wgmma.mma_async
// CHECK-NEXT: nvvm.wgmma.commit.group.sync.aligned
// CHECK: arith.mulf
// CHECK: nvvm.wgmma.fence.aligned
// CHECK-COUNT-8: llvm.inline_asm has_side_effects {{.*}}wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {{.*}}, p, 1, 1, 1;
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// Wait for S_j only; its registers pass a fence before any use.
// CHECK-NEXT: nvvm.wgmma.wait.group.sync.aligned 1
// CHECK: llvm.inline_asm has_side_effects asm_dialect = att "", "=f,
// Mask and softmax (f32, in S's registers) while the P V runs; P_j is not
// packed yet.
// CHECK: arith.andi {{.*}} : i1
// CHECK-NOT: arith.truncf
// CHECK: ex2.approx
// CHECK-NOT: arith.truncf
// Then wait for it: P_{j-1} stays in its registers until here, and P_j is
// packed into A-operand registers only now.
// CHECK: nvvm.wgmma.wait.group.sync.aligned 0
// CHECK-NEXT: llvm.inline_asm has_side_effects asm_dialect = att "", "=r,
// CHECK: llvm.inline_asm has_side_effects asm_dialect = att "", "=f,
// CHECK-NOT: gpu.barrier
// CHECK: arith.truncf {{.*}} : vector<2xf32> to vector<2xbf16>
// CHECK-NOT: gpu.barrier
// CHECK: scf.yield
// Full tiles: no mask.
// CHECK: %[[FULL:.*]] = arith.maxsi %{{.*}}, %[[SECOND]] : index
// CHECK: scf.for %{{.*}} = %[[FULL]] to
// CHECK-NOT: arith.andi {{.*}} : i1
// CHECK: nvvm.wgmma.wait.group.sync.aligned 1
// CHECK-NOT: arith.andi {{.*}} : i1
// CHECK: scf.yield
// CHECK: scf.for %{{.*}} to %[[E]] step
// CHECK: arith.andi {{.*}} : i1
// CHECK: scf.yield
// The last tile's P V, after the loops (O rescaled first).
// CHECK: scf.if %[[ANY]] -> (
// CHECK: nvvm.cp.async.wait.group 0
// CHECK-NEXT: nvvm.fence.proxy
// CHECK-NEXT: gpu.barrier
// CHECK: arith.mulf
// CHECK: nvvm.wgmma.fence.aligned
// CHECK-COUNT-8: llvm.inline_asm has_side_effects {{.*}}wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK-NEXT: nvvm.wgmma.wait.group.sync.aligned 0
// CHECK: scf.yield
// With no key tile the Q copy is still pending: waited for before the end.
// CHECK: nvvm.cp.async.wait.group 0
// CHECK: vector.store {{.*}} : memref<?x16x128xbf16>, vector<2xbf16>
// CHECK: memref.store {{.*}} : memref<16x?xf32>
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
