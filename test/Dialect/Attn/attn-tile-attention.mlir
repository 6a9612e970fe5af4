// RUN: attn-opt %s -attn-tile-attention="block-q=32 block-k=16 count-tiles" -split-input-file | FileCheck %s
// RUN: not attn-opt %s -attn-tile-attention="block-q=0" -split-input-file 2>&1 | FileCheck %s --check-prefix=BAD
// BAD: error: 'attn.attention' op tile sizes must be 1 to 65536, got 0 and 64
// Tiles whose buffers' sizes could overflow (the lowering used to emit a
// malloc of a wrapped size).
// RUN: not attn-opt %s -attn-tile-attention="block-q=9223372036854775807" -split-input-file 2>&1 | FileCheck %s --check-prefix=HUGE
// HUGE: error: 'attn.attention' op tile sizes must be 1 to 65536, got 9223372036854775807 and 64

// CHECK: memref.global @attn_tile_counts : memref<3xi64> = dense<0>
// CHECK-LABEL: func @doc_causal
// CHECK-SAME: (%[[Q:[a-z0-9]+]]: tensor<?x4x64xbf16>, %[[K:[a-z0-9]+]]: tensor<?x2x64xbf16>, %[[V:[a-z0-9]+]]: tensor<?x2x64xbf16>, %[[CU:[a-z0-9]+]]: tensor<?xi32>)
// CHECK-DAG: %[[QB:.*]] = bufferization.to_buffer %[[Q]] read_only
// CHECK-DAG: %[[KB:.*]] = bufferization.to_buffer %[[K]] read_only
// CHECK-DAG: %[[CUB:.*]] = bufferization.to_buffer %[[CU]] read_only
// CHECK: %[[T:.*]] = memref.dim %[[QB]]
// CHECK: %[[OUT:.*]] = memref.alloc(%[[T]]) : memref<?x4x64xbf16>
// CHECK: %[[LSE:.*]] = memref.alloc(%[[T]]) : memref<4x?xf32>
// CHECK: %[[NQ:.*]] = arith.ceildivui %[[T]], %{{.*}} : index
// One unit of work per (query tile, head):
// CHECK: scf.parallel (%[[QT:.*]], %[[H:.*]]) = ({{.*}}) to (%[[NQ]], %{{.*}})
// GQA: key/value head = h / (Hq / Hkv).
// CHECK: %[[KVH:.*]] = arith.divui %[[H]], %{{.*}} : index
// CHECK: %[[Q0:.*]] = arith.muli %[[QT]]
// CHECK: %[[Q1:.*]] = arith.minsi %{{.*}}, %[[T]]
// CHECK: %[[B:[^,]*]], %[[FB:[^,]*]], %[[FE:[^,]*]], %[[E:[^,]*]], %[[D0:[^,]*]], %[[D1:[^,]*]] = attn.key_tile_range %[[CUB]], %[[T]], %[[Q0]], %[[Q1]] {block_k = 16 : i64, mask = #attn.mask<document, causal>}
// Tile counts come from the same range (head 0 only).
// CHECK: memref.atomic_rmw addi
// Partial tiles before the full ones: the mask comes from the row's interval.
// CHECK: scf.for %[[KT0:.*]] = %[[B]] to %[[FB]]
// CHECK: attn.row_interval %[[CUB]], %[[T]], %{{.*}} within [%[[D0]], %[[D1]]]
// CHECK: vector.load %[[KB]][%{{.*}}, %[[KVH]], %{{.*}}]
// CHECK: vector.reduction <add>
// CHECK: arith.cmpi sge
// CHECK: arith.cmpi slt
// CHECK: arith.select
// CHECK: math.exp2
// CHECK: vector.fma
// Full tiles: the same fused body with no mask operation at all.
// CHECK: scf.for %[[KT1:.*]] = %[[FB]] to %[[FE]]
// CHECK-NOT: attn.row_interval
// CHECK-NOT: arith.cmpi
// CHECK-NOT: arith.andi
// CHECK: vector.reduction <add>
// CHECK-NOT: attn.row_interval
// CHECK-NOT: arith.cmpi
// CHECK: vector.fma
// CHECK-NOT: attn.row_interval
// CHECK-NOT: arith.cmpi
// Partial tiles after the full ones.
// CHECK: scf.for %[[KT2:.*]] = %[[FE]] to %[[E]]
// CHECK: attn.row_interval
// Finalization: out = acc / sum, lse = ln2 * (max + log2 sum); 0 / -inf for
// rows with no allowed key.
// CHECK: arith.cmpf oeq
// CHECK: arith.divf
// CHECK: arith.truncf %{{.*}} : vector<64xf32> to vector<64xbf16>
// CHECK: vector.store %{{.*}}, %[[OUT]][%{{.*}}, %[[H]], %{{.*}}]
// CHECK: math.log2
// CHECK: memref.store %{{.*}}, %[[LSE]][%[[H]], %{{.*}}]
// CHECK: scf.reduce
// CHECK-DAG: %[[OT:.*]] = bufferization.to_tensor %[[OUT]] restrict writable
// CHECK-DAG: %[[LT:.*]] = bufferization.to_tensor %[[LSE]] restrict writable
// CHECK: return %[[OT]], %[[LT]]
func.func @doc_causal(%q: tensor<?x4x64xbf16>, %k: tensor<?x2x64xbf16>,
                      %v: tensor<?x2x64xbf16>, %cu: tensor<?xi32>)
    -> (tensor<?x4x64xbf16>, tensor<4x?xf32>) {
  %o, %l = attn.attention %q, %k, %v, %cu {mask = #attn.mask<document, causal>}
      : tensor<?x4x64xbf16>, tensor<?x2x64xbf16>, tensor<?x2x64xbf16>,
        tensor<?xi32> -> tensor<?x4x64xbf16>, tensor<4x?xf32>
  return %o, %l : tensor<?x4x64xbf16>, tensor<4x?xf32>
}

// -----

// Results materialized into memrefs are written in place: no new buffer.
// CHECK-LABEL: func @in_place
// CHECK-SAME: %[[OUT:[a-z0-9]+]]: memref<?x2x128xf32>, %[[LSE:[a-z0-9]+]]: memref<2x?xf32>
// CHECK-NOT: memref.alloc(%
// CHECK-NOT: materialize_in_destination
// CHECK: vector.store %{{.*}}, %[[OUT]]
// CHECK: memref.store %{{.*}}, %[[LSE]]
func.func @in_place(%q: tensor<?x2x128xf32>, %k: tensor<?x2x128xf32>,
                    %v: tensor<?x2x128xf32>, %cu: tensor<?xi32>,
                    %out: memref<?x2x128xf32>, %lse: memref<2x?xf32>) {
  %o, %l = attn.attention %q, %k, %v, %cu {mask = #attn.mask<causal, window = 8>}
      : tensor<?x2x128xf32>, tensor<?x2x128xf32>, tensor<?x2x128xf32>,
        tensor<?xi32> -> tensor<?x2x128xf32>, tensor<2x?xf32>
  bufferization.materialize_in_destination %o in restrict writable %out
      : (tensor<?x2x128xf32>, memref<?x2x128xf32>) -> ()
  bufferization.materialize_in_destination %l in restrict writable %lse
      : (tensor<2x?xf32>, memref<2x?xf32>) -> ()
  return
}

// A bad option value is an error naming the pass (MLIR's own is empty).
// RUN: not attn-opt %s -attn-tile-attention="block-q=x" 2>&1 | FileCheck %s --check-prefix=BADVALUE
// BADVALUE: for the --block-q option: 'x' value invalid
// BADVALUE-NEXT: error: attn-tile-attention: bad options 'block-q=x'
