// RUN: attn-opt %s -attn-gpu-tile-attention='mma=wgmma schedule=warp-specialized grid=dynamic loads=tma' | FileCheck %s

// A dynamic schedule: the kernel takes a tile counter (global i32) before
// its tensor maps; block b starts with item b (its linear index) and the
// producer's TMA thread claims each next item once it has issued the
// current one's loads: G + the counter's old value, the launch's last claim
// (old value items - 1) setting the counter back to 0. It publishes the
// claim as the block's item n in slot n % 2 (after the seven mbarriers'
// 112 bytes) and arrives on that slot's mbarrier (bytes 96 + 8 (n % 2),
// one arrival); every warp waits for phase (n - 1) / 2 of it and reads the
// slot.
// CHECK-LABEL: gpu.func @attn
// CHECK-SAME: %[[COUNTER:[^:]*]]: !llvm.ptr<1>, %{{[^:]*}}: !llvm.ptr, %{{[^:]*}}: !llvm.ptr, %{{[^:]*}}: !llvm.ptr) kernel
// CHECK-SAME: attn.tensor_map_args = 3 : i64, attn.tile_counter_arg
// CHECK: %[[LINEAR:.*]] = arith.addi %{{.*}}, %{{.*}} : i32
// Four stages' full and empty barriers, Q's, then the two slots' (one
// arrival each).
// CHECK-COUNT-8: mbarrier.init.shared::cta.b64 [$0], {{1|8}};
// CHECK: "mbarrier.init.shared::cta.b64 [$0], 1;"
// CHECK: "mbarrier.init.shared::cta.b64 [$0], 8;"
// CHECK-COUNT-2: "mbarrier.init.shared::cta.b64 [$0], 1;"
// CHECK-NEXT: "fence.mbarrier_init.release.cluster;"

// The producer's TMA thread.
// CHECK: nvvm.setmaxregister decrease 56
// CHECK: scf.if
// CHECK: %[[G:.*]] = arith.muli %{{.*}}, %{{.*}} : i32
// CHECK: %[[ITEMS:.*]] = arith.muli %{{.*}}, %c16_i32 : i32
// CHECK: scf.while (%[[ITEM:.*]] = %[[LINEAR]], %{{.*}} = %c0_i32{{[_0-9]*}}, %{{.*}} = %c0_i32{{[_0-9]*}}) : (i32, i32, i32) -> (i32, i32, i32) {
// CHECK: %[[HAS:.*]] = arith.cmpi ult, %[[ITEM]], %[[ITEMS]] : i32
// CHECK: scf.condition(%[[HAS]])
// CHECK: ^bb0(%[[CUR:[^:]*]]: i32, %[[N:[^:]*]]: i32, %[[TILES:[^:]*]]: i32):
// CHECK: arith.remui %[[CUR]], %c16_i32
// CHECK: attn.key_tile_range
// CHECK: Q empty
// CHECK: cp.async.bulk.tensor.3d
// CHECK: scf.for
// CHECK: cp.async.bulk.tensor.3d
// After the item's loads: the claim, the reset, the slot and its arrival.
// CHECK: %[[TILES2:.*]] = arith.addi %[[TILES]], %{{.*}} : i32
// CHECK: %[[NEXT:.*]] = arith.addi %[[N]], %c1_i32 : i32
// CHECK: %[[OLD:.*]] = llvm.inline_asm has_side_effects asm_dialect = att "atom.global.add.u32 $0, [$1], 1; // claim", "=r,l" %[[COUNTER]] : (!llvm.ptr<1>) -> i32
// CHECK: %[[LASTCLAIM:.*]] = arith.subi %[[ITEMS]], %c1_i32{{[_0-9]*}} : i32
// CHECK: %[[LAST:.*]] = arith.cmpi eq, %[[OLD]], %[[LASTCLAIM]] : i32
// CHECK: scf.if %[[LAST]] {
// CHECK: "st.global.u32 [$0], $1; // counter reset", "l,r" %[[COUNTER]], %c0_i32{{[_0-9]*}}
// CHECK: }
// CHECK: %[[SLOT:.*]] = arith.remui %{{.*}}, %c2{{[_0-9]*}} : index
// CHECK: %[[SLOTOFF:.*]] = arith.addi %c96, %{{.*}} : index
// CHECK: %[[CLAIMED:.*]] = arith.addi %[[G]], %[[OLD]] : i32
// CHECK: "st.shared.b32 [$0], $1;", "r,r" %{{.*}}, %[[CLAIMED]]
// CHECK: %[[BAROFF:.*]] = arith.addi %c80, %{{.*}} : index
// CHECK: "mbarrier.arrive.shared::cta.b64 _, [$0]; // item claimed"
// CHECK: "{\0A.reg .pred p;\0Ambarrier.try_wait.parity.shared::cta.b64 p, [$1], $2; // item claimed
// CHECK: %[[READ:.*]] = llvm.inline_asm has_side_effects asm_dialect = att "ld.shared.u32 $0, [$1];"
// CHECK: scf.yield %[[READ]], %[[NEXT]], %[[TILES2]] : i32, i32, i32

// The compute warpgroups: the same walk; after each item's epilogue they
// wait for the next claim and read it.
// CHECK: nvvm.setmaxregister increase 224
// CHECK: scf.while (%{{.*}} = %[[LINEAR]], %{{.*}} = %c0_i32{{[_0-9]*}}, %{{.*}} = %c0_i32{{[_0-9]*}}) : (i32, i32, i32) -> (i32, i32, i32) {
// CHECK: attn.key_tile_range
// CHECK: Q full
// Each warp's lanes meet before lane 0 arrives for the warp (the seven
// stage releases, then Q's), so the slot every lane read at the end of the
// last item is free to be rewritten once the producer has waited for Q's
// release.
// CHECK-COUNT-8: nvvm.bar.warp.sync
// CHECK-NOT: mbarrier.arrive.shared::cta.b64 _, [$0];"
// CHECK: Q released
// CHECK: memref.store
// CHECK-NOT: atom.global
// CHECK: mbarrier.try_wait.parity.shared::cta.b64 p, [$1], $2; // item claimed
// CHECK: %[[CREAD:.*]] = llvm.inline_asm has_side_effects asm_dialect = att "ld.shared.u32 $0, [$1];"
// CHECK: scf.yield %[[CREAD]], %{{.*}}, %{{.*}} : i32, i32, i32
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
