//===- GPUTileAttention.cpp - attn.attention -> tensor-core kernel --------===//
//
// The NVIDIA lowering of the tiled, fused attention: one thread block per
// (query tile, head), four warps of 16 rows, mma.sync m16n8k16.
//
// Fragment layouts (PTX ISA, mma.m16n8k16 with .row.col): lane l, t = l % 4,
// g = l / 4.
//   A (16x16): a0 = A[g][2t..2t+1], a1 = A[g+8][2t..], a2 = A[g][2t+8..],
//              a3 = A[g+8][2t+8..]
//   B (16x8):  b0 = B[2t..2t+1][g], b1 = B[2t+8..2t+9][g]
//   C (16x8):  c0, c1 = C[g][2t..2t+1], c2, c3 = C[g+8][2t..2t+1]
// ldmatrix .x4 loads four 8x8 matrices; lane l gives the address of row
// l % 8 of matrix l / 8 and receives, from matrix i, row g, columns 2t..2t+1
// in register i (with .trans: rows 2t..2t+1, column g).
//===----------------------------------------------------------------------===//

#include "attn/Conversion/AttnToNVGPU/AttnToNVGPU.h"
#include "attn/Dialect/Attn/Transforms/EmitterBase.h"
#include "attn/Dialect/Attn/Transforms/Transforms.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <cmath>
#include <limits>

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNGPUTILEATTENTION
#include "attn/Conversion/AttnToNVGPU/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

/// Four f32 accumulators of one m16n8 tile.
using Acc = std::array<Value, 4>;

class KernelEmitter : public AttentionEmitterBase {
public:
  KernelEmitter(OpBuilder &b, Location loc, AttentionOp op,
                const GPUKernelConfig &cfg)
      : AttentionEmitterBase(b, loc, op), cfg(cfg) {}

  void emit(Value q, Value k, Value v, Value cu, Value out, Value lse);

private:
  // Scalars.
  Value add(Value x, Value y) { return arith::AddIOp::create(b, loc, x, y); }
  Value sub(Value x, Value y) { return arith::SubIOp::create(b, loc, x, y); }
  Value mul(Value x, Value y) { return arith::MulIOp::create(b, loc, x, y); }
  Value cmp(arith::CmpIPredicate p, Value x, Value y) {
    return arith::CmpIOp::create(b, loc, p, x, y);
  }
  Value select(Value c, Value x, Value y) {
    return arith::SelectOp::create(b, loc, c, x, y);
  }
  Value fmax(Value x, Value y) {
    return arith::MaximumFOp::create(b, loc, x, y);
  }
  Value fmul(Value x, Value y) { return arith::MulFOp::create(b, loc, x, y); }
  Value fadd(Value x, Value y) { return arith::AddFOp::create(b, loc, x, y); }
  /// ex2.approx / lg2.approx: what the hardware's MUFU computes.
  Value ptxUnary(StringRef code, Value x) {
    return NVVM::InlinePtxOp::create(b, loc, TypeRange{f32}, ValueRange{x},
                                     ValueRange{}, code, Value())
        .getResult(0);
  }
  Value exp2(Value x) { return ptxUnary("ex2.approx.ftz.f32 $0, $1;", x); }
  Value log2(Value x) { return ptxUnary("lg2.approx.ftz.f32 $0, $1;", x); }
  /// Max or sum over the four lanes that share a row.
  Value quadReduce(Value x, bool isMax) {
    for (int32_t offset : {1, 2}) {
      Value other = gpu::ShuffleOp::create(b, loc, x, offset, 32,
                                           gpu::ShuffleMode::XOR)
                        .getShuffleResult();
      x = isMax ? fmax(x, other) : fadd(x, other);
    }
    return x;
  }

