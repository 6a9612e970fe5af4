//===- LowerSequenceOps.cpp - the sequence helpers as tensor code ---------===//

#include "attn/Dialect/Attn/Transforms/MaskIR.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"
#include "attn/Dialect/Attn/Transforms/Transforms.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNLOWERSEQUENCEOPS
#include "attn/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

/// Converts an index to `type` (an integer type).
static Value castIndex(OpBuilder &b, Location loc, Value v, Type type) {
  return arith::IndexCastOp::create(b, loc, type, v);
}

LogicalResult mlir::attn::lowerDocPositions(RewriterBase &rewriter,
                                            DocPositionsOp op) {
  Location loc = op.getLoc();
  rewriter.setInsertionPoint(op);
  auto resultType = cast<RankedTensorType>(op.getType());
  Value cu = op.getCuSeqlens();
  // T = cu[N].
  MaskIRCtx top(rewriter, loc, cu, Value());
  Value numTokens = top.load(top.sub(top.numEntries(), top.constant(1)));
  SmallVector<Value> dynamicSizes;
  if (resultType.isDynamicDim(0))
    dynamicSizes.push_back(numTokens);
  auto gen = tensor::GenerateOp::create(
      rewriter, loc, resultType, dynamicSizes,
      [&](OpBuilder &b, Location l, ValueRange ivs) {
        MaskIRCtx ctx(b, l, cu, numTokens);
        Value pos = ::attn::mask::docPosition(ctx, ivs[0]);
        tensor::YieldOp::create(
            b, l, castIndex(b, l, pos, resultType.getElementType()));
      });
  rewriter.replaceOp(op, gen.getResult());
  return success();
}

LogicalResult
mlir::attn::lowerSegmentsFromSeparators(RewriterBase &rewriter,
                                        SegmentsFromSeparatorsOp op) {
  Location loc = op.getLoc();
  rewriter.setInsertionPoint(op);
  OpBuilder &b = rewriter;
  Value tokens = op.getTokens();
  auto tokenType = cast<RankedTensorType>(tokens.getType());
  auto resultType = cast<RankedTensorType>(op.getType());
  Type outElt = resultType.getElementType();
  Type idx = b.getIndexType();
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value one = arith::ConstantIndexOp::create(b, loc, 1);
  Value sep = arith::ConstantOp::create(
      b, loc, b.getIntegerAttr(tokenType.getElementType(), op.getSeparator()));
  Value numTokens = tensor::DimOp::create(b, loc, tokens, 0);

  auto isSep = [&](OpBuilder &nb, Location l, Value i) -> Value {
    Value tok = tensor::ExtractOp::create(nb, l, tokens, i);
    return arith::CmpIOp::create(nb, l, arith::CmpIPredicate::eq, tok, sep);
  };

  // Pass 1: number of separators.
  auto count = scf::ForOp::create(
      b, loc, zero, numTokens, one, ValueRange{zero},
      [&](OpBuilder &nb, Location l, Value i, ValueRange acc) {
        Value inc = arith::SelectOp::create(
            nb, l, isSep(nb, l, i), arith::ConstantIndexOp::create(nb, l, 1),
            arith::ConstantIndexOp::create(nb, l, 0));
        scf::YieldOp::create(nb, l,
                             ValueRange{arith::AddIOp::create(nb, l, acc[0],
                                                              inc)});
      });
  // A trailing document without separator counts too.
  Value nonEmpty =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ugt, numTokens, zero);
  auto trailing = scf::IfOp::create(
      b, loc, nonEmpty,
      [&](OpBuilder &nb, Location l) {
        Value last = arith::SubIOp::create(nb, l, numTokens, one);
        Value open = arith::XOrIOp::create(
            nb, l, isSep(nb, l, last),
            arith::ConstantIntOp::create(nb, l, nb.getI1Type(), 1));
        scf::YieldOp::create(nb, l, ValueRange{open});
      },
      [&](OpBuilder &nb, Location l) {
        scf::YieldOp::create(
            nb, l,
            ValueRange{arith::ConstantIntOp::create(nb, l, nb.getI1Type(), 0)});
      });
  Value numDocs = arith::AddIOp::create(
      b, loc, count.getResult(0),
      arith::IndexCastUIOp::create(b, loc, idx, trailing.getResult(0)));

  // Pass 2: cu[0] = 0, cu[d] = 1 + position of the d-th separator,
  // cu[N] = T (padded: cu[N..T] = T).
  Value size = arith::AddIOp::create(
      b, loc, op.getPadded() ? numTokens : numDocs, one);
  auto dynType = RankedTensorType::get({ShapedType::kDynamic}, outElt);
  Value init = tensor::EmptyOp::create(b, loc, dynType, ValueRange{size});
  init = tensor::InsertOp::create(b, loc, castIndex(b, loc, zero, outElt),
                                  init, ValueRange{zero});
  auto fill = scf::ForOp::create(
      b, loc, zero, numTokens, one, ValueRange{init, one},
      [&](OpBuilder &nb, Location l, Value i, ValueRange acc) {
        auto ifSep = scf::IfOp::create(
            nb, l, isSep(nb, l, i),
            [&](OpBuilder &tb, Location tl) {
              Value end = arith::AddIOp::create(tb, tl, i, one);
              Value t = tensor::InsertOp::create(
                  tb, tl, castIndex(tb, tl, end, outElt), acc[0],
                  ValueRange{acc[1]});
              Value d = arith::AddIOp::create(tb, tl, acc[1], one);
              scf::YieldOp::create(tb, tl, ValueRange{t, d});
            },
            [&](OpBuilder &eb, Location el) {
              scf::YieldOp::create(eb, el, acc);
            });
        scf::YieldOp::create(nb, l, ifSep.getResults());
      });
  Value end = castIndex(b, loc, numTokens, outElt);
  Value result = tensor::InsertOp::create(b, loc, end, fill.getResult(0),
                                          ValueRange{numDocs});
  if (op.getPadded())
    result = scf::ForOp::create(
                 b, loc, arith::AddIOp::create(b, loc, numDocs, one), size,
                 one, ValueRange{result},
                 [&](OpBuilder &nb, Location l, Value i, ValueRange acc) {
                   scf::YieldOp::create(
                       nb, l,
                       ValueRange{tensor::InsertOp::create(nb, l, end, acc[0],
                                                           ValueRange{i})});
                 })
                 .getResult(0);
  if (result.getType() != resultType)
    result = tensor::CastOp::create(b, loc, resultType, result);
  rewriter.replaceOp(op, result);
  return success();
}

