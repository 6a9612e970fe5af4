//===- Kernel.cpp - the kernel from its parts -------------------------------===//
//
// The kernel: shared memory, roles (producer, compute), items, the main
// loop and the epilogue, put together.
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

void KernelEmitter::emit(Value q, Value k, Value v, Value cu, Value out,
                         Value lse, Value counter, ValueRange tensorMaps) {
  tileCounter = counter;
  if (cfg.tma()) {
    qMap = tensorMaps[0];
    kMap = tensorMaps[1];
    vMap = tensorMaps[2];
    if (cfg.tmaStore())
      oMap = tensorMaps[3];
  }
  qBuf = q;
  kBuf = k;
  vBuf = v;
  cuBuf = cu;
  outBuf = out;
  lseBuf = lse;

  tokens = memref::DimOp::create(b, loc, q, 0);
  setThreadValues(gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x));

  // The launch is a (query tiles, heads) grid, or fewer blocks (persistent);
  // blocks start in linear order (x fastest), and take the work items of
  // startItem in that order.
  numQTiles = arith::CeilDivUIOp::create(b, loc, tokens, idx(cfg.blockQ()));
  Value linear = arith::AddIOp::create(
      b, loc, toI32(gpu::BlockIdOp::create(b, loc, gpu::Dimension::x)),
      arith::MulIOp::create(
          b, loc, toI32(gpu::BlockIdOp::create(b, loc, gpu::Dimension::y)),
          toI32(gpu::GridDimOp::create(b, loc, gpu::Dimension::x))));
  // Without persistent blocks, the block's one item.
  QueryTile rows;
  if (!cfg.persistent())
    rows = startItem(linear);

  allocateShared();

  copyTid = tid;
  if (!cfg.warpSpecialized()) {
    // Q first: its copy needs no cu_seqlens, so it overlaps the searches of
    // the key-tile range.
    copyQ(rows.q0);
    NVVM::CpAsyncCommitGroupOp::create(b, loc);
    KeyTiles tiles = keyTiles(rows);
    // Then the first K/V tile (the pipelined loop: K only), as a second
    // group.
    auto ifOp = scf::IfOp::create(b, loc, tiles.any, /*withElse=*/false);
    {
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPointToStart(ifOp.thenBlock());
      if (cfg.softmaxOverlap())
        copyK(beginTile, remu(beginTile, 2));
      else
        copyKV(beginTile, remu(beginTile, 2));
    }
    NVVM::CpAsyncCommitGroupOp::create(b, loc);
    if (!cfg.softmaxOverlap())
      waitCopies(1);
    return emitCompute(rows.q0, tiles);
  }

  initBarriers();
  // Without persistent blocks, the item's key tiles are found before the
  // warpgroups part; with them, each side finds those of its items.
  std::optional<KeyTiles> tiles;
  if (!cfg.persistent())
    tiles = keyTiles(rows);
  auto eachItem = [&](bool producer,
                      function_ref<void(Value, const KeyTiles &)> body) {
    forEachItem(linear, producer, [&](Value item) {
      if (cfg.persistent()) {
        rows = startItem(item);
        tiles = keyTiles(rows);
      }
      body(rows.q0, *tiles);
    });
  };
  // The last warpgroup copies, the others compute.
  auto ifOp = scf::IfOp::create(
      b, loc, cmp(arith::CmpIPredicate::uge, warp, idx(cfg.numWarps)),
      /*withElse=*/true);
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(ifOp.thenBlock());
  NVVM::SetMaxRegisterOp::create(b, loc, GPUKernelConfig::kProducerRegisters,
                                 NVVM::SetMaxRegisterAction::decrease);
  if (cfg.tma()) {
    // One thread issues every load; the consumers' waits on the full
    // barriers cover them all before the block exits.
    auto one = scf::IfOp::create(
        b, loc, cmp(arith::CmpIPredicate::eq, tid, idx(32 * cfg.numWarps)),
        /*withElse=*/false);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(one.thenBlock());
    eachItem(/*producer=*/true,
             [&](Value q0, const KeyTiles &) { emitProducer(q0); });
  } else {
    eachItem(/*producer=*/true, [&](Value q0, const KeyTiles &) {
      // Persistent blocks: the copy addresses from a fresh read of the
      // thread index in each item, so the 56 registers need not hold them
      // through the item loop.
      copyTid = sub(cfg.persistent() ? opaqueTid() : tid, idx(32 * cfg.numWarps));
      emitProducer(q0);
    });
    // Exit with nothing in flight.
    NVVM::CpAsyncCommitGroupOp::create(b, loc);
    NVVM::CpAsyncWaitGroupOp::create(b, loc, b.getI32IntegerAttr(0));
  }

  b.setInsertionPointToStart(ifOp.elseBlock());
  NVVM::SetMaxRegisterOp::create(b, loc, GPUKernelConfig::kConsumerRegisters,
                                 NVVM::SetMaxRegisterAction::increase);
  startTurns();
  eachItem(/*producer=*/false, [&](Value q0, const KeyTiles &t) {
    // Persistent blocks: the turns' barrier ids afresh in each item (not
    // held in registers through the item loop).
    if (cfg.persistent() && cfg.pingPong())
      (void)setTurns(opaqueTid());
    emitCompute(q0, t);
  });
  // Exit with the TMA stores of O done.
  if (cfg.tmaStore())
    waitStores(opaqueTid(), /*readOnly=*/false);
}