  // Tensor cores.
  /// A register of an mma operand from two 16-bit values (vector<2xT>).
  Value mmaOperand(Value pair) {
    if (elt.isBF16())
      return LLVM::BitcastOp::create(b, loc, b.getI32Type(), pair);
    return pair;
  }
  /// Register i of an ldmatrix result.
  Value fragReg(Value frag, int64_t i) {
    return mmaOperand(vector::ExtractOp::create(b, loc, frag, i));
  }
  Value ldmatrix(Value smem, ValueRange indices, bool transpose) {
    return nvgpu::LdMatrixOp::create(b, loc, VectorType::get({4, 2}, elt),
                                     smem, indices, transpose, 4);
  }
  Acc mma(ArrayRef<Value> a, ArrayRef<Value> bRegs, const Acc &c);
  /// Packs two f32 into one A-operand register of the input type.
  Value pack(Value x, Value y) {
    Value v = vector::FromElementsOp::create(
        b, loc, VectorType::get({2}, f32), ValueRange{x, y});
    return mmaOperand(
        arith::TruncFOp::create(b, loc, VectorType::get({2}, elt), v));
  }

  /// Copies rows [row0, row0 + rows) of src[:, srcHead, 0:cols] into
  /// dst[dstPrefix..., :, :] with 16-byte cp.async, spread over all
  /// threads; rows past T are zero-filled (and never read from global).
  void copyRows(Value dst, ValueRange dstPrefix, Value src, Value row0,
                Value srcHead, int64_t rows, int64_t cols);
  /// K and V of key tile `kt` into shared-memory stage `stage`.
  void copyKV(Value kt, Value stage);

  /// One key tile: S = QK^T, mask (if `masked`), online softmax, O += PV.
  SmallVector<Value> emitKeyTile(Value kt, ValueRange carried, bool masked);
  SmallVector<Value> emitLoop(Value lb, Value ub, ValueRange init,
                              bool masked);

  const GPUKernelConfig &cfg;

  Value kBuf, vBuf, tokens, tid, lane, warp, head, kvHead, beginTile, endTile;
  Value sK, sV;
  Value sQ, warpRow0;
  // Key intervals of this thread's rows, per (m-tile, half).
  SmallVector<Value> rowLo, rowHi;
  Value quad, mRow, mLo, mHi, keyCol0;

  // Layout of the carried state: O accumulators, row max, row sum.
  int64_t nvt() const { return valueDim / 8; }
  int64_t oIdx(int64_t mt, int64_t n, int64_t j) const {
    return (mt * nvt() + n) * 4 + j;
  }
  int64_t maxIdx(int64_t mt, int64_t i) const {
    return cfg.mTiles * nvt() * 4 + mt * 2 + i;
  }
  int64_t sumIdx(int64_t mt, int64_t i) const {
    return cfg.mTiles * nvt() * 4 + cfg.mTiles * 2 + mt * 2 + i;
  }
  /// The A operand of Q for m-tile `mt`, k-step `kk` (from shared memory).
  SmallVector<Value> qFragment(int64_t mt, int64_t kk);
};

} // namespace

Acc KernelEmitter::mma(ArrayRef<Value> a, ArrayRef<Value> bRegs,
                       const Acc &c) {
  auto structType = LLVM::LLVMStructType::getLiteral(
      b.getContext(), SmallVector<Type>(4, f32));
  NVVM::MMATypes t = elt.isBF16() ? NVVM::MMATypes::bf16 : NVVM::MMATypes::f16;
  auto res = NVVM::MmaOp::create(
      b, loc, structType, a, bRegs, ValueRange(c), {16, 8, 16},
      std::nullopt, std::nullopt, std::array<NVVM::MMATypes, 2>{t, t},
      std::array<NVVM::MMALayout, 2>{NVVM::MMALayout::row,
                                     NVVM::MMALayout::col});
  Acc r;
  for (int64_t i = 0; i < 4; ++i)
    r[i] = LLVM::ExtractValueOp::create(b, loc, res, i);
  return r;
}