LogicalResult mlir::attn::lowerCheckCuSeqlens(RewriterBase &rewriter,
                                              CheckCuSeqlensOp op) {
  Location loc = op.getLoc();
  rewriter.setInsertionPoint(op);
  OpBuilder &b = rewriter;
  Value cu = op.getCuSeqlens();
  MaskIRCtx top(b, loc, cu, op.getTokens());
  Value zero = top.constant(0), one = top.constant(1);
  auto any = scf::ForOp::create(
      b, loc, zero, top.numEntries(), one, ValueRange{zero},
      [&](OpBuilder &nb, Location l, Value i, ValueRange acc) {
        MaskIRCtx ctx(nb, l, cu, op.getTokens());
        Value e = ::attn::mask::cuSeqlensEntryError(ctx, i, op.getTokens());
        scf::YieldOp::create(nb, l, ValueRange{ctx.max(acc[0], e)});
      });
  // errors | 1 if an entry breaks a rule, else errors.
  Value before = tensor::ExtractOp::create(b, loc, op.getErrors(), zero);
  Value bad = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne,
                                    any.getResult(0), zero);
  Value set = arith::OrIOp::create(
      b, loc, before, arith::ConstantIntOp::create(b, loc, b.getI32Type(), 1));
  Value record = arith::SelectOp::create(b, loc, bad, set, before);
  rewriter.replaceOp(op, tensor::FromElementsOp::create(b, loc, op.getType(),
                                                        ValueRange{record}));
  return success();
}

namespace {
struct AttnLowerSequenceOpsPass
    : public mlir::attn::impl::AttnLowerSequenceOpsBase<
          AttnLowerSequenceOpsPass> {
  void runOnOperation() override {
    IRRewriter rewriter(&getContext());
    WalkResult result = getOperation()->walk([&](Operation *op) {
      LogicalResult r = success();
      if (auto pos = dyn_cast<DocPositionsOp>(op))
        r = lowerDocPositions(rewriter, pos);
      else if (auto seg = dyn_cast<SegmentsFromSeparatorsOp>(op))
        r = lowerSegmentsFromSeparators(rewriter, seg);
      else if (auto check = dyn_cast<CheckCuSeqlensOp>(op))
        r = lowerCheckCuSeqlens(rewriter, check);
      return failed(r) ? WalkResult::interrupt() : WalkResult::advance();
    });
    if (result.wasInterrupted())
      signalPassFailure();
  }
};
} // namespace
