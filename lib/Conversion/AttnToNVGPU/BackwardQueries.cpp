//===- BackwardQueries.cpp - the backward's query tiles and query items ---===//
//
// What the backward kernel (BackwardEmitter.h) does with a query tile: its
// copies, each row's delta and score shift, P and dS element by element,
// the rows' stores; and, with `deterministic`, the query items after the
// key items: query tile qt of head h (longest first), its Q and dO tiles,
// deltas and shifts once, then for each key tile attn.key_tile_range
// names, K and V copied in and each warp, owning 16 queries, computing
// S = Q K^T, P, dP = dO V^T, dS and dQ += dS K. Then dQ (times the scale)
// is stored.
//===----------------------------------------------------------------------===//

#include "BackwardEmitter.h"
#include "MmaSyncEmitter.h"
#include "WgmmaEmitter.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::nvidia;

template <typename F>
void BackwardEmitter<F>::loadQueryTile(Value q0) {
  copyRows(Tile::Q, Value(), q0);
  copyRows(Tile::DO, Value(), q0);
  NVVM::CpAsyncCommitGroupOp::create(b, loc);
  waitCopies(0);
  // Two threads per row: each sums dO o O over half of its columns (dO
  // from its tile, O from global memory: no tile for one use), the pair's
  // shuffle adds the halves; one writes delta, the other the shift. A row
  // past T sums nothing.
  int64_t half = valueDim / 2;
  Value row = divu(tid, 2), side = remu(tid, 2);
  Value col0 = mul(side, idx(half));
  Value q = add(q0, row);
  VectorType pair = VectorType::get({2}, elt),
             pairF32 = VectorType::get({2}, f32);
  auto ifRow = scf::IfOp::create(b, loc, TypeRange{f32},
                                 cmp(arith::CmpIPredicate::slt, q, tokens),
                                 /*withElse=*/true);
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(ifRow.thenBlock());
    Value sum = f32Const(0.0);
    for (int64_t c = 0; c < half; c += 2) {
      Value col = add(col0, idx(c));
      auto widen = [&](Value v) {
        return arith::ExtFOp::create(b, loc, pairF32, v).getResult();
      };
      // (An even column of a row of an even number of elements: one
      // aligned 4-byte load each, not two 2-byte ones.)
      auto [doutTile, at] = elementAt(Tile::DO, Value(), row, col);
      Value dout = vector::LoadOp::create(b, loc, pair, doutTile, at,
                                          /*nontemporal=*/false,
                                          llvm::MaybeAlign(4));
      Value out = vector::LoadOp::create(b, loc, pair, outBuf,
                                         ValueRange{q, queryHead, col},
                                         /*nontemporal=*/false,
                                         llvm::MaybeAlign(4));
      Value prod = arith::MulFOp::create(b, loc, widen(dout), widen(out));
      for (int64_t i = 0; i < 2; ++i)
        sum = fadd(sum, vector::ExtractOp::create(b, loc, prod, i));
    }
    scf::YieldOp::create(b, loc, sum);
    b.setInsertionPointToStart(ifRow.elseBlock());
    scf::YieldOp::create(b, loc, f32Const(0.0));
  }
  Value sum = ifRow.getResult(0);
  sum = fadd(sum, gpu::ShuffleOp::create(b, loc, sum, 1, 32,
                                         gpu::ShuffleMode::XOR)
                      .getShuffleResult());
  // The shift: lse in the log2 domain, +inf past T and for a row with no
  // allowed key (lse = -inf), so that its P is exp2(-inf) = 0.
  Value inf = f32Const(std::numeric_limits<double>::infinity());
  auto ifInside = scf::IfOp::create(
      b, loc, TypeRange{f32}, cmp(arith::CmpIPredicate::slt, q, tokens),
      /*withElse=*/true);
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(ifInside.thenBlock());
    Value lse =
        memref::LoadOp::create(b, loc, lseBuf, ValueRange{queryHead, q});
    Value none =
        arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, lse, negInf());
    scf::YieldOp::create(
        b, loc,
        select(none, inf, fmul(lse, f32Const(1.0 / std::log(2.0)))));
    b.setInsertionPointToStart(ifInside.elseBlock());
    scf::YieldOp::create(b, loc, inf);
  }
  auto ifFirst = scf::IfOp::create(
      b, loc, cmp(arith::CmpIPredicate::eq, side, idx(0)), /*withElse=*/true);
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(ifFirst.thenBlock());
    memref::StoreOp::create(b, loc, sum, sDelta, ValueRange{row});
    b.setInsertionPointToStart(ifFirst.elseBlock());
    memref::StoreOp::create(b, loc, ifInside.getResult(0), sShift,
                            ValueRange{row});
  }
  gpu::BarrierOp::create(b, loc);
}

