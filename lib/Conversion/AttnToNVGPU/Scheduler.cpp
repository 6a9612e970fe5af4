//===- Scheduler.cpp - work items: tiles, persistent, dynamic ---------------===//
//
// The tile scheduler: which (query tile, head) work items a block runs,
// in static rounds (persistent) or claimed from a tile counter (dynamic),
// and an item's rows and key tiles.
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
// Persistent blocks (cfg.persistent())
//
// The grid has G <= (query tiles) x H blocks; in round r, block b takes
// work item r * G + b (r even) or r * G + G - 1 - b (r odd) of the
// longest-first order, so the blocks that took the longer items of one
// round take the shorter ones of the next. Producer and compute warps walk
// the same items: the stage of key tile kt and the parity of its use come
// from the count of key tiles before it (useIndex), Q's from the count of
// items (itemsBefore).
//===----------------------------------------------------------------------===//

void KernelEmitter::forEachItem(Value linear, bool producer,
                                function_ref<void(Value)> body) {
  if (!cfg.persistent()) {
    itemsBefore = idx(0);
    return body(linear);
  }
  Type i32 = b.getI32Type();
  Value grid = arith::MulIOp::create(
      b, loc, toI32(gpu::GridDimOp::create(b, loc, gpu::Dimension::x)),
      toI32(gpu::GridDimOp::create(b, loc, gpu::Dimension::y)));
  Value items =
      arith::MulIOp::create(b, loc, toI32(numQTiles), i32Const(numHeads));
  if (cfg.dynamicSchedule())
    return forEachClaimedItem(linear, items, grid, producer, body);
  Value rounds = arith::CeilDivUIOp::create(b, loc, items, grid);
  // Carried: the key tiles of the earlier items (i32). Only the last round
  // can leave a block without an item, so the items before are the rounds
  // before.
  auto forOp = scf::ForOp::create(b, loc, i32Const(0), rounds, i32Const(1),
                                  ValueRange{i32Const(0)});
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(forOp.getBody());
  Value round = forOp.getInductionVar();
  Value odd = arith::TruncIOp::create(b, loc, b.getI1Type(), round);
  Value mirrored = arith::SubIOp::create(
      b, loc, arith::SubIOp::create(b, loc, grid, i32Const(1)), linear);
  Value item =
      arith::AddIOp::create(b, loc, arith::MulIOp::create(b, loc, round, grid),
                            select(odd, mirrored, linear));
  Value tilesSoFar = forOp.getRegionIterArg(0);
  auto ifOp = scf::IfOp::create(
      b, loc, TypeRange{i32},
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, item, items),
      /*withElseRegion=*/true);
  scf::YieldOp::create(b, loc, ifOp.getResults());
  b.setInsertionPointToStart(ifOp.elseBlock());
  scf::YieldOp::create(b, loc, tilesSoFar);
  b.setInsertionPointToStart(ifOp.thenBlock());
  tilesBefore = toIndex(tilesSoFar);
  itemsBefore = toIndex(round);
  body(item);
  scf::YieldOp::create(
      b, loc,
      ValueRange{arith::AddIOp::create(b, loc, tilesSoFar,
                                       toI32(sub(endTile, beginTile)))});
}

//===----------------------------------------------------------------------===//
// Dynamic schedule (cfg.dynamicSchedule())
//
// Block b starts with item b; then its producer claims each next item from
// the tile counter (grid + the counter's old value) once it has issued the
// current item's loads, and publishes it as the block's item n in slot
// n % 2, completing phase (n - 1) / 2 of that slot's mbarrier; every warp,
// producer and compute, reads it from there after its own part of item
// n - 1. A slot is rewritten (item n + 2) only after the producer has
// waited for Q's release of item n + 1, so every warp has read item n and
// waited for its phase: the barrier is never two phases ahead of a
// waiter. Every item run makes one claim (the last of each block finds no
// item), so the launch's claims read 0 .. items - 1 and the one that reads
// items - 1 is the last: that block resets the counter for the next launch.
//===----------------------------------------------------------------------===//

Value KernelEmitter::itemSlot(Value slot) {
  return asyncAddress(shared.itemSlots.offset,
                         mul(slot, idx(shared.itemSlots.stageBytes())));
}