void KernelEmitter::copyRows(Value dst, ValueRange dstPrefix, Value src,
                             Value row0, Value srcHead, int64_t rows,
                             int64_t cols) {
  int64_t nthreads = cfg.threads();
  int64_t chunksPerRow = cols / 8, chunks = rows * chunksPerRow;
  for (int64_t i = 0; i < chunks / nthreads; ++i) {
    Value c = add(tid, idx(i * nthreads));
    Value r = arith::DivUIOp::create(b, loc, c, idx(chunksPerRow));
    Value col =
        mul(arith::RemUIOp::create(b, loc, c, idx(chunksPerRow)), idx(8));
    Value g = add(row0, r);
    Value inside = cmp(arith::CmpIPredicate::slt, g, tokens);
    Value srcRow = select(inside, g, idx(0));
    Value n = select(inside, idx(8), idx(0));
    SmallVector<Value> dstIdx(dstPrefix.begin(), dstPrefix.end());
    dstIdx.append({r, col});
    nvgpu::DeviceAsyncCopyOp::create(
        b, loc, nvgpu::DeviceAsyncTokenType::get(b.getContext()), dst, dstIdx,
        src, ValueRange{srcRow, srcHead, col}, b.getIndexAttr(8), n,
        b.getUnitAttr());
  }
}

void KernelEmitter::copyKV(Value kt, Value stage) {
  Value k0 = mul(kt, idx(cfg.blockK));
  copyRows(sK, {stage}, kBuf, k0, kvHead, cfg.blockK, headDim);
  copyRows(sV, {stage}, vBuf, k0, kvHead, cfg.blockK, valueDim);
}

SmallVector<Value> KernelEmitter::emitLoop(Value lb, Value ub,
                                           ValueRange init, bool masked) {
  auto forOp = scf::ForOp::create(b, loc, lb, ub, idx(1), init);
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(forOp.getBody());
  SmallVector<Value> next =
      emitKeyTile(forOp.getInductionVar(), forOp.getRegionIterArgs(), masked);
  scf::YieldOp::create(b, loc, next);
  return SmallVector<Value>(forOp.getResults().begin(),
                            forOp.getResults().end());
}

SmallVector<Value> KernelEmitter::qFragment(int64_t mt, int64_t kk) {
  Value r = add(warpRow0, add(idx(mt * 16), add(mul(mLo, idx(8)), mRow)));
  Value c = add(idx(kk * 16), mul(mHi, idx(8)));
  Value frag = ldmatrix(sQ, ValueRange{r, c}, /*transpose=*/false);
  return {fragReg(frag, 0), fragReg(frag, 1), fragReg(frag, 2),
          fragReg(frag, 3)};
}

