//===- Epilogue.cpp - O and lse to global memory ----------------------------===//
//
// The epilogue: O (st.global, or a TMA store through a shared tile) and
// lse to global memory.
//===----------------------------------------------------------------------===//

#include "KernelEmitter.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
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

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::nvidia;

void KernelEmitter::storeOutput(Value q0, Value thread, ArrayRef<Value> rows,
                                ArrayRef<Value> inverses, const AccTiles &o) {
  // O's columns past Dv (wgmma's whole 64-column blocks) are not stored;
  // an empty asm uses them, for dead wgmma accumulators make ptxas
  // serialize the wgmma pipeline (C7511).
  SmallVector<Value> unstored;
  for (const SmallVector<Acc> &slices : o)
    for (int64_t n = valueDim / 8; n < nvt(); ++n)
      llvm::append_range(unstored, slices[n]);
  (void)fenceRegisters(unstored);
  // O's pair n of (m-tile, half) r: columns 8n + 2t, 8n + 2t + 1.
  auto pairOf = [&](int64_t mt, int i, int64_t n) {
    Value inv = inverses[mt * 2 + i];
    return std::make_pair(fmul(o[mt][n][2 * i], inv),
                          fmul(o[mt][n][2 * i + 1], inv));
  };
  if (!cfg.tmaStore()) {
    for (int64_t mt = 0; mt < cfg.mTiles; ++mt)
      for (int i = 0; i < 2; ++i) {
        Value row = rows[mt * 2 + i];
        ifRowInside(row, [&] {
          for (int64_t n = 0; n < valueDim / 8; ++n) {
            auto [x, y] = pairOf(mt, i, n);
            Value pair = truncPair(x, y);
            vector::StoreOp::create(
                b, loc, pair, outBuf,
                ValueRange{row, head, add(idx(n * 8), keyCol0)});
          }
        });
      }
    return;
  }
  // The warpgroup's rows of the shared O tile, once its previous store has
  // read them (persistent blocks), then its storer's TMA store.
  Value wg = divu(thread, 128);
  Value barrierId = toI32(add(wg, idx(GPUKernelConfig::kEpilogueBarrier)));
  auto meet = [&] {
    NVVM::BarrierOp::create(b, loc, TypeRange{}, barrierId, i32Const(128), {},
                            Value{});
  };
  if (cfg.persistent())
    waitStores(thread, /*readOnly=*/true);
  meet();
  Value quadBytes = toI32(mul(quad, idx(4)));
  for (int64_t mt = 0; mt < cfg.mTiles; ++mt)
    for (int i = 0; i < 2; ++i)
      for (int64_t n = 0; n < valueDim / 8; ++n) {
        auto [x, y] = pairOf(mt, i, n);
        Value addr = arith::AddIOp::create(
            b, loc, outputUnitAddress(sub(rows[mt * 2 + i], q0), idx(n)),
            quadBytes);
        ptx::storeShared32(b, loc, addr, asI32(pack(x, y)));
      }
  // The generic proxy's writes visible to the TMA unit's reads.
  NVVM::FenceProxyOp::create(
      b, loc, NVVM::ProxyKind::async_shared,
      NVVM::SharedSpaceAttr::get(b.getContext(),
                                 NVVM::SharedSpace::shared_cta));
  meet();
  asStorer(thread, [&] {
    int64_t boxCols = GPUKernelConfig::kBoxColumns;
    Value firstRow = mul(wg, idx(cfg.storeRows()));
    Value row0 = toI32(add(q0, firstRow)), headI32 = toI32(head);
    for (int64_t box = 0; box < GPUKernelConfig::boxesPerRow(valueDim); ++box)
      ptx::tmaStore3d(b, loc, oMap, {i32Const(box * boxCols), headI32, row0},
                      outputUnitAddress(firstRow, idx(box * boxCols / 8)));
    ptx::bulkCommitGroup(b, loc);
  });
}

void KernelEmitter::asStorer(Value thread, function_ref<void()> body) {
  auto ifStorer = scf::IfOp::create(
      b, loc, cmp(arith::CmpIPredicate::eq, remu(thread, 128), idx(0)),
      /*withElse=*/false);
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(ifStorer.thenBlock());
  body();
}

void KernelEmitter::waitStores(Value thread, bool readOnly) {
  asStorer(thread, [&] {
    ptx::bulkWaitGroup(b, loc, readOnly);
  });
}
