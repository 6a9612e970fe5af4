//===- Copies.cpp - tiles into shared memory --------------------------------===//
//
// How Q, K and V tiles reach shared memory: 16-byte cp.async copies by
// the copying threads, or TMA boxes through tensor maps.
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
#include <optional>

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::nvidia;

KernelEmitter::TileSource KernelEmitter::source(Tile tile) {
  switch (tile) {
  case Tile::Q:
    return {qBuf, qMap, head, cfg.blockQ(), headDim};
  case Tile::K:
    return {kBuf, kMap, kvHead, cfg.blockK, headDim};
  case Tile::V:
    return {vBuf, vMap, kvHead, cfg.blockK, valueDim};
  case Tile::DO:
  case Tile::DS:
    break;
  }
  llvm_unreachable("unknown tile");
}

void KernelEmitter::copyRows(Tile tile, Value stage, Value row0) {
  TileSource from = source(tile);
  int64_t rows = from.rows;
  int64_t nthreads = cfg.tileCopiers(rows, from.cols);
  int64_t unitsPerRow = from.cols / 8, units = rows * unitsPerRow;
  // Copy i of a copying thread moves unit u of row r0 + i * rowStep: every
  // pass of the copiers covers whole rows and each moves the same number
  // of units (tileCopiers; checked by gpuTileAttention), so the copies of
  // one thread differ by constant offsets (one base register). checked:
  // rows past T are zero-filled (a source size of 0 from row 0) instead of
  // read; only a ragged last tile needs it.
  int64_t rowStep = nthreads / unitsPerRow;
  Value r0 = divu(copyTid, unitsPerRow), u = remu(copyTid, unitsPerRow);
  Value col = mul(u, idx(8));
  auto copies = [&](bool checked) {
    for (int64_t i = 0; i < units / nthreads; ++i) {
      Value r = add(r0, idx(i * rowStep));
      Value srcRow = add(row0, r), n;
      if (checked) {
        Value inside = cmp(arith::CmpIPredicate::slt, srcRow, tokens);
        srcRow = select(inside, srcRow, idx(0));
        n = select(inside, idx(8), idx(0));
      }
      auto [dstBuf, dstIdx] = unitDest(tile, stage, r, u);
      nvgpu::DeviceAsyncCopyOp::create(
          b, loc, nvgpu::DeviceAsyncTokenType::get(b.getContext()), dstBuf,
          dstIdx, from.buf, ValueRange{srcRow, from.head, col},
          b.getIndexAttr(8), n, b.getUnitAttr());
    }
  };
  // Threads past the copiers (D = 80, 96, 192) copy nothing.
  std::optional<OpBuilder::InsertionGuard> idle;
  if (nthreads < cfg.copyThreads()) {
    auto ifCopier = scf::IfOp::create(
        b, loc, cmp(arith::CmpIPredicate::ult, copyTid, idx(nthreads)),
        /*withElse=*/false);
    idle.emplace(b);
    b.setInsertionPointToStart(ifCopier.thenBlock());
  }
  // mma.sync and kernels short of registers: one path only (the second
  // path's addresses push the D = 128 kernels, at 255 registers, into
  // spills).
  if (cfg.mma == TensorCoreOp::MmaSync || scarceRegisters)
    return copies(/*checked=*/true);
  Value whole = cmp(arith::CmpIPredicate::sle, add(row0, idx(rows)), tokens);
  auto ifOp = scf::IfOp::create(b, loc, whole, /*withElse=*/true);
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(ifOp.thenBlock());
  copies(/*checked=*/false);
  b.setInsertionPointToStart(ifOp.elseBlock());
  copies(/*checked=*/true);
}

Value KernelEmitter::tileAddress(Tile, Value) {
  llvm_unreachable("this tensor-core flavour has no TMA layout");
}

Value KernelEmitter::outputUnitAddress(Value, Value) {
  llvm_unreachable("this tensor-core flavour has no TMA layout");
}

void KernelEmitter::loadTile(Tile tile, Value stage, Value row0,
                             Value fullBarrier) {
  TileSource from = source(tile);
  int64_t boxCols = GPUKernelConfig::kBoxColumns,
          boxes = GPUKernelConfig::boxesPerRow(from.cols);
  int64_t boxBytes = from.rows * boxCols * elt.getIntOrFloatBitWidth() / 8;
  // The whole tile's bytes, rows past T and columns past D (D = 80, 96)
  // included (the box is zero-filled there and still counts them).
  ptx::mbarrierArriveExpectTx(b, loc, fullBarrier, boxes * boxBytes);
  Value base =
      arith::TruncIOp::create(b, loc, b.getI32Type(), tileAddress(tile, stage));
  Value headI32 = toI32(from.head), rowI32 = toI32(row0);
  for (int64_t box = 0; box < boxes; ++box) {
    Value dst = arith::AddIOp::create(b, loc, base, i32Const(box * boxBytes));
    ptx::tmaLoad3d(b, loc, dst, from.map,
                   {i32Const(box * boxCols), headI32, rowI32}, fullBarrier);
  }
}

void KernelEmitter::copyQ(Value q0) { copyRows(Tile::Q, Value(), q0); }

void KernelEmitter::copyK(Value kt, Value stage) {
  copyRows(Tile::K, stage, mul(kt, idx(cfg.blockK)));
}

void KernelEmitter::copyV(Value kt, Value stage) {
  copyRows(Tile::V, stage, mul(kt, idx(cfg.blockK)));
}

void KernelEmitter::copyKV(Value kt, Value stage) {
  copyK(kt, stage);
  copyV(kt, stage);
}
