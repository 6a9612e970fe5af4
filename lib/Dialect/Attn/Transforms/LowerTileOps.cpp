//===- LowerTileOps.cpp - attn.key_tile_range / row_interval to arith ----===//

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

LogicalResult mlir::attn::lowerKeyTileRange(RewriterBase &rewriter,
                                            KeyTileRangeOp op) {
  rewriter.setInsertionPoint(op);
  MaskIRCtx ctx(rewriter, op.getLoc(), op.getCuSeqlens(), op.getSeqLen());
  auto r =
      ::attn::mask::keyTileRange(ctx, op.getMask().getSpec(), op.getQBegin(),
                                 op.getQEnd(), op.getBlockK());
  rewriter.replaceOp(op, ValueRange{r.begin, r.fullBegin, r.fullEnd, r.end,
                                    r.docs.first, r.docs.last});
  return success();
}

LogicalResult mlir::attn::lowerRowInterval(RewriterBase &rewriter,
                                           RowIntervalOp op) {
  rewriter.setInsertionPoint(op);
  MaskIRCtx ctx(rewriter, op.getLoc(), op.getCuSeqlens(), op.getSeqLen());
  std::optional<::attn::mask::DocRange<Value>> within;
  if (op.getDocFirst())
    within = ::attn::mask::DocRange<Value>{op.getDocFirst(), op.getDocLast()};
  auto r = ::attn::mask::rowInterval(ctx, op.getMask().getSpec(), op.getRow(),
                                     within);
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
      else if (auto row = dyn_cast<RowIntervalOp>(op))
        r = lowerRowInterval(rewriter, row);
      return failed(r) ? WalkResult::interrupt() : WalkResult::advance();
    });
    if (result.wasInterrupted())
      signalPassFailure();
  }
};
} // namespace
