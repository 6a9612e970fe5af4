// RUN: attn-opt %s -attn-gpu-tile-attention='mma=wgmma' -split-input-file | FileCheck %s

// The sm_90a flavour: two warpgroups, K-major Q and K and MN-major V in
// 128-byte-swizzled shared memory, read by wgmma through descriptors.
// CHECK-LABEL: gpu.func @attn
// CHECK-SAME: known_block_size = array<i32: 256, 1, 1>
// CHECK: %[[SMEM:.*]] = gpu.dynamic_shared_memory
// Tiles start on a 1024-byte boundary (the swizzle reads address bits 4-9).
// CHECK: %[[BASE:.*]] = memref.extract_aligned_pointer_as_index %[[SMEM]]
// CHECK: arith.remui %[[BASE]], %c1024
// Q (128 rows), then two stages of K and of V (128 keys each), unpadded,
// as 16-byte units.
// CHECK: memref.view %[[SMEM]]{{.*}} to memref<2048x8xbf16, #gpu.address_space<workgroup>>
// CHECK: memref.view %[[SMEM]]{{.*}} to memref<4096x8xbf16, #gpu.address_space<workgroup>>
// CHECK: memref.view %[[SMEM]]{{.*}} to memref<4096x8xbf16, #gpu.address_space<workgroup>>
// A tile whose rows are all below T is copied without bounds checks; one
// reaching past T zero-fills those rows (source size 0).
// CHECK: %[[WHOLE:.*]] = arith.cmpi sle, %{{.*}}, %{{.*}} : index
// CHECK-NEXT: scf.if %[[WHOLE]] {
// The unit u of row r lands at u ^ (r % 8).
// CHECK: arith.xori %{{.*}}, %{{.*}} : index
// CHECK: nvgpu.device_async_copy {{.*}}, 8 {bypassL1} : {{.*}} to memref<2048x8xbf16, #gpu.address_space<workgroup>>
// CHECK: } else {
// CHECK: nvgpu.device_async_copy {{.*}}, 8, %{{.*}} {bypassL1} : {{.*}} to memref<2048x8xbf16, #gpu.address_space<workgroup>>
// CHECK: %[[B:[^,]*]], %{{[^,]*}}, %{{[^,]*}}, %[[E:[^,]*]], %{{[^,]*}}, %{{[^,]*}} = attn.key_tile_range {{.*}} {block_k = 128 : i64
// CHECK: nvgpu.device_async_copy {{.*}} to memref<4096x8xbf16, #gpu.address_space<workgroup>>
// Copies are made visible to the tensor cores (async proxy) before the
// barrier.
// CHECK: nvvm.cp.async.wait.group 1
// CHECK-NEXT: nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>, space = #nvvm.shared_space<cta>}
// CHECK-NEXT: gpu.barrier
// CHECK: attn.row_interval
// First loop: partial tiles.
// CHECK: scf.for %{{.*}} = %[[B]] to
// CHECK: nvvm.fence.proxy
// Descriptor fields of K-major Q and K: stride 1024 B, leading 16 B,
// 128-byte swizzle.
// CHECK: arith.constant 4611686293305360384 : i64
// S = Q K^T: eight k-steps of m64n128k16, the first one not accumulating.
// CHECK: nvvm.wgmma.fence.aligned
// CHECK-NEXT: nvvm.wgmma.mma_async {{.*}}, <m = 64, n = 128, k = 16>, D[<f32>, <zero>], A[<bf16>, <one>, <row>], B[<bf16>, <one>, <col>]
// CHECK-COUNT-7: nvvm.wgmma.mma_async {{.*}}, <m = 64, n = 128, k = 16>, D[<f32>, <one>], A[<bf16>, <one>, <row>], B[<bf16>, <one>, <col>]
// CHECK-NEXT: nvvm.wgmma.commit.group.sync.aligned
// CHECK-NEXT: nvvm.wgmma.wait.group.sync.aligned 0
// The mask, in partial tiles only.
// CHECK: arith.andi {{.*}} : i1
// CHECK: ex2.approx
// O += P V: P from registers, V transposed (imm-trans-b = 1), eight 16-key
// steps of m64n128k16. V is MN-major: leading offset one 128-key column
// block, stride 1024 B.
// CHECK: arith.constant 4611686293372403712 : i64
// CHECK: arith.truncf %{{.*}} : vector<2xf32> to vector<2xbf16>
// CHECK: nvvm.wgmma.fence.aligned
// CHECK-COUNT-8: llvm.inline_asm has_side_effects {{.*}}wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {{.*}}, p, 1, 1, 1;
// CHECK-NEXT: llvm.extractvalue
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK-NEXT: nvvm.wgmma.wait.group.sync.aligned 0
// CHECK: gpu.barrier
// Second loop: full tiles, no mask.
// CHECK: scf.for
// CHECK-NOT: arith.andi {{.*}} : i1
// CHECK-NOT: attn.row_interval
// CHECK: nvvm.wgmma.mma_async
// CHECK-NOT: arith.andi {{.*}} : i1
// CHECK: llvm.inline_asm
// CHECK-NOT: arith.andi {{.*}} : i1
// CHECK: gpu.barrier
// CHECK-NEXT: scf.yield
// Third loop: partial tiles again.
// CHECK: scf.for %{{.*}} = %{{.*}} to %[[E]] step
// CHECK: arith.andi {{.*}} : i1
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

