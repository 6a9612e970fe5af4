//===- MaskIR.cpp - the mask algebra, instantiated on MLIR values ---------===//

#include "attn/Dialect/Attn/Transforms/MaskIR.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::attn;

Value MaskIRCtx::constant(int64_t v) {
  return arith::ConstantIndexOp::create(b, loc, v);
}
Value MaskIRCtx::add(Value a, Value c) {
  return arith::AddIOp::create(b, loc, a, c);
}
Value MaskIRCtx::sub(Value a, Value c) {
  return arith::SubIOp::create(b, loc, a, c);
}
Value MaskIRCtx::min(Value a, Value c) {
  return arith::MinSIOp::create(b, loc, a, c);
}
Value MaskIRCtx::max(Value a, Value c) {
  return arith::MaxSIOp::create(b, loc, a, c);
}
Value MaskIRCtx::floorDiv(Value a, int64_t c) {
  return arith::DivUIOp::create(b, loc, a, constant(c));
}
Value MaskIRCtx::ceilDiv(Value a, int64_t c) {
  return arith::CeilDivUIOp::create(b, loc, a, constant(c));
}
Value MaskIRCtx::selectEq(Value a, Value c, Value t, Value f) {
  Value eq = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, a, c);
  return arith::SelectOp::create(b, loc, eq, t, f);
}

Value MaskIRCtx::load(Value i) {
  Value v = isa<MemRefType>(cu.getType())
                ? Value(memref::LoadOp::create(b, loc, cu, i))
                : Value(tensor::ExtractOp::create(b, loc, cu, i));
  return arith::IndexCastOp::create(b, loc, b.getIndexType(), v);
}

Value MaskIRCtx::numEntries() {
  if (isa<MemRefType>(cu.getType()))
    return memref::DimOp::create(b, loc, cu, 0);
  return tensor::DimOp::create(b, loc, cu, 0);
}

std::pair<Value, Value> MaskIRCtx::docBounds(Value q) {
  // ub = first i in [0, N + 1) with cu[i] > q, by binary search.
  Value n = numEntries();
  Type idx = b.getIndexType();
  auto loop = scf::WhileOp::create(
      b, loc, TypeRange{idx, idx}, ValueRange{constant(0), n},
      [&](OpBuilder &nb, Location l, ValueRange args) {
        Value more = arith::CmpIOp::create(nb, l, arith::CmpIPredicate::ult,
                                           args[0], args[1]);
        scf::ConditionOp::create(nb, l, more, args);
      },
      [&](OpBuilder &nb, Location l, ValueRange args) {
        MaskIRCtx inner(nb, l, cu, tokens);
        Value mid = arith::ShRUIOp::create(
            nb, l, inner.add(args[0], args[1]), inner.constant(1));
        Value le = arith::CmpIOp::create(nb, l, arith::CmpIPredicate::sle,
                                         inner.load(mid), q);
        Value lo = arith::SelectOp::create(
            nb, l, le, inner.add(mid, inner.constant(1)), args[0]);
        Value hi = arith::SelectOp::create(nb, l, le, args[1], mid);
        scf::YieldOp::create(nb, l, ValueRange{lo, hi});
      });
  // For a valid cu_seqlens and 0 <= q < T, ub lies in [1, N]; clamping keeps
  // the two loads in bounds whatever the data.
  Value ub = min(max(loop.getResult(0), constant(1)),
                 max(sub(n, constant(1)), constant(1)));
  return {load(sub(ub, constant(1))), load(ub)};
}
