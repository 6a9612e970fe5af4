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

#include "MmaSyncEmitter.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::nvidia;

void MmaSyncEmitter::setUpLanes() {
  Value mIdx = divu(lane, 8);
  mRow = remu(lane, 8);
  mLo = remu(mIdx, 2);
  mHi = divu(mIdx, 2);
  warpRow0 = mul(warp, idx(16 * cfg.mTiles));
}

void MmaSyncEmitter::viewTiles() {
  // [stages,] rows x padded row.
  for (int t = 0; t < kTileKinds; ++t) {
    const TileRegion &tile = tiles[t];
    if (!tile.region.allocated())
      continue;
    SmallVector<int64_t> shape{tile.rows, cfg.rowElements(tile.cols)};
    if (tile.region.stages > 1)
      shape.insert(shape.begin(), tile.region.stages);
    views[t] = sharedView(tile.region.offset, shape);
  }
}

std::pair<Value, SmallVector<Value>> MmaSyncEmitter::tileAt(Tile tile,
                                                           Value stage) {
  assert(tileRegion(tile).region.allocated() && "a tile the kernel has");
  if (tileRegion(tile).region.stages == 1)
    return {views[int(tile)], {}};
  return {views[int(tile)], {stage}};
}

std::pair<Value, SmallVector<Value>>
MmaSyncEmitter::unitDest(Tile tile, Value stage, Value r, Value u) {
  Value col = mul(u, idx(8));
  auto [memref, indices] = tileAt(tile, stage);
  indices.append({r, col});
  return {memref, indices};
}

std::pair<Value, SmallVector<Value>>
MmaSyncEmitter::elementAt(Tile tile, Value stage, Value r, Value c) {
  auto [memref, indices] = tileAt(tile, stage);
  indices.append({r, c});
  return {memref, indices};
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

Value MmaSyncEmitter::ldmatrixAt(Tile tile, Value stage, Value row, Value col,
                                 bool transpose) {
  auto [memref, indices] = tileAt(tile, stage);
  indices.append({row, col});
  return ldmatrix(memref, indices, transpose);
}

SmallVector<Value> MmaSyncEmitter::aFragment(const Operand &a, int64_t mt,
                                             int64_t kk) {
  if (a.inRegisters())
    return a.fragments(mt, kk);
  // Matrices (mLo, mHi): rows +8 mLo of this m-tile, k +8 mHi. K-major
  // tile rows are those rows; MN-major tile rows are k, read transposed.
  Value frag;
  if (a.kMajor) {
    Value r = add(warpRow0, add(idx(mt * 16), add(mul(mLo, idx(8)), mRow)));
    Value c = add(idx(kk * 16), mul(mHi, idx(8)));
    frag = ldmatrixAt(a.tile, a.stage, r, c, /*transpose=*/false);
  } else {
    Value k = add(idx(kk * 16), add(mul(mHi, idx(8)), mRow));
    Value m = add(warpRow0, add(idx(mt * 16), mul(mLo, idx(8))));
    frag = ldmatrixAt(a.tile, a.stage, k, m, /*transpose=*/true);
  }
  return {fragReg(frag, 0), fragReg(frag, 1), fragReg(frag, 2),
          fragReg(frag, 3)};
}

Value MmaSyncEmitter::bFragments(const Operand &bOp, int64_t n2, int64_t kk) {
  assert(!bOp.inRegisters() && "B comes from shared memory");
  // Registers (0, 1): columns 16 n2 .. + 7, (2, 3): the next eight; each
  // pair k 16 kk .. + 7, then + 8. K-major rows are columns: matrices
  // (mLo, mHi) at k +8 mLo, columns +8 mHi. MN-major rows are k, read
  // transposed: k +8 mLo, columns +8 mHi.
  if (bOp.kMajor) {
    assert(!bOp.firstColumn && "a first column is an MN-major B's");
    Value col = add(idx(n2 * 16), add(mul(mHi, idx(8)), mRow));
    Value k = add(idx(kk * 16), mul(mLo, idx(8)));
    return ldmatrixAt(bOp.tile, bOp.stage, col, k, /*transpose=*/false);
  }
  Value k = add(idx(kk * 16), add(mul(mLo, idx(8)), mRow));
  Value col = add(idx(n2 * 16), mul(mHi, idx(8)));
  if (bOp.firstColumn)
    col = add(col, bOp.firstColumn);
  return ldmatrixAt(bOp.tile, bOp.stage, k, col, /*transpose=*/true);
}

AccTiles MmaSyncEmitter::gemm(const Operand &a, const Operand &bOp, int64_t n,
                              int64_t k, const AccTiles *acc) {
  int64_t mTiles = cfg.mTiles;
  Value zero = f32Const(0.0);
  AccTiles c = acc ? *acc
                   : AccTiles(mTiles, SmallVector<Acc>(
                                          n / 8, Acc{zero, zero, zero, zero}));
  // Each B fragment feeds every m-tile.
  for (int64_t kk = 0; kk < k / 16; ++kk) {
    SmallVector<SmallVector<Value>> af;
    for (int64_t mt = 0; mt < mTiles; ++mt)
      af.push_back(aFragment(a, mt, kk));
    for (int64_t n2 = 0; n2 < n / 16; ++n2) {
      Value frag = bFragments(bOp, n2, kk);
      auto step = [&](int64_t mt, int64_t h, Value b0, Value b1) {
        c[mt][2 * n2 + h] = mma(af[mt], {b0, b1}, c[mt][2 * n2 + h]);
      };
      // (The order the measured kernels were built in: per m-tile with A
      // from shared memory, per half of B with A from registers.)
      if (!a.inRegisters()) {
        Value r[4] = {fragReg(frag, 0), fragReg(frag, 1), fragReg(frag, 2),
                      fragReg(frag, 3)};
        for (int64_t mt = 0; mt < mTiles; ++mt)
          for (int64_t h = 0; h < 2; ++h)
            step(mt, h, r[2 * h], r[2 * h + 1]);
        continue;
      }
      for (int64_t h = 0; h < 2; ++h) {
        Value b0 = fragReg(frag, 2 * h), b1 = fragReg(frag, 2 * h + 1);
        for (int64_t mt = 0; mt < mTiles; ++mt)
          step(mt, h, b0, b1);
      }
    }
  }
  return c;
}

std::unique_ptr<KernelEmitter> mlir::attn::nvidia::createMmaSyncEmitter(
    OpBuilder &b, Location loc, AttentionOp op, const GPUKernelConfig &cfg) {
  return std::make_unique<MmaSyncEmitter>(b, loc, op, cfg);
}