// -----

// f16, D = 64, GQA 8/2: S is m64n128k16 over four k-steps, O += P V is
// m64n64k16; operands are bitcast to 32-bit registers.
// CHECK-LABEL: gpu.func @attn_f16
// CHECK: memref.view {{.*}} to memref<1024x8xf16, #gpu.address_space<workgroup>>
// CHECK: memref.view {{.*}} to memref<2048x8xf16, #gpu.address_space<workgroup>>
// CHECK: nvvm.wgmma.fence.aligned
// CHECK-NEXT: nvvm.wgmma.mma_async {{.*}}, <m = 64, n = 128, k = 16>, D[<f32>, <zero>], A[<f16>, <one>, <row>], B[<f16>, <one>, <col>]
// CHECK-COUNT-3: nvvm.wgmma.mma_async {{.*}} D[<f32>, <one>]
// CHECK-NEXT: nvvm.wgmma.commit.group.sync.aligned
// CHECK: llvm.bitcast %{{.*}} : vector<2xf16> to i32
// CHECK: llvm.inline_asm has_side_effects {{.*}}wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16
module attributes {gpu.container_module} {
  gpu.module @attn_kernels {
    gpu.func @attn_f16(%q: memref<?x8x64xf16>, %k: memref<?x2x64xf16>,
                       %v: memref<?x2x64xf16>, %cu: memref<?xi32>,
                       %out: memref<?x8x64xf16>, %lse: memref<8x?xf32>) kernel {
      %qt = bufferization.to_tensor %q restrict : memref<?x8x64xf16> to tensor<?x8x64xf16>
      %kt = bufferization.to_tensor %k restrict : memref<?x2x64xf16> to tensor<?x2x64xf16>
      %vt = bufferization.to_tensor %v restrict : memref<?x2x64xf16> to tensor<?x2x64xf16>
      %ct = bufferization.to_tensor %cu restrict : memref<?xi32> to tensor<?xi32>
      %o, %l = attn.attention %qt, %kt, %vt, %ct {mask = #attn.mask<document, causal, window = 100>}
          : tensor<?x8x64xf16>, tensor<?x2x64xf16>, tensor<?x2x64xf16>,
            tensor<?xi32> -> tensor<?x8x64xf16>, tensor<8x?xf32>
      bufferization.materialize_in_destination %o in restrict writable %out
          : (tensor<?x8x64xf16>, memref<?x8x64xf16>) -> ()
      bufferization.materialize_in_destination %l in restrict writable %lse
          : (tensor<8x?xf32>, memref<8x?xf32>) -> ()
      gpu.return
    }
  }
}
