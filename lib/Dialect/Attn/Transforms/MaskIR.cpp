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

Value MaskIRCtx::selectLt(Value a, Value c, Value t, Value f) {
  Value lt = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, a, c);
  return arith::SelectOp::create(b, loc, lt, t, f);
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

Value MaskIRCtx::lastDoc() { return sub(numEntries(), constant(2)); }

Value MaskIRCtx::cuAt(Value d) { return load(d); }

Value MaskIRCtx::docIndex(Value q, Value first, Value last,
                          ::attn::mask::DocSearch how) {
  Type idx = b.getIndexType();
  auto cmp = [](OpBuilder &nb, Location l, arith::CmpIPredicate p, Value x,
                Value y) {
    return arith::CmpIOp::create(nb, l, p, x, y).getResult();
  };
  // Every load stays in [0, N - 1] whatever the data or the window (a row
  // exists only if N >= 1).
  Value maxDoc = max(lastDoc(), constant(0));
  first = min(max(first, constant(0)), maxDoc);
  last = min(max(last, first), maxDoc);
  Value lo = first, hi = last;
  if (how == ::attn::mask::DocSearch::FromFirst) {
    // Gallop forward: probe first + 1, + 2, + 4, ... while c[probe] <= q, so a
    // document k entries on costs about 2 log2 k loads (one if q lies in
    // `first`). State (a, step) with c[a] <= q.
    auto gallop = scf::WhileOp::create(
        b, loc, TypeRange{idx, idx}, ValueRange{first, constant(1)},
        [&](OpBuilder &nb, Location l, ValueRange args) {
          MaskIRCtx in(nb, l, cu, tokens);
          Value probe = in.add(args[0], args[1]);
          Value inRange = cmp(nb, l, arith::CmpIPredicate::sle, probe, last);
          Value le = cmp(nb, l, arith::CmpIPredicate::sle,
                         in.load(in.min(probe, last)), q);
          scf::ConditionOp::create(
              nb, l, arith::AndIOp::create(nb, l, inRange, le), args);
        },
        [&](OpBuilder &nb, Location l, ValueRange args) {
          MaskIRCtx in(nb, l, cu, tokens);
          scf::YieldOp::create(
              nb, l,
              ValueRange{in.add(args[0], args[1]), in.add(args[1], args[1])});
        });
    lo = gallop.getResult(0);
    hi = min(sub(add(lo, gallop.getResult(1)), constant(1)), last);
  }
  // Bisect: the last d in [lo, hi] with c[d] <= q (no step if lo == hi).
  auto bisect = scf::WhileOp::create(
      b, loc, TypeRange{idx, idx}, ValueRange{lo, hi},
      [&](OpBuilder &nb, Location l, ValueRange args) {
        scf::ConditionOp::create(
            nb, l, cmp(nb, l, arith::CmpIPredicate::slt, args[0], args[1]),
            args);
      },
      [&](OpBuilder &nb, Location l, ValueRange args) {
        MaskIRCtx in(nb, l, cu, tokens);
        Value half = arith::ShRUIOp::create(
            nb, l, in.add(in.sub(args[1], args[0]), in.constant(1)),
            in.constant(1));
        Value mid = in.add(args[0], half);
        Value le = cmp(nb, l, arith::CmpIPredicate::sle, in.load(mid), q);
        Value nextLo = arith::SelectOp::create(nb, l, le, mid, args[0]);
        Value nextHi = arith::SelectOp::create(nb, l, le, args[1],
                                               in.sub(mid, in.constant(1)));
        scf::YieldOp::create(nb, l, ValueRange{nextLo, nextHi});
      });
  return bisect.getResult(0);
}
