//===- AttnOps.td - attn dialect operations ----------------*- tablegen -*-===//

#ifndef ATTN_DIALECT_ATTN_IR_ATTNOPS_TD
#define ATTN_DIALECT_ATTN_IR_ATTNOPS_TD

include "attn/Dialect/Attn/IR/AttnDialect.td"
include "attn/Dialect/Attn/IR/AttnAttrs.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/IR/BuiltinAttributes.td"

def Attn_IntTensorOrMemRef : AnyTypeOf<[AnyRankedTensor, AnyMemRef]>;

// Shape facts of a verified attention or attention_grad op (both verify
// their operands alike: verifyAttentionOperands in AttnOps.cpp).
defvar attentionShapeMethods = [{
    /// The scale, or 1/sqrt(D) when none is given.
    double getScaleOrDefault();
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
    /// Head dims this project compiles (attn/Support/HeadDims.h).
    static bool isSupportedHeadDim(int64_t d) {
      return ::attn::isSupportedHeadDim(d);
    }
}];

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
    or f32. Supported head dims D and Dv: 32, 64, 80, 96, 128, 192 and 256
    (a target may compile fewer, and says which). `scale` defaults to
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
  let extraClassDeclaration = attentionShapeMethods;
}

def Attn_AttentionGradOp : Attn_Op<"attention_grad", [Pure]> {
  let summary = "Gradients of attn.attention with respect to its inputs";
  let description = [{
    The backward pass of `attn.attention` with the same `mask`, `scale` and
    `cu_seqlens`: given the forward's inputs, its `out` and `lse`, and the
    gradient `dout` of a loss with respect to `out`, returns

    ```
    p(q, k)  = exp(s(q, k) - lse[h, q])            (the forward's softmax)
    dv[k, g, :] = sum_{q, h in g} p(q, k) * dout[q, h, :]
    dp(q, k) = <dout[q, h, :], value[k, h / G, :]>
    ds(q, k) = p(q, k) * (dp(q, k) - <dout[q, h, :], out[q, h, :]>)
    dq[q, h, :] = scale * sum_k ds(q, k) * key[k, h / G, :]
    dk[k, g, :] = scale * sum_{q, h in g} ds(q, k) * query[q, h, :]
    ```

    over the allowed (q, k) only: a key that a query may not see contributes
    nothing to its gradients, and a key no query sees gets dk = dv = 0
    (exactly). Grouped-query attention sums dk and dv over the query heads
    h of the group g = h / G.

    Shapes and types as for `attn.attention`: query [T, Hq, D], key
    [T, Hkv, D], value [T, Hkv, Dv], out and dout [T, Hq, Dv], lse [Hq, T]
    (f32); dq, dk and dv have the shapes and element type of query, key and
    value.

    ```mlir
    %dq, %dk, %dv = attn.attention_grad %q, %k, %v, %out, %dout, %lse, %cu
        {mask = #attn.mask<document, causal>}
        : tensor<?x16x128xbf16>, tensor<?x4x128xbf16>, tensor<?x4x128xbf16>,
          tensor<?x16x128xbf16>, tensor<?x16x128xbf16>, tensor<16x?xf32>,
          tensor<?xi32>
        -> tensor<?x16x128xbf16>, tensor<?x4x128xbf16>, tensor<?x4x128xbf16>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$query, AnyRankedTensor:$key,
                   AnyRankedTensor:$value, AnyRankedTensor:$out,
                   AnyRankedTensor:$dout, AnyRankedTensor:$lse,
                   AnyRankedTensor:$cu_seqlens, Attn_MaskAttr:$mask,
                   OptionalAttr<F64Attr>:$scale);
  let results = (outs AnyRankedTensor:$dq, AnyRankedTensor:$dk,
                 AnyRankedTensor:$dv);
  let assemblyFormat = [{
    $query `,` $key `,` $value `,` $out `,` $dout `,` $lse `,` $cu_seqlens
    attr-dict `:` type($query) `,` type($key) `,` type($value) `,`
    type($out) `,` type($dout) `,` type($lse) `,` type($cu_seqlens) `->`
    type($dq) `,` type($dk) `,` type($dv)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = attentionShapeMethods;
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

    With `padded`, the result has T + 1 entries whatever N is (there are at
    most T documents): the N + 1 offsets, then T repeated (empty documents
    at the end, which every attention op takes). Its size is known from T
    alone, so no one has to read N first: a device computes it without
    a host round trip, and a compiled graph has a fixed shape.

    ```mlir
    // separator 2: [5, 2, 7, 7, 2, 9]  ->  [0, 2, 5, 6]
    %cu = attn.segments_from_separators %tokens {separator = 2 : i64}
        : tensor<?xi32> -> tensor<?xi32>
    //    padded:                        ->  [0, 2, 5, 6, 6, 6, 6]
    %p = attn.segments_from_separators %tokens {padded, separator = 2 : i64}
        : tensor<?xi32> -> tensor<?xi32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$tokens, I64Attr:$separator,
                       UnitAttr:$padded);
  let results = (outs AnyRankedTensor:$cu_seqlens);
  let assemblyFormat = [{
    $tokens attr-dict `:` type($tokens) `->` type($cu_seqlens)
  }];
  let hasVerifier = 1;
}

def Attn_CheckCuSeqlensOp : Attn_Op<"check_cu_seqlens", [Pure]> {
  let summary = "Records whether cu_seqlens are a packing of T tokens";
  let description = [{
    Checks every entry of `cu_seqlens` (at least one: a static size is
    verified, a dynamic one is the caller's to ensure) against the rules of
    a packing of `tokens` tokens (the first entry 0, no entry below the one
    before, the last entry `tokens`) and returns `errors | 1` if one is
    broken, else `errors` unchanged: an error record that a caller keeps
    across calls (0 until an error, then 1) and reads when it chooses, so
    that checking needs no round trip to the host. Every attention op
    assumes a valid packing; the kernels stay inside their buffers without
    one, but compute nothing meaningful.

    ```mlir
    // cu = [0, 3, 2, 5] (a decrease), T = 5, errors = [0]  ->  [1]
    %e = attn.check_cu_seqlens %cu, %errors, %t
        : tensor<4xi32>, tensor<1xi32> -> tensor<1xi32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$cu_seqlens, AnyRankedTensor:$errors,
                       Index:$tokens);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $cu_seqlens `,` $errors `,` $tokens attr-dict `:` type($cu_seqlens) `,`
    type($errors) `->` type($result)
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

def Attn_QueryTileRangeOp : Attn_Op<"query_tile_range", [Pure]> {
  let summary = "Query tiles that see a key tile, from cu_seqlens";
  let description = [{
    The transposed `attn.key_tile_range`, for the backward pass: for the
    keys [k_begin, k_end) of a packed sequence of `seq_len` tokens, returns
    query-tile indices begin <= full_begin <= full_end <= end (tiles of
    `block_q` rows): tiles outside [begin, end) see none of the keys, tiles
    in [full_begin, full_end) see all of them from every row, and the
    others are partial. [doc_first, doc_last] are the documents of keys
    k_begin and k_end - 1, for `attn.col_interval ... within`.

    ```mlir
    %b, %fb, %fe, %e, %d0, %d1 = attn.query_tile_range %cu, %T, %k0, %k1
        {mask = #attn.mask<document, causal>, block_q = 64 : i64} : memref<?xi32>
    ```
  }];
  let arguments = (ins Attn_IntTensorOrMemRef:$cu_seqlens, Index:$seq_len,
                   Index:$k_begin, Index:$k_end, Attn_MaskAttr:$mask,
                   I64Attr:$block_q);
  let results = (outs Index:$begin, Index:$full_begin, Index:$full_end,
                 Index:$end, Index:$doc_first, Index:$doc_last);
  let assemblyFormat = [{
    $cu_seqlens `,` $seq_len `,` $k_begin `,` $k_end attr-dict `:`
    type($cu_seqlens)
  }];
  let builders = [
    OpBuilder<(ins "Value":$cuSeqlens, "Value":$seqLen, "Value":$kBegin,
                   "Value":$kEnd, "MaskAttr":$mask, "int64_t":$blockQ), [{
      Type index = $_builder.getIndexType();
      build($_builder, $_state, {index, index, index, index, index, index},
            cuSeqlens, seqLen, kBegin, kEnd, mask,
            $_builder.getI64IntegerAttr(blockQ));
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

def Attn_ColIntervalOp : Attn_Op<"col_interval",
                                 [Pure, AttrSizedOperandSegments]> {
  let summary = "Queries that may attend to one key";
  let description = [{
    The transposed `attn.row_interval`: returns [lo, hi), the query rows
    that may attend to key `col` under `mask`. With `within [%first,
    %last]` (the documents of the key's tile, from
    `attn.query_tile_range`), the key's document is searched among those
    only.

    ```mlir
    %lo, %hi = attn.col_interval %cu, %T, %k within [%d0, %d1]
        {mask = #attn.mask<document, causal>} : memref<?xi32>
    ```
  }];
  let arguments = (ins Attn_IntTensorOrMemRef:$cu_seqlens, Index:$seq_len,
                   Index:$col, Optional<Index>:$doc_first,
                   Optional<Index>:$doc_last, Attn_MaskAttr:$mask);
  let results = (outs Index:$lo, Index:$hi);
  let assemblyFormat = [{
    $cu_seqlens `,` $seq_len `,` $col
    (`within` ` ` `[` $doc_first^ `,` $doc_last `]`)? attr-dict `:`
    type($cu_seqlens)
  }];
  let builders = [
    OpBuilder<(ins "Value":$cuSeqlens, "Value":$seqLen, "Value":$col,
                   "Value":$docFirst, "Value":$docLast, "MaskAttr":$mask), [{
      build($_builder, $_state, $_builder.getIndexType(),
            $_builder.getIndexType(), cuSeqlens, seqLen, col, docFirst,
            docLast, mask);
    }]>,
  ];
  let hasVerifier = 1;
}

#endif // ATTN_DIALECT_ATTN_IR_ATTNOPS_TD