SmallVector<Value> KernelEmitter::emitKeyTile(Value kt, ValueRange carried,
                                              bool masked) {
  int64_t bk = cfg.blockK, mTiles = cfg.mTiles;
  Value stage = arith::RemUIOp::create(b, loc, sub(kt, beginTile), idx(2));

  // Prefetch the next tile into the other stage, then wait for this one.
  {
    Value next = add(kt, idx(1));
    Value more = cmp(arith::CmpIPredicate::slt, next, endTile);
    auto ifOp = scf::IfOp::create(b, loc, more, /*withElse=*/false);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(ifOp.thenBlock());
    copyKV(next, sub(idx(1), stage));
  }
  NVVM::CpAsyncCommitGroupOp::create(b, loc);
  NVVM::CpAsyncWaitGroupOp::create(b, loc, b.getI32IntegerAttr(1));
  gpu::BarrierOp::create(b, loc);

  // S = Q K^T on tensor cores; each K fragment feeds every m-tile.
  Value zero = f32Const(0.0);
  // s[mt][n]: the m16n8 tile n of m-tile mt.
  SmallVector<SmallVector<Acc>> s(
      mTiles, SmallVector<Acc>(bk / 8, Acc{zero, zero, zero, zero}));
  for (int64_t kk = 0; kk < headDim / 16; ++kk) {
    SmallVector<SmallVector<Value>> q;
    for (int64_t mt = 0; mt < mTiles; ++mt)
      q.push_back(qFragment(mt, kk));
    for (int64_t n2 = 0; n2 < bk / 16; ++n2) {
      Value key = add(idx(n2 * 16), add(mul(mHi, idx(8)), mRow));
      Value d = add(idx(kk * 16), mul(mLo, idx(8)));
      Value frag = ldmatrix(sK, ValueRange{stage, key, d}, false);
      Value b0 = fragReg(frag, 0), b1 = fragReg(frag, 1),
            b2 = fragReg(frag, 2), b3 = fragReg(frag, 3);
      for (int64_t mt = 0; mt < mTiles; ++mt) {
        s[mt][2 * n2] = mma(q[mt], {b0, b1}, s[mt][2 * n2]);
        s[mt][2 * n2 + 1] = mma(q[mt], {b2, b3}, s[mt][2 * n2 + 1]);
      }
    }
  }

  // Partial tiles only: keys outside each row's interval get -inf.
  if (masked) {
    Value k0 = mul(kt, idx(bk));
    for (int64_t mt = 0; mt < mTiles; ++mt)
      for (int64_t n = 0; n < bk / 8; ++n)
        for (int64_t j = 0; j < 4; ++j) {
          Value key = add(k0, add(idx(n * 8 + j % 2), keyCol0));
          int64_t r = mt * 2 + j / 2;
          Value ok = arith::AndIOp::create(
              b, loc, cmp(arith::CmpIPredicate::sge, key, rowLo[r]),
              cmp(arith::CmpIPredicate::slt, key, rowHi[r]));
          s[mt][n][j] = select(ok, s[mt][n][j], negInf());
        }
  }

  // Online softmax in the log2 domain: p = exp2(s * c - m), with the scale
  // c = scale * log2(e) folded into one FMA per element.
  double scaleLog2 = op.getScaleOrDefault() / std::log(2.0);
  Value c = f32Const(scaleLog2);
  SmallVector<Value> next(carried.begin(), carried.end());
  for (int64_t mt = 0; mt < mTiles; ++mt) {
    Value alpha[2];
    for (int i = 0; i < 2; ++i) {
      Value rowMax = negInf();
      for (int64_t n = 0; n < bk / 8; ++n)
        rowMax = fmax(rowMax, fmax(s[mt][n][2 * i], s[mt][n][2 * i + 1]));
      rowMax = fmul(quadReduce(rowMax, /*isMax=*/true), c);
      Value mOld = carried[maxIdx(mt, i)];
      Value mNew = fmax(mOld, rowMax);
      Value mUse = softmaxShift(mNew);
      Value negM = arith::NegFOp::create(b, loc, mUse);
      alpha[i] = exp2(arith::SubFOp::create(b, loc, mOld, mUse));
      Value sum = f32Const(0.0);
      for (int64_t n = 0; n < bk / 8; ++n)
        for (int64_t j = 2 * i; j < 2 * i + 2; ++j) {
          s[mt][n][j] =
              exp2(math::FmaOp::create(b, loc, s[mt][n][j], c, negM));
          sum = fadd(sum, s[mt][n][j]);
        }
      next[maxIdx(mt, i)] = mNew;
      next[sumIdx(mt, i)] = fadd(fmul(carried[sumIdx(mt, i)], alpha[i]), sum);
    }
    for (int64_t n = 0; n < nvt(); ++n)
      for (int64_t j = 0; j < 4; ++j)
        next[oIdx(mt, n, j)] = fmul(carried[oIdx(mt, n, j)], alpha[j / 2]);
  }

  // O += P V: the S accumulators of two n-tiles form one A operand; each V
  // fragment feeds every m-tile.
  for (int64_t kk = 0; kk < bk / 16; ++kk) {
    SmallVector<SmallVector<Value>> p;
    for (int64_t mt = 0; mt < mTiles; ++mt) {
      const SmallVector<Acc> &t = s[mt];
      p.push_back({pack(t[2 * kk][0], t[2 * kk][1]),
                   pack(t[2 * kk][2], t[2 * kk][3]),
                   pack(t[2 * kk + 1][0], t[2 * kk + 1][1]),
                   pack(t[2 * kk + 1][2], t[2 * kk + 1][3])});
    }
    for (int64_t n2 = 0; n2 < valueDim / 16; ++n2) {
      Value key = add(idx(kk * 16), add(mul(mLo, idx(8)), mRow));
      Value col = add(idx(n2 * 16), mul(mHi, idx(8)));
      Value frag = ldmatrix(sV, ValueRange{stage, key, col}, true);
      for (int64_t h = 0; h < 2; ++h) {
        Value b0 = fragReg(frag, 2 * h), b1 = fragReg(frag, 2 * h + 1);
        int64_t n = 2 * n2 + h;
        for (int64_t mt = 0; mt < mTiles; ++mt) {
          Acc acc = {next[oIdx(mt, n, 0)], next[oIdx(mt, n, 1)],
                     next[oIdx(mt, n, 2)], next[oIdx(mt, n, 3)]};
          acc = mma(p[mt], {b0, b1}, acc);
          for (int64_t j = 0; j < 4; ++j)
            next[oIdx(mt, n, j)] = acc[j];
        }
      }
    }
  }
  // The next iteration's prefetch overwrites the stage read here.
  gpu::BarrierOp::create(b, loc);
  return next;
}

