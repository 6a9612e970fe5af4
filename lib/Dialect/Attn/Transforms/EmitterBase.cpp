//===- EmitterBase.cpp - what every attention emitter shares --------------===//

#include "attn/Dialect/Attn/Transforms/EmitterBase.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::attn;

AttentionEmitterBase::AttentionEmitterBase(OpBuilder &b, Location loc,
                                           AttentionOp op)
    : b(b), loc(loc), op(op), elt(op.getElementType()), f32(b.getF32Type()),
      numHeads(op.getNumHeads()), numKvHeads(op.getNumKvHeads()),
      headDim(op.getHeadDim()), valueDim(op.getValueDim()) {}

Value AttentionEmitterBase::idx(int64_t v) {
  return arith::ConstantIndexOp::create(b, loc, v);
}

Value AttentionEmitterBase::f32Const(double v) {
  return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(float(v)));
}

Value AttentionEmitterBase::negInf() {
  return f32Const(-std::numeric_limits<double>::infinity());
}

Value AttentionEmitterBase::softmaxShift(Value m) {
  Value none =
      arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, m, negInf());
  return arith::SelectOp::create(b, loc, none, f32Const(0.0), m);
}

Value AttentionEmitterBase::inverseSum(Value l) {
  Value empty = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, l,
                                      f32Const(0.0));
  return arith::SelectOp::create(
      b, loc, empty, f32Const(0.0),
      arith::DivFOp::create(b, loc, f32Const(1.0), l));
}

Value AttentionEmitterBase::logSumExp(Value m, Value l, Value log2l) {
  Value empty = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, l,
                                      f32Const(0.0));
  Value lse = arith::MulFOp::create(b, loc,
                                    arith::AddFOp::create(b, loc, m, log2l),
                                    f32Const(std::log(2.0)));
  return arith::SelectOp::create(b, loc, empty, negInf(), lse);
}
