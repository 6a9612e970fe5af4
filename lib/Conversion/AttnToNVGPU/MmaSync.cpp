//===- MmaSync.cpp - the attention kernel on mma.sync m16n8k16 ------------===//
//
// Warp-level tensor cores (sm_80 and later). Each warp owns cfg.mTiles
// 16-row slices; every K/V fragment read from shared memory feeds all of
// them. Shared-memory rows are padded by cfg.pad elements so the eight
// rows an ldmatrix reads fall in different banks.
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

#include "KernelEmitter.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::nvidia;

namespace {

class MmaSyncEmitter : public KernelEmitter {
public:
  using KernelEmitter::KernelEmitter;

private:
  void setUpLanes() override;
  void viewTiles() override;
  std::pair<Value, SmallVector<Value>> unitDest(Tile tile, Value stage, Value r,
                                                Value u) override;
  Scores scores(Value stage) override;
  void accumulatePV(POperands p, Value stage, AccTiles &o) override;

  /// Register i of an ldmatrix result.
  Value fragReg(Value frag, int64_t i) {
    return mmaOperand(vector::ExtractOp::create(b, loc, frag, i));
  }
  Value ldmatrix(Value smem, ValueRange indices, bool transpose) {
    return nvgpu::LdMatrixOp::create(b, loc, VectorType::get({4, 2}, elt), smem,
                                     indices, transpose, 4);
  }
  Acc mma(ArrayRef<Value> a, ArrayRef<Value> bRegs, const Acc &c);
  /// The A operand of Q for m-tile `mt`, k-step `kk` (from shared memory).
  SmallVector<Value> qFragment(int64_t mt, int64_t kk);

  Value sQ, sK, sV;
  // ldmatrix: this lane addresses row mRow of matrix (mHi, mLo).
  Value mRow, mLo, mHi;
  /// First query row (within the tile) of this warp.
  Value warpRow0;
};

} // namespace

void MmaSyncEmitter::setUpLanes() {
  Value mIdx = divu(lane, 8);
  mRow = remu(lane, 8);
  mLo = remu(mIdx, 2);
  mHi = divu(mIdx, 2);
  warpRow0 = mul(warp, idx(16 * cfg.mTiles));
}

void MmaSyncEmitter::viewTiles() {
  int64_t bq = cfg.blockQ(), bk = cfg.blockK;
  int64_t dp = headDim + cfg.pad, dvp = valueDim + cfg.pad;
  sQ = sharedView(shared.q.offset, {bq, dp});
  sK = sharedView(shared.k.offset, {2, bk, dp});
  sV = sharedView(shared.v.offset, {2, bk, dvp});
}

std::pair<Value, SmallVector<Value>>
MmaSyncEmitter::unitDest(Tile tile, Value stage, Value r, Value u) {
  Value col = mul(u, idx(8));
  if (tile == Tile::Q)
    return {sQ, {r, col}};
  return {tile == Tile::K ? sK : sV, {stage, r, col}};
}

Acc MmaSyncEmitter::mma(ArrayRef<Value> a, ArrayRef<Value> bRegs,
                        const Acc &c) {
  auto structType = LLVM::LLVMStructType::getLiteral(b.getContext(),
                                                     SmallVector<Type>(4, f32));
  NVVM::MMATypes t = elt.isBF16() ? NVVM::MMATypes::bf16 : NVVM::MMATypes::f16;
  auto res = NVVM::MmaOp::create(
      b, loc, structType, a, bRegs, ValueRange(c), {16, 8, 16}, std::nullopt,
      std::nullopt, std::array<NVVM::MMATypes, 2>{t, t},
      std::array<NVVM::MMALayout, 2>{NVVM::MMALayout::row,
                                     NVVM::MMALayout::col});
  Acc r;
  for (int64_t i = 0; i < 4; ++i)
    r[i] = LLVM::ExtractValueOp::create(b, loc, res, i);
  return r;
}

SmallVector<Value> MmaSyncEmitter::qFragment(int64_t mt, int64_t kk) {
  Value r = add(warpRow0, add(idx(mt * 16), add(mul(mLo, idx(8)), mRow)));
  Value c = add(idx(kk * 16), mul(mHi, idx(8)));
  Value frag = ldmatrix(sQ, ValueRange{r, c}, /*transpose=*/false);
  return {fragReg(frag, 0), fragReg(frag, 1), fragReg(frag, 2),
          fragReg(frag, 3)};
}

Scores MmaSyncEmitter::scores(Value stage) {
  int64_t bk = cfg.blockK, mTiles = cfg.mTiles;
  Value zero = f32Const(0.0);
  Scores s(mTiles, SmallVector<Acc>(bk / 8, Acc{zero, zero, zero, zero}));
  // Each K fragment feeds every m-tile.
  for (int64_t kk = 0; kk < headDim / 16; ++kk) {
    SmallVector<SmallVector<Value>> q;
    for (int64_t mt = 0; mt < mTiles; ++mt)
      q.push_back(qFragment(mt, kk));
    for (int64_t n2 = 0; n2 < bk / 16; ++n2) {
      Value key = add(idx(n2 * 16), add(mul(mHi, idx(8)), mRow));
      Value d = add(idx(kk * 16), mul(mLo, idx(8)));
      Value frag = ldmatrix(sK, ValueRange{stage, key, d}, false);
      Value b0 = fragReg(frag, 0), b1 = fragReg(frag, 1), b2 = fragReg(frag, 2),
            b3 = fragReg(frag, 3);
      for (int64_t mt = 0; mt < mTiles; ++mt) {
        s[mt][2 * n2] = mma(q[mt], {b0, b1}, s[mt][2 * n2]);
        s[mt][2 * n2 + 1] = mma(q[mt], {b2, b3}, s[mt][2 * n2 + 1]);
      }
    }
  }
  return s;
}

void MmaSyncEmitter::accumulatePV(POperands p, Value stage, AccTiles &o) {
  // Each V fragment feeds every m-tile.
  for (int64_t kk = 0; kk < cfg.blockK / 16; ++kk) {
    SmallVector<SmallVector<Value>> a;
    for (int64_t mt = 0; mt < cfg.mTiles; ++mt)
      a.push_back(p(mt, kk));
    for (int64_t n2 = 0; n2 < valueDim / 16; ++n2) {
      Value key = add(idx(kk * 16), add(mul(mLo, idx(8)), mRow));
      Value col = add(idx(n2 * 16), mul(mHi, idx(8)));
      Value frag = ldmatrix(sV, ValueRange{stage, key, col}, true);
      for (int64_t h = 0; h < 2; ++h) {
        Value b0 = fragReg(frag, 2 * h), b1 = fragReg(frag, 2 * h + 1);
        int64_t n = 2 * n2 + h;
        for (int64_t mt = 0; mt < cfg.mTiles; ++mt) {
          o[mt][n] = mma(a[mt], {b0, b1}, o[mt][n]);
        }
      }
    }
  }
}

std::unique_ptr<KernelEmitter> mlir::attn::nvidia::createMmaSyncEmitter(
    OpBuilder &b, Location loc, AttentionOp op, const GPUKernelConfig &cfg) {
  return std::make_unique<MmaSyncEmitter>(b, loc, op, cfg);
}
