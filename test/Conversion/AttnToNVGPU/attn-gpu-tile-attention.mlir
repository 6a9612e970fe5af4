// RUN: attn-opt %s -attn-gpu-tile-attention='mma=mma-sync' -split-input-file | FileCheck %s

// CHECK-LABEL: gpu.func @attn
// CHECK-SAME: known_block_size = array<i32: 128, 1, 1>
// Longest first: the block's place in launch order picks head i % 16 of
// query tile (tiles - 1 - i / 16).
// CHECK: %[[TILES:.*]] = arith.ceildivui %{{.*}}, %c128 : index
// CHECK: %[[BX:.*]] = gpu.block_id  x
// CHECK: %[[BX32:.*]] = arith.index_castui %[[BX]] : index to i32
// CHECK: %[[BY:.*]] = gpu.block_id  y
// CHECK: %[[BY32:.*]] = arith.index_castui %[[BY]] : index to i32
// CHECK: %[[GX:.*]] = gpu.grid_dim  x
// CHECK: %[[GX32:.*]] = arith.index_castui %[[GX]] : index to i32
// CHECK: %[[ROW:.*]] = arith.muli %[[BY32]], %[[GX32]] : i32
// CHECK: %[[I:.*]] = arith.addi %[[BX32]], %[[ROW]] : i32
// CHECK: arith.remui %[[I]], %c16{{.*}} : i32
// CHECK: %[[RANK32:.*]] = arith.divui %[[I]], %c16{{.*}} : i32
// CHECK: %[[RANK:.*]] = arith.index_castui %[[RANK32]] : i32 to index
// CHECK: %[[LAST:.*]] = arith.subi %[[TILES]], %c1
// CHECK: arith.subi %[[LAST]], %[[RANK]] : index
// CHECK: gpu.dynamic_shared_memory
// Q, then K and V in two stages each, padded rows.
// CHECK: memref.view {{.*}} to memref<128x136xbf16, #gpu.address_space<workgroup>>
// CHECK: memref.view {{.*}} to memref<2x64x136xbf16, #gpu.address_space<workgroup>>
// CHECK: memref.view {{.*}} to memref<2x64x136xbf16, #gpu.address_space<workgroup>>
// Q first (it needs no cu_seqlens), then the key-tile range, then the
// first K/V tile: asynchronous 16-byte copies, zero-filling rows past T
// (one checked path: no second path for whole tiles on mma.sync).
// CHECK-NOT: arith.cmpi sle
// CHECK: nvgpu.device_async_copy {{.*}}, 8, %{{.*}} {bypassL1}
// CHECK: nvvm.cp.async.commit.group
// CHECK: %[[B:[^,]*]], %[[FB:[^,]*]], %[[FE:[^,]*]], %[[E:[^,]*]], %[[D0:[^,]*]], %[[D1:[^,]*]] = attn.key_tile_range
// CHECK: nvgpu.device_async_copy
// CHECK: nvvm.cp.async.commit.group
// CHECK: nvvm.cp.async.wait.group 1
// The rows' key intervals, computed once, before the key-tile loops.
// CHECK: attn.row_interval {{.*}} within [%[[D0]], %[[D1]]]
// First loop: partial tiles.
// CHECK: scf.for %{{.*}} = %[[B]] to %{{.*}} step
// CHECK: nvgpu.ldmatrix {{.*}} {numTiles = 4 : i32, transpose = false}
// CHECK: nvvm.mma.sync {{.*}} multiplicandAPtxType = #nvvm.mma_type<bf16>
// CHECK: arith.andi
// CHECK: arith.select
// CHECK: gpu.shuffle  xor
// CHECK: nvvm.inline_ptx "ex2.approx.ftz.f32 $0, $1;"
// P goes from the S accumulators straight into A operands.
// CHECK: arith.truncf %{{.*}} : vector<2xf32> to vector<2xbf16>
// CHECK: nvgpu.ldmatrix {{.*}} {numTiles = 4 : i32, transpose = true}
// CHECK: nvvm.mma.sync
// CHECK: gpu.barrier
// Second loop: full tiles, with no mask operation at all.
// CHECK: scf.for %{{.*}} = %{{.*}} to %{{.*}} step
// CHECK-NOT: arith.andi
// CHECK-NOT: attn.row_interval
// CHECK: nvvm.mma.sync
// CHECK-NOT: arith.andi
// CHECK: ex2.approx
// CHECK-NOT: arith.andi
// CHECK: transpose = true
// CHECK-NOT: arith.andi
// CHECK: gpu.barrier
// CHECK-NEXT: scf.yield
// Third loop: partial tiles again.
// CHECK: scf.for %{{.*}} = %{{.*}} to %[[E]] step
// CHECK: arith.andi
// Epilogue: O / l and lse, rows past T not written.
// CHECK: lg2.approx
// CHECK: vector.store {{.*}} : memref<?x16x128xbf16>, vector<2xbf16>
// CHECK: memref.store {{.*}} : memref<16x?xf32>
// CHECK-NOT: attn.attention
// CHECK-NOT: materialize_in_destination
module attributes {gpu.container_module} {
  gpu.module @attn_kernels {
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

// f16 operands go to mma.sync as vector<2xf16>; GQA reads K/V head h / 4.
// CHECK-LABEL: gpu.func @attn_f16
// CHECK: %[[H32:.*]] = arith.remui %{{.*}}, %c8{{.*}} : i32
// CHECK: %[[H:.*]] = arith.index_castui %[[H32]] : i32 to index
// CHECK: arith.divui %[[H]], %c4{{.*}} : index
// CHECK: nvvm.mma.sync {{.*}} : (vector<2xf16>, vector<2xf16>, f32) -> !llvm.struct<(f32, f32, f32, f32)>
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
