//===- Pipeline.cpp - stages, mbarriers, the producer -----------------------===//
//
// Warp specialization's pipeline: the K/V stages' full and empty
// mbarriers, Q's, and the producer warpgroup's fills.
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

//===----------------------------------------------------------------------===//
// Warp specialization (cfg.warpSpecialized())
//
// Each K and V stage has a "full" mbarrier (128 arrivals: every producer
// thread's cp.async.mbarrier.arrive.noinc, which fires once that thread's
// copies have landed) and an "empty" one (one arrival per compute warp,
// after the wgmma that read the stage has retired); Q has a full one. The
// u-th use of a stage (u = (kt - beginTile) / 2: tiles alternate between
// the two stages) completes phase u of its full barrier; the compute warps
// wait for parity u % 2 and the producer, before the u-th refill, for the
// completion of the empty barrier's phase u - 1 (parity (u + 1) % 2, which
// a fresh barrier reports complete: its phase -1).
//===----------------------------------------------------------------------===//

Value KernelEmitter::barrier(Barrier which, Value stage) {
  Value offset = add(idx(int64_t(which) * 16), mul(stage, idx(8)));
  return arith::TruncIOp::create(
      b, loc, b.getI32Type(),
      arith::AddIOp::create(b, loc, mbarAddr, toI64(offset)));
}

void KernelEmitter::initBarriers() {
  auto ifOp =
      scf::IfOp::create(b, loc, cmp(arith::CmpIPredicate::eq, tid, idx(0)),
                        /*withElse=*/false);
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(ifOp.thenBlock());
    auto init = [&](Barrier which, int64_t stage, int64_t count) {
      ptx::mbarrierInit(b, loc, barrier(which, idx(stage)), count);
    };
    // Full: one arrival per copying thread, or the TMA thread's one
    // (with the tile's bytes expected).
    int64_t fillers = cfg.tma() ? 1 : cfg.copyThreads();
    for (int64_t stage = 0; stage < 2; ++stage) {
      init(Barrier::FullK, stage, fillers);
      init(Barrier::FullV, stage, fillers);
      init(Barrier::EmptyK, stage, cfg.numWarps);
      init(Barrier::EmptyV, stage, cfg.numWarps);
    }
    init(Barrier::FullQ, 0, fillers);
    if (cfg.persistent())
      init(Barrier::EmptyQ, 0, cfg.numWarps);
    // Claimed items: the producer's one arrival per item a slot holds.
    if (cfg.dynamicSchedule())
      for (int64_t slot = 0; slot < 2; ++slot)
        init(Barrier::Item, slot, 1);
    // The initialized barriers visible to the TMA unit's complete_tx.
    if (cfg.tma())
      ptx::fenceMbarrierInit(b, loc);
  }
  gpu::BarrierOp::create(b, loc);
}

void KernelEmitter::waitBarrier(Value addr, Value parity, StringRef note) {
  // try_wait suspends the thread for a while; loop until the phase is done.
  Value par = toI32(parity);
  auto loop = scf::WhileOp::create(b, loc, TypeRange{}, ValueRange{});
  {
    OpBuilder::InsertionGuard g(b);
    b.createBlock(&loop.getBefore());
    Value done = ptx::mbarrierTryWaitParity(b, loc, addr, par, note);
    Value again = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, done,
                                        i32Const(0));
    scf::ConditionOp::create(b, loc, again, ValueRange{});
    b.createBlock(&loop.getAfter());
    scf::YieldOp::create(b, loc);
  }
}

void KernelEmitter::arriveOnCopies(Value addr) {
  ptx::cpAsyncMbarrierArriveNoinc(b, loc, addr);
}

Value KernelEmitter::useIndex(Value kt) {
  return cfg.persistent() ? add(kt, tileShift) : sub(kt, beginTile);
}

Value KernelEmitter::stageOf(Value kt) {
  return remu(cfg.persistent() ? useIndex(kt) : kt, 2);
}

Value KernelEmitter::useParity(Value kt) {
  return remu(divu(useIndex(kt), 2), 2);
}

Value KernelEmitter::stageBarrier(Tile tile, bool full, Value kt) {
  Barrier which = tile == Tile::K ? (full ? Barrier::FullK : Barrier::EmptyK)
                                  : (full ? Barrier::FullV : Barrier::EmptyV);
  return barrier(which, stageOf(kt));
}

void KernelEmitter::acquireStage(Tile tile, Value kt) {
  if (!cfg.warpSpecialized())
    return;
  waitBarrier(stageBarrier(tile, /*full=*/true, kt), useParity(kt));
  // cp.async copies were the generic proxy's writes; wgmma reads through the
  // async proxy (as TMA writes).
  if (!cfg.tma())
    fenceCopies();
}

void KernelEmitter::arrivePerWarp(Value addr, StringRef note) {
  // Lane 0 stands for the warp: the warp barrier orders every lane's
  // accesses before it (a claimed item's slot read at the end of the last
  // item, with a dynamic schedule) before lane 0's arrival releases them
  // to the waiter. (Without it compute-sanitizer's racecheck reported the
  // slot's rewrite racing those reads on an H200.)
  NVVM::SyncWarpOp::create(b, loc, i32Const(-1));
  auto ifOp =
      scf::IfOp::create(b, loc, cmp(arith::CmpIPredicate::eq, lane, idx(0)),
                        /*withElse=*/false);
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(ifOp.thenBlock());
  ptx::mbarrierArrive(b, loc, addr, note);
}

void KernelEmitter::releaseStage(Tile tile, Value kt) {
  if (!cfg.warpSpecialized())
    return;
  // One arrival per warp, after its wait for the product that read the
  // stage.
  arrivePerWarp(stageBarrier(tile, /*full=*/false, kt));
}

void KernelEmitter::emitProducer(Value q0) {
  // Q's buffer is refilled once the previous item's last S is done: the
  // empty barrier's phase itemsBefore - 1 (a fresh barrier reports phase
  // -1 complete).
  if (cfg.persistent())
    waitBarrier(barrier(Barrier::EmptyQ, idx(0)),
                remu(add(itemsBefore, idx(1)), 2), "Q empty");
  // A tile into its buffer, `full` signalled once it has landed.
  auto fill = [&](Tile tile, Value stage, Value row0, Value full) {
    if (cfg.tma())
      return loadTile(tile, stage, row0, full);
    copyRows(tile, stage, row0);
    arriveOnCopies(full);
  };
  fill(Tile::Q, Value(), q0, barrier(Barrier::FullQ, idx(0)));
  auto forOp = scf::ForOp::create(b, loc, beginTile, endTile, idx(1));
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(forOp.getBody());
  Value kt = forOp.getInductionVar(), stage = stageOf(kt);
  Value parity = sub(idx(1), useParity(kt));
  Value row0 = mul(kt, idx(cfg.blockK));
  for (Tile tile : {Tile::K, Tile::V}) {
    waitBarrier(stageBarrier(tile, /*full=*/false, kt), parity);
    fill(tile, stage, row0, stageBarrier(tile, /*full=*/true, kt));
  }
}
