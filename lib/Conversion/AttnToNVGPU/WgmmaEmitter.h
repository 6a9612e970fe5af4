//===- WgmmaEmitter.h - kernels on Hopper's wgmma.mma_async ----*- C++ -*-===//
//
// The wgmma flavour of the kernel emitter (Wgmma.cpp): warpgroup-level
// tensor cores (sm_90a) reading 128-byte-swizzled shared memory through
// matrix descriptors. The backward kernel (BackwardEmitter.h) derives from
// it on sm_90a.
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTONVGPU_WGMMAEMITTER_H
#define ATTN_LIB_CONVERSION_ATTNTONVGPU_WGMMAEMITTER_H

#include "KernelEmitter.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"

namespace mlir::attn::nvidia {

class WgmmaEmitter : public KernelEmitter {
public:
  using KernelEmitter::KernelEmitter;

protected:
  void viewTiles() override;
  std::pair<Value, SmallVector<Value>> unitDest(Tile tile, Value stage, Value r,
                                                Value u) override;
  std::pair<Value, SmallVector<Value>> elementAt(Tile tile, Value stage,
                                                 Value r, Value c) override;
  Value tileAddress(Tile tile, Value stage) override;
  Value outputUnitAddress(Value r, Value u) override;
  void fenceCopies() override;
  PendingGemm issueGemm(const Operand &a, const Operand &b, int64_t n,
                        int64_t k, const AccTiles *acc) override;
  void waitMma(int64_t pending) override;

private:
  int64_t eltBytes() const { return elt.getIntOrFloatBitWidth() / 8; }
  /// The 16-byte unit of (row r, unit column u) in a swizzled tile of
  /// `rows` rows.
  Value swizzledUnit(Value r, Value u, int64_t rows);
  /// A descriptor of the 128-byte-swizzle layout at shared address `addr`
  /// (i64) with the given leading and stride byte offsets.
  Value descriptor(Value addr, int64_t leadingBytes, int64_t strideBytes);
  /// The descriptor of shared operand `op` (the A operand, if `isA`) at
  /// its first k, and how far its 16-k step `kk` starts from there.
  Value operandDescriptor(const Operand &op, bool isA);
  int64_t stepBytes(const Operand &op, int64_t kk);
  /// Rows of the tile an operand reads.
  int64_t operandRows(const Operand &op) const {
    return tileRegion(op.tile).rows;
  }
  /// `desc` with its start address advanced by `bytes`.
  Value advance(Value desc, int64_t bytes);
  Value i64Const(int64_t v) {
    return arith::ConstantIntOp::create(b, loc, b.getI64Type(), v);
  }
  LLVM::LLVMStructType accType(int64_t n) {
    return LLVM::LLVMStructType::getLiteral(b.getContext(),
                                            SmallVector<Type>(n / 2, f32));
  }

  /// The tiles as 16-byte-unit views, and their shared-window addresses
  /// (i64) for the descriptors, by Tile.
  std::array<Value, kTileKinds> views, addresses;
  /// The O tile of a TMA store (cfg.tmaStore()), laid out as Q's.
  Value oAddr;
};

} // namespace mlir::attn::nvidia

#endif // ATTN_LIB_CONVERSION_ATTNTONVGPU_WGMMAEMITTER_H
