//===- Transforms.h - attn rewrites as free functions ---------*- C++ -*-===//
//
// The core rewrites of the attn dialect. Each pass is a thin wrapper around
// one of these; pipelines and tools may call them directly.
//===----------------------------------------------------------------------===//

#ifndef ATTN_DIALECT_ATTN_TRANSFORMS_TRANSFORMS_H
#define ATTN_DIALECT_ATTN_TRANSFORMS_TRANSFORMS_H

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::attn {

/// Replaces `op` by a tensor.generate computing each token's position in its
/// document.
LogicalResult lowerDocPositions(RewriterBase &rewriter, DocPositionsOp op);

/// Replaces `op` by scf loops that count separators and fill cu_seqlens.
LogicalResult lowerSegmentsFromSeparators(RewriterBase &rewriter,
                                          SegmentsFromSeparatorsOp op);

/// Replaces `op` by an scf loop over cu_seqlens' entries (the mask
/// algebra's cuSeqlensEntryError) and the updated error record.
LogicalResult lowerCheckCuSeqlens(RewriterBase &rewriter, CheckCuSeqlensOp op);

/// Replaces `op` by the mask algebra's keyTileRange in arith/scf.
LogicalResult lowerKeyTileRange(RewriterBase &rewriter, KeyTileRangeOp op);

/// Replaces `op` by the mask algebra's queryTileRange in arith/scf.
LogicalResult lowerQueryTileRange(RewriterBase &rewriter, QueryTileRangeOp op);

/// Replaces `op` by the mask algebra's rowInterval in arith/scf.
LogicalResult lowerRowInterval(RewriterBase &rewriter, RowIntervalOp op);

/// Replaces `op` by the mask algebra's colInterval in arith/scf.
LogicalResult lowerColInterval(RewriterBase &rewriter, ColIntervalOp op);

/// The largest CPU tile (block-q, block-k): each unit's buffers have that
/// many rows of D floats (beyond it, their sizes could overflow).
constexpr int64_t kMaxCpuTileSize = 65536;

/// Whether `blockQ` and `blockK` are CPU tile sizes (1 to kMaxCpuTileSize).
inline bool areCpuTileSizes(int64_t blockQ, int64_t blockK) {
  return blockQ >= 1 && blockQ <= kMaxCpuTileSize && blockK >= 1 &&
         blockK <= kMaxCpuTileSize;
}

/// Tiling of attn.attention (see the attn-tile-attention pass).
struct TileAttentionOptions {
  int64_t blockQ = 64;
  int64_t blockK = 64;
  /// Name of a memref<3xi64> global to which the generated code adds the
  /// visited, partial and full tile counts of head 0; empty for none.
  std::string tileCountsGlobal;
  /// The same for attn.attention_grad (the key tiles' query tiles, key/value
  /// head 0).
  std::string gradTileCountsGlobal;
  /// attn.attention_grad: dq from a second, query-major pass (the same bits
  /// on every run, whatever the order the units run in) instead of f32
  /// atomic adds from the key-major pass.
  bool deterministic = false;
};

/// The memref `result` of `op` is materialized into, when its only use is a
/// `bufferization.materialize_in_destination` into a writable memref of the
/// same shape available at `op`; null otherwise.
Value getMaterializedDestination(Operation *op, Value result);

/// `bufferization.to_buffer` (read-only) of a ranked tensor.
Value readBuffer(OpBuilder &b, Location loc, Value tensor);

/// Where the loops of a tiled attn op write its results: each result's
/// materialization destination when it has one, else a new buffer (its
/// dynamic sizes T); the materializations go once the op is replaced.
struct ResultBuffers {
  SmallVector<Value> buffers;
  SmallVector<Operation *> materializations;
};
ResultBuffers resultBuffers(RewriterBase &rewriter, Operation *op,
                            Value numTokens);
/// Replaces the results of `op` by `bufferization.to_tensor` of their
/// buffers and erases `op` and the materializations.
void replaceWithBuffers(RewriterBase &rewriter, Operation *op,
                        const ResultBuffers &results);

/// The memref a tensor was read from with `bufferization.to_tensor`, or
/// null.
Value getSourceBuffer(Value tensor);

/// Rewrites `op` into the tiled, fused online-softmax loop nest over buffers.
LogicalResult tileAttention(RewriterBase &rewriter, AttentionOp op,
                            const TileAttentionOptions &options);

/// Rewrites `op` into the tiled backward pass over buffers: key-major units
/// over the query tiles attn.query_tile_range names (see
/// TileAttentionGrad.cpp).
LogicalResult tileAttentionGrad(RewriterBase &rewriter, AttentionGradOp op,
                                const TileAttentionOptions &options);

} // namespace mlir::attn

#endif // ATTN_DIALECT_ATTN_TRANSFORMS_TRANSFORMS_H
