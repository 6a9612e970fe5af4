// RUN: attn-opt %s -attn-tile-attention="block-q=32 block-k=16 count-tiles" | FileCheck %s
// RUN: attn-opt %s -attn-tile-attention="block-q=32 block-k=16 deterministic" | FileCheck %s --check-prefix=DET
// RUN: not attn-opt %s -attn-tile-attention="block-k=0" 2>&1 | FileCheck %s --check-prefix=BAD
// BAD: error: 'attn.attention_grad' op tile sizes must be 1 to 65536, got 64 and 0
// RUN: not attn-opt %s -attn-tile-attention="block-q=65537" 2>&1 | FileCheck %s --check-prefix=HUGE
// HUGE: error: 'attn.attention_grad' op tile sizes must be 1 to 65536, got 65537 and 64

// attn.attention_grad: delta = rowsum(dout * out) per (token, head); then
// one unit per (key tile, key/value head) over the query tiles that see it
// (partial, full, partial), masked by each key's column interval in the
// partial ones; dq by f32 atomic adds into an f32 buffer, converted at the
// end; dk (scaled) and dv written per key tile.
// CHECK: memref.global @attn_grad_tile_counts : memref<3xi64> = dense<0>
// CHECK-LABEL: func @grad
// CHECK: %[[T:.*]] = memref.dim
// CHECK: %[[DELTA:.*]] = memref.alloc(%[[T]]) : memref<4x?xf32>
// CHECK: scf.parallel
// CHECK: vector.reduction <add>
// CHECK: memref.store %{{.*}}, %[[DELTA]]
// CHECK: %[[DQACC:.*]] = memref.alloc(%[[T]]) : memref<?x4x64xf32>
// CHECK: %[[NK:.*]] = arith.ceildivui %[[T]], %{{.*}} : index
// CHECK: scf.parallel (%[[KT:.*]], %[[G:.*]]) = ({{.*}}) to (%[[NK]], %{{.*}})
// CHECK: %[[B:[^,]*]], %[[FB:[^,]*]], %[[FE:[^,]*]], %[[E:[^,]*]], %[[D0:[^,]*]], %[[D1:[^,]*]] = attn.query_tile_range %{{.*}}, %[[T]], %{{.*}}, %{{.*}} {block_q = 32 : i64, mask = #attn.mask<document, causal>}
// CHECK: attn.col_interval %{{.*}}, %[[T]], %{{.*}} within [%[[D0]], %[[D1]]]
// CHECK: memref.atomic_rmw addi
// Partial query tiles: P masked to 0 outside the key's column interval.
// CHECK: scf.for %{{.*}} = %[[B]] to %[[FB]]
// CHECK: %[[ALLOWED:.*]] = arith.andi
// CHECK: %[[P:.*]] = math.exp2
// CHECK: arith.select %[[ALLOWED]], %[[P]]
// CHECK: memref.atomic_rmw addf
// Full query tiles: no mask math.
// CHECK: scf.for %{{.*}} = %[[FB]] to %[[FE]]
// CHECK-NOT: arith.andi
// CHECK: math.exp2
// CHECK-NOT: arith.andi
// CHECK: memref.atomic_rmw addf
// CHECK: scf.for %{{.*}} = %[[FE]] to %[[E]]
// dq from its f32 accumulator.
// CHECK: scf.parallel
// CHECK: arith.truncf %{{.*}} : vector<64xf32> to vector<64xbf16>

// The deterministic dq: no atomics; a unit per (query tile, head) sums dS K
// over the key tiles attn.key_tile_range gives, in key order.
// DET-LABEL: func @grad
// DET-NOT: memref.atomic_rmw addf
// DET: attn.query_tile_range
// DET-NOT: memref.atomic_rmw addf
// DET: attn.key_tile_range
// DET: attn.row_interval
// DET-NOT: memref.atomic_rmw
func.func @grad(%q: tensor<?x4x64xbf16>, %k: tensor<?x2x64xbf16>,
                %v: tensor<?x2x64xbf16>, %o: tensor<?x4x64xbf16>,
                %do: tensor<?x4x64xbf16>, %lse: tensor<4x?xf32>,
                %cu: tensor<?xi32>)
    -> (tensor<?x4x64xbf16>, tensor<?x2x64xbf16>, tensor<?x2x64xbf16>) {
  %dq, %dk, %dv = attn.attention_grad %q, %k, %v, %o, %do, %lse, %cu
      {mask = #attn.mask<document, causal>}
      : tensor<?x4x64xbf16>, tensor<?x2x64xbf16>, tensor<?x2x64xbf16>,
        tensor<?x4x64xbf16>, tensor<?x4x64xbf16>, tensor<4x?xf32>,
        tensor<?xi32> -> tensor<?x4x64xbf16>, tensor<?x2x64xbf16>,
        tensor<?x2x64xbf16>
  return %dq, %dk, %dv
      : tensor<?x4x64xbf16>, tensor<?x2x64xbf16>, tensor<?x2x64xbf16>
}