void KernelEmitter::emitCompute(Value q0, const KeyTiles &tiles) {
  // This thread's rows and their key intervals, for partial tiles, searched
  // among the tile's documents only (none for a tile inside one document).
  rowLo.clear();
  rowHi.clear();
  for (Value row : threadRows(q0, tid)) {
    auto interval =
        RowIntervalOp::create(b, loc, cuBuf, tokens, row, tiles.docFirst,
                              tiles.docLast, mask);
    rowLo.push_back(interval.getLo());
    rowHi.push_back(interval.getHi());
  }
  keyCol0 = mul(quad, idx(2));
  Value fullBegin = tiles.fullBegin, fullEnd = tiles.fullEnd, any = tiles.any;

  KeyLoopState state = initialState();
  if (!cfg.softmaxOverlap()) {
    state = emitLoop(beginTile, fullBegin, state, /*masked=*/true);
    state = emitLoop(fullBegin, fullEnd, state, /*masked=*/false);
    state = emitLoop(fullEnd, endTile, state, /*masked=*/true);
  } else {
    // The first tile peeled, the loops from the second, the last P V after
    // them: no product is in flight across a branch.
    auto ifAny = [&](function_ref<KeyLoopState(const KeyLoopState &)> body) {
      SmallVector<Value> values = state.values();
      auto ifOp = scf::IfOp::create(b, loc, TypeRange(ValueRange(values)), any,
                                    /*withElse=*/true);
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPointToStart(ifOp.thenBlock());
      scf::YieldOp::create(b, loc, body(state).values());
      b.setInsertionPointToStart(ifOp.elseBlock());
      scf::YieldOp::create(b, loc, values);
      state = KeyLoopState::fromValues(ifOp.getResults(), state);
    };
    // Warp specialization: this item's Q (phase itemsBefore), key tiles or
    // not (its copy lands before a persistent block hands the buffer back).
    if (cfg.warpSpecialized())
      waitBarrier(barrier(shared.fullQ, idx(0)), remu(itemsBefore, 2),
                  "Q full");
    ifAny([&](const KeyLoopState &init) {
      return emitFirstTile(beginTile, init);
    });
    Value second = add(beginTile, idx(1));
    auto atLeast = [&](Value x) {
      return arith::MaxSIOp::create(b, loc, x, second).getResult();
    };
    state = emitLoop(second, fullBegin, state, /*masked=*/true);
    state = emitLoop(atLeast(fullBegin), fullEnd, state, /*masked=*/false);
    state = emitLoop(atLeast(fullEnd), endTile, state, /*masked=*/true);
    releaseQ();
    ifAny([&](const KeyLoopState &init) { return emitLastPV(init); });
    // With no key tile, the Q copy is still pending.
    if (!cfg.warpSpecialized())
      NVVM::CpAsyncWaitGroupOp::create(b, loc, b.getI32IntegerAttr(0));
  }

  // Epilogue: out = O / l, lse = ln2 * (m + log2 l). The rows come from a
  // fresh read of the thread index (an opaque value the compiler cannot
  // merge with the prologue's), so they need no registers through the loops.
  Value thread = opaqueTid();
  SmallVector<Value> rows = threadRows(q0, thread);
  SmallVector<Value> inverses, lseValues;
  for (int64_t mt = 0; mt < cfg.mTiles; ++mt)
    for (int i = 0; i < 2; ++i) {
      Value m = state.rowMax[mt * 2 + i];
      Value l = quadReduce(state.rowSum[mt * 2 + i], /*isMax=*/false);
      inverses.push_back(inverseSum(l));
      lseValues.push_back(logSumExp(m, l, log2(l)));
    }
  storeOutput(q0, thread, rows, inverses, state.o);
  // lse: one lane of the four that share a row.
  Value first = cmp(arith::CmpIPredicate::eq, quad, idx(0));
  for (auto [row, lseVal] : llvm::zip(rows, lseValues)) {
    auto ifFirst = scf::IfOp::create(
        b, loc,
        arith::AndIOp::create(
            b, loc, cmp(arith::CmpIPredicate::slt, row, tokens), first),
        /*withElse=*/false);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(ifFirst.thenBlock());
    memref::StoreOp::create(b, loc, lseVal, lseBuf, ValueRange{head, row});
  }
}
