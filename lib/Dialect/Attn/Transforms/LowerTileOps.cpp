//===- LowerTileOps.cpp - attn tile-range and interval ops to arith -------===//

#include "attn/Dialect/Attn/Transforms/MaskIR.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"
#include "attn/Dialect/Attn/Transforms/Transforms.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNLOWERTILEOPS
#include "attn/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

/// Replaces a key_tile_range or query_tile_range `op` by the mask
/// algebra's tileRange along `axis`.
template <typename Op>
static LogicalResult lowerTileRange(RewriterBase &rewriter, Op op,
                                    ::attn::mask::Axis axis, Value begin,
                                    Value end, int64_t block) {
  rewriter.setInsertionPoint(op);
  MaskIRCtx ctx(rewriter, op.getLoc(), op.getCuSeqlens(), op.getSeqLen());
  auto r = ::attn::mask::tileRange(ctx, op.getMask().getSpec(), axis, begin,
                                   end, block);
  rewriter.replaceOp(op, ValueRange{r.begin, r.fullBegin, r.fullEnd, r.end,
                                    r.docs.first, r.docs.last});
  return success();
}

LogicalResult mlir::attn::lowerKeyTileRange(RewriterBase &rewriter,
                                            KeyTileRangeOp op) {
  return lowerTileRange(rewriter, op, ::attn::mask::Axis::KeysOfQueryTile,
                        op.getQBegin(), op.getQEnd(), op.getBlockK());
}

LogicalResult mlir::attn::lowerQueryTileRange(RewriterBase &rewriter,
                                              QueryTileRangeOp op) {
  return lowerTileRange(rewriter, op, ::attn::mask::Axis::QueriesOfKeyTile,
                        op.getKBegin(), op.getKEnd(), op.getBlockQ());
}

/// The optional `within [first, last]` of row_interval / col_interval.
template <typename Op>
static std::optional<::attn::mask::DocRange<Value>> withinOf(Op op) {
  if (!op.getDocFirst())
    return std::nullopt;
  return ::attn::mask::DocRange<Value>{op.getDocFirst(), op.getDocLast()};
}

LogicalResult mlir::attn::lowerRowInterval(RewriterBase &rewriter,
                                           RowIntervalOp op) {
  rewriter.setInsertionPoint(op);
  MaskIRCtx ctx(rewriter, op.getLoc(), op.getCuSeqlens(), op.getSeqLen());
  auto r = ::attn::mask::rowInterval(ctx, op.getMask().getSpec(), op.getRow(),
                                     withinOf(op));
  rewriter.replaceOp(op, ValueRange{r.lo, r.hi});
  return success();
}

LogicalResult mlir::attn::lowerColInterval(RewriterBase &rewriter,
                                           ColIntervalOp op) {
  rewriter.setInsertionPoint(op);
  MaskIRCtx ctx(rewriter, op.getLoc(), op.getCuSeqlens(), op.getSeqLen());
  auto r = ::attn::mask::colInterval(ctx, op.getMask().getSpec(), op.getCol(),
                                     withinOf(op));
  rewriter.replaceOp(op, ValueRange{r.lo, r.hi});
  return success();
}

namespace {
struct AttnLowerTileOpsPass
    : public mlir::attn::impl::AttnLowerTileOpsBase<AttnLowerTileOpsPass> {
  void runOnOperation() override {
    IRRewriter rewriter(&getContext());
    WalkResult result = getOperation()->walk([&](Operation *op) {
      LogicalResult r = success();
      if (auto range = dyn_cast<KeyTileRangeOp>(op))
        r = lowerKeyTileRange(rewriter, range);
      else if (auto range = dyn_cast<QueryTileRangeOp>(op))
        r = lowerQueryTileRange(rewriter, range);
      else if (auto row = dyn_cast<RowIntervalOp>(op))
        r = lowerRowInterval(rewriter, row);
      else if (auto col = dyn_cast<ColIntervalOp>(op))
        r = lowerColInterval(rewriter, col);
      return failed(r) ? WalkResult::interrupt() : WalkResult::advance();
    });
    if (result.wasInterrupted())
      signalPassFailure();
  }
};
} // namespace