/// Calls body(r, col, n, j) for every accumulator element of a slice.
static void forEachElement(
    size_t slices, function_ref<void(int64_t, int64_t, int64_t)> body) {
  for (size_t n = 0; n < slices; ++n)
    for (int64_t j = 0; j < 4; ++j)
      body(j / 2, int64_t(n), j);
}

template <typename F>
Scores BackwardEmitter<F>::probabilities(
    const Scores &s, bool masked, function_ref<Value(int64_t, Value)> allowed,
    function_ref<Value(int64_t, Value)> shift) {
  Value c = f32Const(scale / std::log(2.0));
  Scores p = s;
  forEachElement(s[0].size(), [&](int64_t r, int64_t n, int64_t j) {
    Value col = add(idx(n * 8 + j % 2), sliceCol);
    Value e = exp2(math::FmaOp::create(
        b, loc, s[0][n][j], c, arith::NegFOp::create(b, loc, shift(r, col))));
    p[0][n][j] = masked ? select(allowed(r, col), e, f32Const(0.0)) : e;
  });
  return p;
}

template <typename F>
Scores BackwardEmitter<F>::scoreGrads(
    const Scores &p, const Scores &dp,
    function_ref<Value(int64_t, Value)> delta) {
  Scores ds = dp;
  forEachElement(p[0].size(), [&](int64_t r, int64_t n, int64_t j) {
    Value col = add(idx(n * 8 + j % 2), sliceCol);
    ds[0][n][j] = fmul(p[0][n][j], arith::SubFOp::create(b, loc, dp[0][n][j],
                                                         delta(r, col)));
  });
  return ds;
}

template <typename F>
void BackwardEmitter<F>::storeRows(const AccTiles &acc, int64_t cols,
                                   double factor, Value buf, Value h,
                                   ArrayRef<Value> rows, Value col0) {
  Value f = f32Const(factor);
  Value col = col0 ? add(col0, sliceCol) : sliceCol;
  for (int i = 0; i < 2; ++i)
    ifRowInside(rows[i], [&] {
      for (int64_t n = 0; n < cols / 8; ++n) {
        Value x = acc[0][n][2 * i], y = acc[0][n][2 * i + 1];
        if (factor != 1.0)
          x = fmul(x, f), y = fmul(y, f);
        Value pair = truncPair(x, y);
        vector::StoreOp::create(
            b, loc, pair, buf,
            ValueRange{rows[i], h, add(idx(int64_t(n) * 8), col)});
      }
    });
}

