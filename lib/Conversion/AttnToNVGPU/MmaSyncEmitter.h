//===- MmaSyncEmitter.h - kernels on mma.sync m16n8k16 --------*- C++ -*-===//
//
// The mma.sync flavour of the kernel emitter (MmaSync.cpp): warp-level
// tensor cores (sm_80 and later), ldmatrix fragments from padded shared
// memory. The backward kernel (Backward.cpp) derives from it for its
// products.
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTONVGPU_MMASYNCEMITTER_H
#define ATTN_LIB_CONVERSION_ATTNTONVGPU_MMASYNCEMITTER_H

#include "KernelEmitter.h"

#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

namespace mlir::attn::nvidia {

class MmaSyncEmitter : public KernelEmitter {
public:
  using KernelEmitter::KernelEmitter;

protected:
  void setUpLanes() override;
  void viewTiles() override;
  std::pair<Value, SmallVector<Value>> unitDest(Tile tile, Value stage, Value r,
                                                Value u) override;
  std::pair<Value, SmallVector<Value>> elementAt(Tile tile, Value stage,
                                                 Value r, Value c) override;
  AccTiles gemm(const Operand &a, const Operand &b, int64_t n, int64_t k,
                const AccTiles *acc) override;

  /// Register i of an ldmatrix result.
  Value fragReg(Value frag, int64_t i) {
    return mmaOperand(vector::ExtractOp::create(b, loc, frag, i));
  }
  Value ldmatrix(Value smem, ValueRange indices, bool transpose) {
    return nvgpu::LdMatrixOp::create(b, loc, VectorType::get({4, 2}, elt), smem,
                                     indices, transpose, 4);
  }
  Acc mma(ArrayRef<Value> a, ArrayRef<Value> bRegs, const Acc &c);
  /// An ldmatrix .x4 of a tile at (row, col) of this lane's matrix row.
  Value ldmatrixAt(Tile tile, Value stage, Value row, Value col,
                   bool transpose);
  /// A's fragment for m-tile `mt`, 16-k step `kk`.
  SmallVector<Value> aFragment(const Operand &a, int64_t mt, int64_t kk);
  /// B's two fragments (the ldmatrix of four registers) for columns
  /// 16 n2 .. + 15, 16-k step `kk`.
  Value bFragments(const Operand &b, int64_t n2, int64_t kk);

  /// The memref holding `tile` and the indices before (row, column) in it
  /// (its part `stage`, for a tile of several).
  std::pair<Value, SmallVector<Value>> tileAt(Tile tile, Value stage);

  /// The views of the tiles, by Tile: [stages,] rows x padded row.
  std::array<Value, kTileKinds> views;
  // ldmatrix: this lane addresses row mRow of matrix (mHi, mLo).
  Value mRow, mLo, mHi;
  /// First query row (within the tile) of this warp.
  Value warpRow0;
};

} // namespace mlir::attn::nvidia

#endif // ATTN_LIB_CONVERSION_ATTNTONVGPU_MMASYNCEMITTER_H
