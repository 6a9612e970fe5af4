// RUN: attn-opt %s -attn-gpu-tile-attention='mma=wgmma schedule=warp-specialized grid=persistent' | FileCheck %s

// Persistent blocks: the producer and the compute warpgroups each walk the
// block's work items, round r taking item r * G + b (r even) or
// r * G + G - 1 - b (r odd) of the G = gridDim.x * gridDim.y blocks while
// item < (query tiles) * H, carrying the key tiles of the earlier items
// (the stages' use count). Q's buffer gets an "empty" mbarrier (one
// arrival per compute warp) besides its "full" one.
// CHECK-LABEL: gpu.func @attn
// CHECK-SAME: known_block_size = array<i32: 384, 1, 1>
// CHECK: %[[TILES:.*]] = arith.ceildivui %{{.*}}, %c128 : index
// CHECK: %[[LINEAR:.*]] = arith.addi %{{.*}}, %{{.*}} : i32
// Four stages' full and empty barriers, then Q's full and empty ones.
// CHECK-COUNT-8: mbarrier.init.shared::cta.b64 [$0], {{128|8}};
// CHECK: "mbarrier.init.shared::cta.b64 [$0], 128;"
// CHECK: "mbarrier.init.shared::cta.b64 [$0], 8;"
// CHECK: gpu.barrier

// The producer: its item loop.
// CHECK: nvvm.setmaxregister decrease 56
// CHECK: %[[GX:.*]] = gpu.grid_dim x
// CHECK: %[[GY:.*]] = gpu.grid_dim y
// CHECK: %[[G:.*]] = arith.muli %{{.*}}, %{{.*}} : i32
// CHECK: %[[ITEMS:.*]] = arith.muli %{{.*}}, %c16_i32 : i32
// CHECK: %[[ROUNDS:.*]] = arith.ceildivui %[[ITEMS]], %[[G]] : i32
// CHECK: %[[DONE:.*]] = scf.for %[[R:.*]] = %{{.*}} to %[[ROUNDS]] step %{{.*}} iter_args(%[[BEFORE:.*]] = %{{.*}}) -> (i32) : i32 {
// CHECK: %[[ODD:.*]] = arith.trunci %[[R]] : i32 to i1
// CHECK: %[[LAST:.*]] = arith.subi %[[G]], %{{.*}} : i32
// CHECK: %[[MIRRORED:.*]] = arith.subi %[[LAST]], %[[LINEAR]] : i32
// CHECK: %[[BASE:.*]] = arith.muli %[[R]], %[[G]] : i32
// CHECK: %[[POS:.*]] = arith.select %[[ODD]], %[[MIRRORED]], %[[LINEAR]] : i32
// CHECK: %[[ITEM:.*]] = arith.addi %[[BASE]], %[[POS]] : i32
// CHECK: %[[HAS:.*]] = arith.cmpi ult, %[[ITEM]], %[[ITEMS]] : i32
// CHECK: scf.if %[[HAS]] -> (i32) {
// CHECK: arith.remui %[[ITEM]], %c16_i32
// CHECK: %[[BEGIN:[a-z_0-9]+]], %{{.*}}, %{{.*}}, %[[END:[a-z_0-9]+]], %{{.*}}, %{{.*}} = attn.key_tile_range
// The copy addresses from a fresh thread index; Q refilled once the
// previous item's S products are done.
// CHECK: "mov.u32 $0, %tid.x;"
// CHECK: mbarrier.try_wait.parity.shared::cta.b64 p, [$1], $2; // Q empty
// CHECK: cp.async.mbarrier.arrive.noinc
// CHECK: scf.for %{{.*}} = %[[BEGIN]] to %[[END]]
// CHECK: %[[N:.*]] = arith.subi %[[END]], %[[BEGIN]] : index
// CHECK: %[[N32:.*]] = arith.index_castui %[[N]] : index to i32
// CHECK: %[[NEXT:.*]] = arith.addi %[[BEFORE]], %[[N32]] : i32
// CHECK: scf.yield %[[NEXT]] : i32
// CHECK: } else {
// CHECK: scf.yield %[[BEFORE]] : i32
// CHECK: cp.async.wait.group 0

// The compute warpgroups: the same walk; each item waits for its Q, hands
// the buffer back after the loops (every S done) and the last V stage
// after the last P V.
// CHECK: nvvm.setmaxregister increase 224
// CHECK: scf.for %{{.*}} iter_args(%[[CBEFORE:.*]] = %{{.*}}) -> (i32) : i32 {
// CHECK: attn.key_tile_range
// CHECK: mbarrier.try_wait.parity.shared::cta.b64 p, [$1], $2; // Q full
// CHECK-COUNT-3: scf.for
// CHECK: "mbarrier.arrive.shared::cta.b64 _, [$0]; // Q released"
// CHECK: nvvm.wgmma.wait.group.sync.aligned 0
// CHECK: "mbarrier.arrive.shared::cta.b64 _, [$0]; // last V released"
// CHECK: memref.store
// CHECK: arith.addi %[[CBEFORE]], %{{.*}} : i32
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
