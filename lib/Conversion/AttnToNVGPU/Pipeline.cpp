//===- Pipeline.cpp - shared memory, stages, mbarriers, the producer -------===//
//
// Shared memory from its layout (SharedLayout.h); warp specialization's
// pipeline: the K/V stages' full and empty mbarriers, Q's, and the producer
// warpgroup's fills.
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
// Shared memory: the layout (SharedLayout.h) and its base
//===----------------------------------------------------------------------===//

void KernelEmitter::createSharedWindow() {
  auto ws =
      gpu::AddressSpaceAttr::get(b.getContext(), gpu::AddressSpace::Workgroup);
  smem = gpu::DynamicSharedMemoryOp::create(
      b, loc,
      MemRefType::get({ShapedType::kDynamic}, b.getI8Type(),
                      MemRefLayoutAttrInterface(), ws));
  sharedWindow = memref::ExtractAlignedPointerAsIndexOp::create(b, loc, smem);
}

void KernelEmitter::createAlignedWindow(int64_t align) {
  createSharedWindow();
  // The window starts 16-byte aligned; a layout that needs more skips up
  // to its alignment (the launch requests that much more).
  sharedShift = align > SharedAllocator::kWindowAlign
                    ? remu(sub(idx(align), remu(sharedWindow, align)), align)
                    : Value();
}

void KernelEmitter::allocateShared() {
  shared = forwardSharedLayout(cfg, headDim, valueDim,
                               elt.getIntOrFloatBitWidth() / 8);
  createAlignedWindow(shared.baseAlign);
  tiles[int(Tile::Q)] = {shared.q, cfg.blockQ(), headDim};
  tiles[int(Tile::K)] = {shared.k, cfg.blockK, headDim};
  tiles[int(Tile::V)] = {shared.v, cfg.blockK, valueDim};
  viewTiles();
  // The mbarriers and slots: addresses from one register, the first's.
  if (shared.fullK.allocated())
    asyncBase = sharedAddress(asyncBaseOffset());
}

int64_t KernelEmitter::asyncBaseOffset() const { return shared.fullK.offset; }

Value KernelEmitter::layoutIndex(int64_t offset) {
  return sharedShift ? add(sharedShift, idx(offset)) : idx(offset);
}

Value KernelEmitter::sharedView(int64_t offset, ArrayRef<int64_t> shape,
                                Type element) {
  Attribute workgroup = cast<MemRefType>(smem.getType()).getMemorySpace();
  return memref::ViewOp::create(b, loc,
                                MemRefType::get(shape, element ? element : elt,
                                                MemRefLayoutAttrInterface(),
                                                workgroup),
                                smem, layoutIndex(offset), ValueRange{});
}

Value KernelEmitter::sharedAddress(int64_t offset) {
  return toI64(add(sharedWindow, layoutIndex(offset)));
}

Value KernelEmitter::asyncAddress(int64_t offset, Value dynamicOffset) {
  assert(asyncBase && offset >= asyncBaseOffset() &&
         "an mbarrier or slot the layout did not allocate");
  Value rel = add(idx(offset - asyncBaseOffset()), dynamicOffset);
  return arith::TruncIOp::create(
      b, loc, b.getI32Type(),
      arith::AddIOp::create(b, loc, asyncBase, toI64(rel)));
}

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

Value KernelEmitter::barrier(const SharedRegion &barriers, Value stage) {
  return asyncAddress(barriers.offset,
                         mul(stage, idx(SharedAllocator::kMbarrierBytes)));
}

void KernelEmitter::initBarriers() {
  auto ifOp =
      scf::IfOp::create(b, loc, cmp(arith::CmpIPredicate::eq, tid, idx(0)),
                        /*withElse=*/false);
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(ifOp.thenBlock());
    auto init = [&](const SharedRegion &barriers, int64_t stage,
                    int64_t count) {
      ptx::mbarrierInit(b, loc, barrier(barriers, idx(stage)), count);
    };
    // Full: one arrival per copying thread, or the TMA thread's one
    // (with the tile's bytes expected).
    int64_t fillers = cfg.tma() ? 1 : cfg.copyThreads();
    for (int64_t stage = 0; stage < 2; ++stage) {
      init(shared.fullK, stage, fillers);
      init(shared.fullV, stage, fillers);
      init(shared.emptyK, stage, cfg.numWarps);
      init(shared.emptyV, stage, cfg.numWarps);
    }
    init(shared.fullQ, 0, fillers);
    if (cfg.persistent())
      init(shared.emptyQ, 0, cfg.numWarps);
    // Claimed items: the producer's one arrival per item a slot holds.
    if (cfg.dynamicSchedule())
      for (int64_t slot = 0; slot < 2; ++slot)
        init(shared.item, slot, 1);
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
  const SharedRegion &barriers =
      tile == Tile::K ? (full ? shared.fullK : shared.emptyK)
                      : (full ? shared.fullV : shared.emptyV);
  return barrier(barriers, stageOf(kt));
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
    waitBarrier(barrier(shared.emptyQ, idx(0)),
                remu(add(itemsBefore, idx(1)), 2), "Q empty");
  // A tile into its buffer, `full` signalled once it has landed.
  auto fill = [&](Tile tile, Value stage, Value row0, Value full) {
    if (cfg.tma())
      return loadTile(tile, stage, row0, full);
    copyRows(tile, stage, row0);
    arriveOnCopies(full);
  };
  fill(Tile::Q, Value(), q0, barrier(shared.fullQ, idx(0)));
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
