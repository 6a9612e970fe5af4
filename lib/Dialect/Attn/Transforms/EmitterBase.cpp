//===- EmitterBase.cpp - what every attention emitter shares --------------===//

#include "attn/Dialect/Attn/Transforms/EmitterBase.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::attn;

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

void AttentionEmitterBase::countTiles(StringRef counts, Value head,
                                      Value begin, Value fullBegin,
                                      Value fullEnd, Value end) {
  if (counts.empty())
    return;
  Value isHead0 =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, head, idx(0));
  auto ifOp = scf::IfOp::create(b, loc, isHead0, /*withElse=*/false);
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(ifOp.thenBlock());
  Value global = memref::GetGlobalOp::create(
      b, loc, MemRefType::get({3}, b.getI64Type()), counts);
  Value full = arith::SubIOp::create(b, loc, fullEnd, fullBegin);
  Value visited = arith::SubIOp::create(b, loc, end, begin);
  Value partial = arith::SubIOp::create(b, loc, visited, full);
  for (auto [i, n] : llvm::enumerate(SmallVector<Value>{visited, partial, full}))
    memref::AtomicRMWOp::create(
        b, loc, arith::AtomicRMWKind::addi,
        arith::IndexCastOp::create(b, loc, b.getI64Type(), n), global,
        ValueRange{idx(int64_t(i))});
}