void KernelEmitter::forEachClaimedItem(Value linear, Value items, Value grid,
                                       bool producer,
                                       function_ref<void(Value)> body) {
  Type i32 = b.getI32Type();
  // Carried: the item, the items before it, their key tiles (i32).
  SmallVector<Type> types(3, i32);
  SmallVector<Location> locs(3, loc);
  auto loop = scf::WhileOp::create(
      b, loc, types, ValueRange{linear, i32Const(0), i32Const(0)});
  OpBuilder::InsertionGuard g(b);
  Block *before = b.createBlock(&loop.getBefore(), {}, types, locs);
  scf::ConditionOp::create(b, loc,
                           arith::CmpIOp::create(b, loc,
                                                 arith::CmpIPredicate::ult,
                                                 before->getArgument(0), items),
                           before->getArguments());
  Block *after = b.createBlock(&loop.getAfter(), {}, types, locs);
  Value n = after->getArgument(1), tilesSoFar = after->getArgument(2);
  itemsBefore = toIndex(n);
  tilesBefore = toIndex(tilesSoFar);
  body(after->getArgument(0));
  Value tiles =
      arith::AddIOp::create(b, loc, tilesSoFar, toI32(sub(endTile, beginTile)));
  Value next = arith::AddIOp::create(b, loc, n, i32Const(1));
  if (producer)
    claimItem(items, grid, next);
  scf::YieldOp::create(b, loc, ValueRange{readItem(next), next, tiles});
}

void KernelEmitter::claimItem(Value items, Value grid, Value n) {
  // (The producer's walk runs in its one TMA thread.)
  Value old = ptx::atomicIncrementGlobal(b, loc, tileCounter, "claim");
  auto ifLast = scf::IfOp::create(
      b, loc,
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, old,
                            arith::SubIOp::create(b, loc, items, i32Const(1))),
      /*withElse=*/false);
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(ifLast.thenBlock());
    ptx::storeGlobal32(b, loc, tileCounter, i32Const(0), "counter reset");
  }
  Value slot = remu(toIndex(n), 2);
  ptx::storeShared32(b, loc, itemSlot(slot),
                     arith::AddIOp::create(b, loc, grid, old));
  // (Release: the slot's store before the arrival.)
  ptx::mbarrierArrive(b, loc, barrier(shared.item, slot), "item claimed");
}

Value KernelEmitter::readItem(Value n) {
  Value slot = remu(toIndex(n), 2);
  waitBarrier(barrier(shared.item, slot),
              remu(divu(sub(toIndex(n), idx(1)), 2), 2), "item claimed");
  return ptx::loadShared32(b, loc, itemSlot(slot));
}

void KernelEmitter::releaseQ() {
  if (cfg.persistent())
    arrivePerWarp(barrier(shared.emptyQ, idx(0)), "Q released");
}

KernelEmitter::QueryTile KernelEmitter::startItem(Value item) {
  // Longest first. Item i takes head i % H of the query tile i / H counted
  // from the end: every head of a tile runs together, and within each
  // document later tiles (more keys) run first, so the last items are the
  // short first tiles of the sequence. (Head-major order would leave the
  // last head's long tiles to the end.) (32-bit arithmetic: block and grid
  // indices fit, and the head stays live in one register through the
  // loops.)
  head = toIndex(arith::RemUIOp::create(b, loc, item, i32Const(numHeads)));
  Value rank =
      toIndex(arith::DivUIOp::create(b, loc, item, i32Const(numHeads)));
  Value qt = sub(sub(numQTiles, idx(1)), rank);
  kvHead = divu(head, numHeads / numKvHeads);
  Value q0 = mul(qt, idx(cfg.blockQ()));
  return {q0,
          arith::MinSIOp::create(b, loc, add(q0, idx(cfg.blockQ())), tokens)};
}

KernelEmitter::KeyTiles KernelEmitter::keyTiles(QueryTile rows) {
  // The GPU treats a ragged last tile as partial: its padding keys must be
  // masked.
  int64_t bk = cfg.blockK;
  auto range = KeyTileRangeOp::create(b, loc, cuBuf, tokens, rows.q0, rows.q1,
                                      mask, bk);
  beginTile = range.getBegin();
  endTile = range.getEnd();
  KeyTiles t;
  t.docFirst = range.getDocFirst();
  t.docLast = range.getDocLast();
  if (cfg.persistent())
    tileShift = sub(tilesBefore, beginTile);
  Value wholeTiles = divu(tokens, bk);
  t.fullEnd = arith::MinSIOp::create(b, loc, range.getFullEnd(), wholeTiles);
  t.fullBegin = arith::MinSIOp::create(b, loc, range.getFullBegin(), t.fullEnd);
  t.fullEnd = arith::MaxSIOp::create(b, loc, t.fullEnd, t.fullBegin);
  t.any = cmp(arith::CmpIPredicate::slt, beginTile, endTile);
  return t;
}
