// RUN: attn-opt %s -attn-gpu-tile-attention='mma=wgmma schedule=warp-specialized loads=tma stores=tma' | FileCheck %s --implicit-check-not=vector.store
// RUN: attn-opt %s -attn-gpu-tile-attention='mma=wgmma schedule=warp-specialized grid=persistent loads=tma stores=tma' | FileCheck %s --check-prefix=PERSISTENT

// A TMA store of O: a fourth tensor-map argument (O's); in the epilogue
// each compute warpgroup meets at named barrier 3 + w (128 threads),
// writes its rows of O as bf16 pairs into the shared O tile (after the V
// stages) in the 128-byte swizzle, fences them for the async proxy, meets
// again, and its first thread stores its 64 rows as two boxes of 64
// columns and commits them; the lse keeps its bounds-checked stores. The
// kernel exits once that thread's stores are done.
// CHECK-LABEL: gpu.func @attn
// CHECK-SAME: %{{[^:]*}}: !llvm.ptr, %{{[^:]*}}: !llvm.ptr, %{{[^:]*}}: !llvm.ptr, %[[OM:[^:]*]]: !llvm.ptr) kernel
// CHECK-SAME: attn.tensor_map_args = 4 : i64
// CHECK: nvvm.setmaxregister increase 224
// The epilogue: no global store of O (no vector.store anywhere: the
// implicit check).
// CHECK: %[[WG:.*]] = arith.divui %[[T:.*]], %c128{{[_0-9]*}} : index
// CHECK: %[[BARID:.*]] = arith.addi %[[WG]], %c3{{[_0-9]*}} : index
// CHECK: %[[BAR:.*]] = arith.index_castui %[[BARID]] : index to i32
// CHECK-NOT: cp.async.bulk.wait_group.read
// CHECK: nvvm.barrier id = %[[BAR]] number_of_threads = %c128_i32
// CHECK-COUNT-16: "st.shared.b32 [$0], $1;", "r,r"
// CHECK: nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>, space = #nvvm.shared_space<cta>}
// CHECK: nvvm.barrier id = %[[BAR]] number_of_threads = %c128_i32{{[_0-9]*}}
// CHECK: %[[LANE:.*]] = arith.remui %[[T]], %c128{{[_0-9]*}} : index
// CHECK: %[[STORER:.*]] = arith.cmpi eq, %[[LANE]], %c0{{[_0-9]*}} : index
// CHECK: scf.if %[[STORER]] {
// CHECK: %[[FIRSTROW:.*]] = arith.muli %[[WG]], %c64{{[_0-9]*}} : index
// CHECK: "cp.async.bulk.tensor.3d.global.shared::cta.bulk_group [$0, {$1, $2, $3}], [$4];", "l,r,r,r,r" %[[OM]], %c0_i32
// CHECK: "cp.async.bulk.tensor.3d.global.shared::cta.bulk_group [$0, {$1, $2, $3}], [$4];", "l,r,r,r,r" %[[OM]], %c64_i32
// CHECK-NEXT: "cp.async.bulk.commit_group;"
// CHECK: }
// lse: the rows inside T, one lane per row.
// CHECK: memref.store {{.*}} : memref<16x?xf32>
// CHECK: "cp.async.bulk.wait_group 0;"

// Persistent blocks: the tile is rewritten once the warpgroup's previous
// store has read it.
// PERSISTENT: nvvm.setmaxregister increase 224
// PERSISTENT: "cp.async.bulk.wait_group.read 0;"
// PERSISTENT: nvvm.barrier id = %{{.*}} number_of_threads = %c128_i32
// PERSISTENT: "st.shared.b32 [$0], $1;"
// PERSISTENT: "cp.async.bulk.commit_group;"
// PERSISTENT: "cp.async.bulk.wait_group 0;"
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