void KernelEmitter::emit(Value q, Value k, Value v, Value cu, Value out,
                         Value lse) {
  kBuf = k;
  vBuf = v;
  int64_t bq = cfg.blockQ(), bk = cfg.blockK;
  int64_t dp = headDim + cfg.pad, dvp = valueDim + cfg.pad;
  int64_t group = numHeads / numKvHeads;

  tokens = memref::DimOp::create(b, loc, q, 0);
  tid = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
  lane = arith::RemUIOp::create(b, loc, tid, idx(32));
  warp = arith::DivUIOp::create(b, loc, tid, idx(32));
  quad = arith::RemUIOp::create(b, loc, lane, idx(4));           // t
  Value groupRow = arith::DivUIOp::create(b, loc, lane, idx(4)); // g
  // ldmatrix: this lane addresses row mRow of matrix (mHi, mLo).
  Value mIdx = arith::DivUIOp::create(b, loc, lane, idx(8));
  mRow = arith::RemUIOp::create(b, loc, lane, idx(8));
  mLo = arith::RemUIOp::create(b, loc, mIdx, idx(2));
  mHi = arith::DivUIOp::create(b, loc, mIdx, idx(2));

  // Longest first: for a causal mask, later query tiles see more keys.
  Value numQTiles = arith::CeilDivUIOp::create(b, loc, tokens, idx(bq));
  Value qt = sub(sub(numQTiles, idx(1)),
                 gpu::BlockIdOp::create(b, loc, gpu::Dimension::x));
  head = gpu::BlockIdOp::create(b, loc, gpu::Dimension::y);
  kvHead = arith::DivUIOp::create(b, loc, head, idx(group));
  Value q0 = mul(qt, idx(bq));
  Value q1 = arith::MinSIOp::create(b, loc, add(q0, idx(bq)), tokens);

  // Shared memory: Q tile, then two stages of K and V (rows padded by
  // cfg.pad elements so ldmatrix rows fall in different banks).
  auto ws = gpu::AddressSpaceAttr::get(b.getContext(),
                                       gpu::AddressSpace::Workgroup);
  Value smem = gpu::DynamicSharedMemoryOp::create(
      b, loc, MemRefType::get({ShapedType::kDynamic}, b.getI8Type(),
                      MemRefLayoutAttrInterface(), ws));
  int64_t eb = elt.getIntOrFloatBitWidth() / 8;
  auto view = [&](int64_t offset, ArrayRef<int64_t> shape) -> Value {
    return memref::ViewOp::create(
        b, loc, MemRefType::get(shape, elt, MemRefLayoutAttrInterface(), ws),
        smem, idx(offset), ValueRange{});
  };
  sQ = view(0, {bq, dp});
  sK = view(eb * bq * dp, {2, bk, dp});
  sV = view(eb * (bq * dp + 2 * bk * dp), {2, bk, dvp});

  // Key tiles. The GPU treats a ragged last tile as partial: its padding
  // keys must be masked.
  Type index = b.getIndexType();
  auto range = KeyTileRangeOp::create(
      b, loc, TypeRange{index, index, index, index}, cu, tokens, q0, q1,
      op.getMask(), b.getI64IntegerAttr(bk));
  beginTile = range.getBegin();
  endTile = range.getEnd();
  Value wholeTiles = arith::DivUIOp::create(b, loc, tokens, idx(bk));
  Value fullEnd = arith::MinSIOp::create(b, loc, range.getFullEnd(),
                                         wholeTiles);
  Value fullBegin = arith::MinSIOp::create(b, loc, range.getFullBegin(),
                                           fullEnd);
  fullEnd = arith::MaxSIOp::create(b, loc, fullEnd, fullBegin);

  // Prologue: Q, then the first K/V tile, as two groups.
  copyRows(sQ, {}, q, q0, head, bq, headDim);
  NVVM::CpAsyncCommitGroupOp::create(b, loc);
  {
    Value any = cmp(arith::CmpIPredicate::slt, beginTile, endTile);
    auto ifOp = scf::IfOp::create(b, loc, any, /*withElse=*/false);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(ifOp.thenBlock());
    copyKV(beginTile, idx(0));
  }
  NVVM::CpAsyncCommitGroupOp::create(b, loc);
  NVVM::CpAsyncWaitGroupOp::create(b, loc, b.getI32IntegerAttr(1));
  gpu::BarrierOp::create(b, loc);

  // This thread's rows (g and g + 8 of each m-tile) and their key
  // intervals, for partial tiles.
  warpRow0 = mul(warp, idx(16 * cfg.mTiles));
  SmallVector<Value> rows;
  Value row0 = add(q0, add(warpRow0, groupRow));
  for (int64_t mt = 0; mt < cfg.mTiles; ++mt)
    for (int i = 0; i < 2; ++i) {
      rows.push_back(add(row0, idx(mt * 16 + 8 * i)));
      auto interval = RowIntervalOp::create(b, loc, index, index, cu, tokens,
                                            rows.back(), op.getMask());
      rowLo.push_back(interval.getLo());
      rowHi.push_back(interval.getHi());
    }
  keyCol0 = mul(quad, idx(2));

  // Carried state: O accumulators, row max (log2 domain), partial row sum.
  SmallVector<Value> state;
  for (int64_t i = 0; i < cfg.mTiles * nvt() * 4; ++i)
    state.push_back(f32Const(0.0));
  for (int64_t i = 0; i < cfg.mTiles * 2; ++i)
    state.push_back(negInf());
  for (int64_t i = 0; i < cfg.mTiles * 2; ++i)
    state.push_back(f32Const(0.0));
  state = emitLoop(beginTile, fullBegin, state, /*masked=*/true);
  state = emitLoop(fullBegin, fullEnd, state, /*masked=*/false);
  state = emitLoop(fullEnd, endTile, state, /*masked=*/true);

  // Epilogue: out = O / l, lse = ln2 * (m + log2 l).
  for (int64_t mt = 0; mt < cfg.mTiles; ++mt)
    for (int i = 0; i < 2; ++i) {
      Value row = rows[mt * 2 + i];
      Value m = state[maxIdx(mt, i)];
      Value l = quadReduce(state[sumIdx(mt, i)], /*isMax=*/false);
      Value inv = inverseSum(l);
      Value inside = cmp(arith::CmpIPredicate::slt, row, tokens);
      auto ifOp = scf::IfOp::create(b, loc, inside, /*withElse=*/false);
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPointToStart(ifOp.thenBlock());
      for (int64_t n = 0; n < nvt(); ++n) {
        Value x = fmul(state[oIdx(mt, n, 2 * i)], inv);
        Value y = fmul(state[oIdx(mt, n, 2 * i + 1)], inv);
        Value pair = vector::FromElementsOp::create(
            b, loc, VectorType::get({2}, f32), ValueRange{x, y});
        pair =
            arith::TruncFOp::create(b, loc, VectorType::get({2}, elt), pair);
        vector::StoreOp::create(b, loc, pair, out,
                                ValueRange{row, head, add(idx(n * 8), keyCol0)});
      }
      Value lseVal = logSumExp(m, l, log2(l));
      Value first = cmp(arith::CmpIPredicate::eq, quad, idx(0));
      auto ifFirst = scf::IfOp::create(b, loc, first, /*withElse=*/false);
      b.setInsertionPointToStart(ifFirst.thenBlock());
      memref::StoreOp::create(b, loc, lseVal, lse, ValueRange{head, row});
    }
}

