//===- Passes.td - attn transformation passes --------------*- tablegen -*-===//

#ifndef ATTN_DIALECT_ATTN_TRANSFORMS_PASSES_TD
#define ATTN_DIALECT_ATTN_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def AttnLowerSequenceOps : Pass<"attn-lower-sequence-ops"> {
  let summary = "Lower attn.doc_positions, attn.segments_from_separators "
                "and attn.check_cu_seqlens to scf/arith/tensor";
  let description = [{
    The CPU's lowering of the sequence helpers to ordinary tensor code
    (NVIDIA kernels have attn-gpu-sequence-ops): `doc_positions` becomes a
    `tensor.generate` whose
    body finds each token's document by binary search over cu_seqlens (the
    mask algebra's `docPosition`); `segments_from_separators` counts the
    separators, then fills cu_seqlens in a second loop (with `padded`, then
    T in the entries past the last document); `check_cu_seqlens` loops over
    the entries with the mask algebra's `cuSeqlensEntryError`.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::tensor::TensorDialect"];
}

def AttnTileAttention : Pass<"attn-tile-attention", "::mlir::ModuleOp"> {
  let summary = "Tile attn.attention (one online-softmax loop nest) and "
                "attn.attention_grad over the packed sequence";
  let description = [{
    Rewrites every `attn.attention` into loops over buffers:

    - one unit of work per (query tile of `block-q` rows, query head), in an
      `scf.parallel`; tiles cover the packed sequence uniformly and may span
      document boundaries;
    - per unit, `attn.key_tile_range` gives the key tiles (of `block-k`
      keys) that are partial and full; only those are visited, in three
      `scf.for` loops (partial, full, partial);
    - each visited tile computes S = scale * log2(e) * Q K^T, masks S only in
      partial tiles (from `attn.row_interval`, i.e. positions and document
      bounds), updates the running row max and sum (exp2), rescales the
      accumulator and adds P V; the full-tile body has no mask operation;
    - the unit ends by writing out = acc / sum (0 for rows with no allowed
      key) and lse = ln 2 * (max + log2(sum)) (-inf for such rows).

    Every `attn.attention_grad` becomes FlashAttention-2's backward pass
    over the packed sequence:

    - delta = rowsum(dout * out) (f32), one `scf.parallel` over (token,
      head);
    - one unit of work per (key tile of `block-k` keys, key/value head);
      `attn.query_tile_range` gives the query tiles (of `block-q` rows)
      that see it, visited in three loops (partial, full, partial); each
      key's `attn.col_interval` masks the partial ones; for every query
      head of the group and row, P is recomputed from lse, dV += P^T dout,
      dS = P * (dout V^T - delta), dK += dS^T Q, and dQ += dS K is added
      with f32 atomics; keys no query sees end with dK = dV = 0;
    - with `deterministic`, dQ instead comes from a second unit per (query
      tile, head) over `attn.key_tile_range`'s key tiles, in key order:
      the same bits whatever order the units run in.

    Inputs are read through `bufferization.to_buffer`, results are allocated
    buffers returned through `bufferization.to_tensor`. With `count-tiles`,
    the generated code also adds its visited, partial and full tile counts
    (of head 0) to the global `@attn_tile_counts : memref<3xi64>`, and the
    backward's (the key tiles' query tiles, key/value head 0) to
    `@attn_grad_tile_counts`.
  }];
  let options = [
    Option<"blockQ", "block-q", "int64_t", /*default=*/"64",
           "Query rows per tile">,
    Option<"blockK", "block-k", "int64_t", /*default=*/"64",
           "Keys per tile">,
    Option<"countTiles", "count-tiles", "bool", /*default=*/"false",
           "Count visited, partial and full tiles in @attn_tile_counts">,
    Option<"deterministic", "deterministic", "bool", /*default=*/"false",
           "attn.attention_grad: dq from a query-major pass instead of f32 "
           "atomics (no atomics: the same bits whatever order the units run "
           "in)">,
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::bufferization::BufferizationDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::vector::VectorDialect"];
}

def AttnLowerTileOps : Pass<"attn-lower-tile-ops"> {
  let summary = "Lower attn.key_tile_range, attn.query_tile_range, "
                "attn.row_interval and attn.col_interval to arith/scf";
  let description = [{
    Instantiates the mask algebra (include/attn/Mask/MaskAlgebra.h) with an
    IR builder: each document lookup becomes an `scf.while` binary search
    over cu_seqlens, the rest integer arithmetic.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::tensor::TensorDialect"];
}

#endif // ATTN_DIALECT_ATTN_TRANSFORMS_PASSES_TD
