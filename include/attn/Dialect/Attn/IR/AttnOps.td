//===- AttnOps.td - attn dialect operations ----------------*- tablegen -*-===//

#ifndef ATTN_DIALECT_ATTN_IR_ATTNOPS_TD
#define ATTN_DIALECT_ATTN_IR_ATTNOPS_TD

include "attn/Dialect/Attn/IR/AttnDialect.td"
include "attn/Dialect/Attn/IR/AttnAttrs.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/IR/BuiltinAttributes.td"

def Attn_IntTensorOrMemRef : AnyTypeOf<[AnyRankedTensor, AnyMemRef]>;

//===----------------------------------------------------------------------===//
// attention
//===----------------------------------------------------------------------===//

def Attn_AttentionOp : Attn_Op<"attention", [Pure]> {
  let summary = "Attention over a packed sequence with a structured mask";
  let description = [{
    Computes, for every query token q and query head h,

    ```
    s(k)   = scale * <query[q, h, :], key[k, h / G, :]>   for allowed k
    out[q, h, :] = sum_k softmax(s)(k) * value[k, h / G, :]
    lse[h, q]    = log(sum_k exp(s(k)))
    ```

    where G = Hq / Hkv (grouped-query and multi-query attention read key and
    value head h / G) and "allowed" is given by the `mask` attribute and the
    document boundaries `cu_seqlens` (N + 1 integers, 0 = c0 <= ... <= cN = T;
    empty documents are allowed). A row with no allowed key gets out = 0 and
    lse = -inf.

    Shapes: query [T, Hq, D], key [T, Hkv, D], value [T, Hkv, Dv],
    out [T, Hq, Dv], lse [Hq, T] (f32). T may be dynamic; heads and head dims
    are static. Query, key, value and out share one element type: f16, bf16
    or f32. Supported head dims D and Dv: 64 and 128. `scale` defaults to
    1/sqrt(D).

    Example:

    ```mlir
    %out, %lse = attn.attention %q, %k, %v, %cu {mask = #attn.mask<document, causal>}
        : tensor<?x16x128xbf16>, tensor<?x4x128xbf16>, tensor<?x4x128xbf16>,
          tensor<?xi32> -> tensor<?x16x128xbf16>, tensor<16x?xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$query, AnyRankedTensor:$key,
                   AnyRankedTensor:$value, AnyRankedTensor:$cu_seqlens,
                   Attn_MaskAttr:$mask, OptionalAttr<F64Attr>:$scale);
  let results = (outs AnyRankedTensor:$out, AnyRankedTensor:$lse);
  let assemblyFormat = [{
    $query `,` $key `,` $value `,` $cu_seqlens attr-dict `:` type($query) `,`
    type($key) `,` type($value) `,` type($cu_seqlens) `->` type($out) `,`
    type($lse)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The scale, or 1/sqrt(D) when none is given.
    double getScaleOrDefault();
    /// Shape facts of a verified op.
    Type getElementType() {
      return ::llvm::cast<RankedTensorType>(getQuery().getType())
          .getElementType();
    }
    int64_t getNumHeads() {
      return ::llvm::cast<RankedTensorType>(getQuery().getType()).getDimSize(1);
    }
    int64_t getNumKvHeads() {
      return ::llvm::cast<RankedTensorType>(getKey().getType()).getDimSize(1);
    }
    int64_t getHeadDim() {
      return ::llvm::cast<RankedTensorType>(getQuery().getType()).getDimSize(2);
    }
    int64_t getValueDim() {
      return ::llvm::cast<RankedTensorType>(getValue().getType()).getDimSize(2);
    }
    /// Head dims this project compiles.
    static bool isSupportedHeadDim(int64_t d) { return d == 64 || d == 128; }
  }];
}

//===----------------------------------------------------------------------===//
// Sequence helpers
//===----------------------------------------------------------------------===//

def Attn_DocPositionsOp : Attn_Op<"doc_positions", [Pure]> {
  let summary = "Position of each token inside its document";
  let description = [{
    For a packed sequence with document boundaries `cu_seqlens`, returns for
    every token t its position t - c[d] in its document d: the position ids
    that restart at every document in packed training. The result has T
    entries, T = the last entry of `cu_seqlens`.

    ```mlir
    // cu = [0, 3, 3, 5]  ->  [0, 1, 2, 0, 1]
    %pos = attn.doc_positions %cu : tensor<4xi32> -> tensor<?xi32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$cu_seqlens);
  let results = (outs AnyRankedTensor:$positions);
  let assemblyFormat = [{
    $cu_seqlens attr-dict `:` type($cu_seqlens) `->` type($positions)
  }];
  let hasVerifier = 1;
}

def Attn_SegmentsFromSeparatorsOp
    : Attn_Op<"segments_from_separators", [Pure]> {
  let summary = "cu_seqlens from end-of-document tokens";
  let description = [{
    Splits a packed token sequence into documents at every token equal to
    `separator` (an end-of-document id). The separator belongs to the
    document it ends; tokens after the last separator form one more
    document. Returns cu_seqlens: N + 1 offsets from 0 to T.

    ```mlir
    // separator 2: [5, 2, 7, 7, 2, 9]  ->  [0, 2, 5, 6]
    %cu = attn.segments_from_separators %tokens {separator = 2 : i64}
        : tensor<?xi32> -> tensor<?xi32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$tokens, I64Attr:$separator);
  let results = (outs AnyRankedTensor:$cu_seqlens);
  let assemblyFormat = [{
    $tokens attr-dict `:` type($tokens) `->` type($cu_seqlens)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Tile-level ops (produced by the tiling pass)
//===----------------------------------------------------------------------===//

def Attn_KeyTileRangeOp : Attn_Op<"key_tile_range", [Pure]> {
  let summary = "Key tiles a query tile must visit, from cu_seqlens";
  let description = [{
    For the query rows [q_begin, q_end) of a packed sequence of `seq_len`
    tokens, returns key-tile indices begin <= full_begin <= full_end <= end
    (tiles of `block_k` keys): tiles outside [begin, end) are empty and
    skipped, tiles in [full_begin, full_end) are full (every key allowed for
    every row: no mask math) and the others are partial.

    It also returns [doc_first, doc_last], the indices of the documents of
    rows q_begin and q_end - 1: every row of the tile lies in one of them,
    so `attn.row_interval ... within [doc_first, doc_last]` searches only
    those (no search for a tile inside one document). Without a document
    term they are all documents, [0, N - 1].

    Lowered to a bisection over `cu_seqlens` for the first row, a forward
    search from its document for the last row, and integer arithmetic.

    ```mlir
    %b, %fb, %fe, %e, %d0, %d1 = attn.key_tile_range %cu, %T, %q0, %q1
        {mask = #attn.mask<document, causal>, block_k = 64 : i64} : memref<?xi32>
    ```
  }];
  let arguments = (ins Attn_IntTensorOrMemRef:$cu_seqlens, Index:$seq_len,
                   Index:$q_begin, Index:$q_end, Attn_MaskAttr:$mask,
                   I64Attr:$block_k);
  let results = (outs Index:$begin, Index:$full_begin, Index:$full_end,
                 Index:$end, Index:$doc_first, Index:$doc_last);
  let assemblyFormat = [{
    $cu_seqlens `,` $seq_len `,` $q_begin `,` $q_end attr-dict `:`
    type($cu_seqlens)
  }];
  let builders = [
    OpBuilder<(ins "Value":$cuSeqlens, "Value":$seqLen, "Value":$qBegin,
                   "Value":$qEnd, "MaskAttr":$mask, "int64_t":$blockK), [{
      Type index = $_builder.getIndexType();
      build($_builder, $_state, {index, index, index, index, index, index},
            cuSeqlens, seqLen, qBegin, qEnd, mask,
            $_builder.getI64IntegerAttr(blockK));
    }]>,
  ];
  let hasVerifier = 1;
}

def Attn_RowIntervalOp : Attn_Op<"row_interval",
                                 [Pure, AttrSizedOperandSegments]> {
  let summary = "Allowed key interval of one query row";
  let description = [{
    Returns [lo, hi): the keys query row `row` may attend to under `mask`,
    given document boundaries `cu_seqlens` and `seq_len` tokens. Used by the
    partial-tile body to build the mask from positions.

    With `within [%first, %last]` (the documents of the row's query tile,
    from `attn.key_tile_range`), the row's document is searched among
    documents first..last only; the row must lie in one of them (otherwise
    the result is unspecified, but every read stays inside `cu_seqlens`).

    ```mlir
    %lo, %hi = attn.row_interval %cu, %T, %q within [%d0, %d1]
        {mask = #attn.mask<document, causal>} : memref<?xi32>
    ```
  }];
  let arguments = (ins Attn_IntTensorOrMemRef:$cu_seqlens, Index:$seq_len,
                   Index:$row, Optional<Index>:$doc_first,
                   Optional<Index>:$doc_last, Attn_MaskAttr:$mask);
  let results = (outs Index:$lo, Index:$hi);
  let assemblyFormat = [{
    $cu_seqlens `,` $seq_len `,` $row
    (`within` ` ` `[` $doc_first^ `,` $doc_last `]`)? attr-dict `:`
    type($cu_seqlens)
  }];
  let builders = [
    OpBuilder<(ins "Value":$cuSeqlens, "Value":$seqLen, "Value":$row,
                   "MaskAttr":$mask), [{
      build($_builder, $_state, $_builder.getIndexType(),
            $_builder.getIndexType(), cuSeqlens, seqLen, row, Value(),
            Value(), mask);
    }]>,
    OpBuilder<(ins "Value":$cuSeqlens, "Value":$seqLen, "Value":$row,
                   "Value":$docFirst, "Value":$docLast, "MaskAttr":$mask), [{
      build($_builder, $_state, $_builder.getIndexType(),
            $_builder.getIndexType(), cuSeqlens, seqLen, row, docFirst,
            docLast, mask);
    }]>,
  ];
  let hasVerifier = 1;
}

#endif // ATTN_DIALECT_ATTN_IR_ATTNOPS_TD