template <typename F>
void BackwardEmitter<F>::emitQueryItem(Value block) {
  Value q0 = mul(queryItem(block), idx(cfg.blockQ()));
  Value q1 = arith::MinSIOp::create(b, loc, add(q0, idx(cfg.blockQ())), tokens);
  queryHead = head;
  auto range =
      KeyTileRangeOp::create(b, loc, cuBuf, tokens, q0, q1, mask, cfg.blockK);
  auto [fullBegin, fullEnd] =
      wholeFullTiles(range.getFullBegin(), range.getFullEnd());
  loadQueryTile(q0);
  // This thread's two rows: their keys (partial tiles), shifts and deltas.
  SmallVector<Value> rows = threadRows(q0, tid), lo, hi, shifts, deltas;
  for (Value row : rows) {
    auto interval = RowIntervalOp::create(b, loc, cuBuf, tokens, row,
                                          range.getDocFirst(),
                                          range.getDocLast(), mask);
    lo.push_back(toI32(interval.getLo()));
    hi.push_back(toI32(interval.getHi()));
    Value local = sub(row, q0);
    shifts.push_back(memref::LoadOp::create(b, loc, sShift, local));
    deltas.push_back(memref::LoadOp::create(b, loc, sDelta, local));
  }
  Value zero = f32Const(0.0);
  int64_t dqN = productColumns(dkCols);
  AccTiles dq(1, SmallVector<Acc>(dqN / 8, Acc{zero, zero, zero, zero}));
  SmallVector<Value> result = tileLoops(
      range.getBegin(), fullBegin, fullEnd, range.getEnd(), flatten(dq),
      [&](Value kt, bool masked, ValueRange carried) {
        AccTiles dqAcc = unflatten(carried, 1, dqN / 8);
        setThread(opaqueTid());
        Value k0 = mul(kt, idx(cfg.blockK));
        copyRows(Tile::K, Value(), k0);
        copyRows(Tile::V, Value(), k0);
        NVVM::CpAsyncCommitGroupOp::create(b, loc);
        waitCopies(0);
        // S, P, dP = dO V^T, dS, then dQ += dS K (K read MN-major).
        Scores s = gemm(Operand::shared(Tile::Q, Value(), true),
                        Operand::shared(Tile::K, Value(), true), cfg.blockK,
                        headDim, nullptr);
        Scores p = probabilities(
            s, masked,
            [&](int64_t r, Value col) {
              Value key = toI32(add(k0, col));
              return arith::AndIOp::create(
                         b, loc, cmp(arith::CmpIPredicate::sge, key, lo[r]),
                         cmp(arith::CmpIPredicate::slt, key, hi[r]))
                  .getResult();
            },
            [&](int64_t r, Value) { return shifts[r]; });
        Scores dp = gemm(Operand::shared(Tile::DO, Value(), true),
                         Operand::shared(Tile::V, Value(), true), cfg.blockK,
                         valueDim, nullptr);
        Scores ds =
            scoreGrads(p, dp, [&](int64_t r, Value) { return deltas[r]; });
        Packed dsPacked = pack(ds);
        dqAcc = gemm(Operand::registers(operands(dsPacked)),
                     Operand::shared(Tile::K, Value(), false)
                         .fromColumn(partColumn(dkCols)),
                     dqN, cfg.blockK, &dqAcc);
        // The next tile's copies overwrite K and V.
        gpu::BarrierOp::create(b, loc);
        return flatten(dqAcc);
      });
  // The thread's rows afresh: nothing of them kept through the loops.
  setThread(opaqueTid());
  rows = threadRows(mul(queryItem(opaqueBlockId()), idx(cfg.blockQ())), tid);
  storeRows(unflatten(result, 1, dqN / 8), dkCols, scale, dqBuf, head, rows,
            partColumn(dkCols));
}

// The members defined here, for both flavours (Backward.cpp instantiates
// the rest).
#define INSTANTIATE_QUERY_MEMBERS(Flavour)                                     \
  template void BackwardEmitter<Flavour>::loadQueryTile(Value);                \
  template Scores BackwardEmitter<Flavour>::probabilities(                     \
      const Scores &, bool, function_ref<Value(int64_t, Value)>,               \
      function_ref<Value(int64_t, Value)>);                                    \
  template Scores BackwardEmitter<Flavour>::scoreGrads(                        \
      const Scores &, const Scores &, function_ref<Value(int64_t, Value)>);    \
  template void BackwardEmitter<Flavour>::storeRows(                           \
      const AccTiles &, int64_t, double, Value, Value, ArrayRef<Value>,        \
      Value);                                                                  \
  template void BackwardEmitter<Flavour>::emitQueryItem(Value);
INSTANTIATE_QUERY_MEMBERS(MmaSyncEmitter)
INSTANTIATE_QUERY_MEMBERS(WgmmaEmitter)