//===----------------------------------------------------------------------===//
// Entry point and pass
//===----------------------------------------------------------------------===//

GPUKernelConfig mlir::attn::defaultGPUKernelConfig(int64_t headDim,
                                                  int64_t blockK,
                                                  StringRef chip) {
  GPUKernelConfig cfg;
  cfg.mTiles = 2;
  // Measured with ptxas -v (0 spills at 255 registers): 64-key tiles for
  // D <= 128 on sm_90a (128-key tiles spill at D = 64), 32-key tiles for
  // D = 128 on sm_8x.
  bool ampere = chip.starts_with("sm_8");
  cfg.blockK = blockK ? blockK : (ampere && headDim > 64 ? 32 : 64);
  return cfg;
}

/// The chip of the #nvvm.target of the gpu.module around `op`, or "".
static StringRef targetChip(Operation *op) {
  auto module = op->getParentOfType<gpu::GPUModuleOp>();
  if (!module || !module.getTargetsAttr())
    return "";
  for (Attribute t : module.getTargetsAttr())
    if (auto nvvm = dyn_cast<NVVM::NVVMTargetAttr>(t))
      return nvvm.getChip();
  return "";
}

LogicalResult mlir::attn::gpuTileAttention(RewriterBase &rewriter,
                                           AttentionOp op,
                                           const GPUKernelConfig &config) {
  auto func = op->getParentOfType<gpu::GPUFuncOp>();
  if (!func || !func.isKernel())
    return op.emitOpError("the NVIDIA lowering needs the op in a gpu.func "
                          "kernel");
  Type elt = op.getElementType();
  if (!elt.isBF16() && !elt.isF16())
    return op.emitOpError("the NVIDIA lowering supports f16 and bf16, got ")
           << elt;
  if (config.blockK % 16 != 0 || config.blockK < 16)
    return op.emitOpError("block_k must be a positive multiple of 16");
  SmallVector<Value> inputs;
  for (Value t : {op.getQuery(), op.getKey(), op.getValue(),
                  op.getCuSeqlens()}) {
    Value buf = getSourceBuffer(t);
    if (!buf)
      return op.emitOpError("the NVIDIA lowering needs inputs read with "
                            "bufferization.to_tensor from memrefs");
    inputs.push_back(buf);
  }
  SmallVector<Value> outputs;
  for (Value r : op->getResults()) {
    Value dest = getMaterializedDestination(op, r);
    if (!dest)
      return op.emitOpError("the NVIDIA lowering needs both results "
                            "materialized into kernel arguments");
    outputs.push_back(dest);
  }
  rewriter.setInsertionPoint(op);
  KernelEmitter(rewriter, op.getLoc(), op, config)
      .emit(inputs[0], inputs[1], inputs[2], inputs[3], outputs[0],
            outputs[1]);
  for (Value r : op->getResults())
    rewriter.eraseOp(*r.user_begin());
  rewriter.eraseOp(op);
  int32_t threads = int32_t(config.threads());
  func.setKnownBlockSizeAttr(rewriter.getDenseI32ArrayAttr({threads, 1, 1}));
  return success();
}

namespace {
struct AttnGPUTileAttentionPass
    : public mlir::attn::impl::AttnGPUTileAttentionBase<
          AttnGPUTileAttentionPass> {
  using Base::Base;
  void runOnOperation() override {
    SmallVector<AttentionOp> found;
    getOperation().walk([&](AttentionOp op) { found.push_back(op); });
    IRRewriter rewriter(&getContext());
    for (AttentionOp op : found) {
      if (failed(gpuTileAttention(
              rewriter, op,
              defaultGPUKernelConfig(op.getHeadDim(), blockK,
                                     targetChip(op)))))
        return signalPassFailure();
    }
  }
};
} // namespace
