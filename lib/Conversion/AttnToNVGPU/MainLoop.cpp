//===- MainLoop.cpp - the key loops, masking, softmax -----------------------===//
//
// The main loop: the key tiles of a query tile (partial, full, partial),
// masking, the online softmax and P V; the software-pipelined loop; the
// warpgroup ping-pong's turns and the threads' rows.
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
// The kernel
//===----------------------------------------------------------------------===//

void KernelEmitter::ifNextTile(Value kt, function_ref<void(Value)> body) {
  Value next = add(kt, idx(1));
  auto ifOp = scf::IfOp::create(
      b, loc, cmp(arith::CmpIPredicate::slt, next, endTile), false);
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(ifOp.thenBlock());
  body(next);
}

void KernelEmitter::waitCopies(int32_t pending) {
  NVVM::CpAsyncWaitGroupOp::create(b, loc, b.getI32IntegerAttr(pending));
  fenceCopies();
  gpu::BarrierOp::create(b, loc);
}

KeyLoopState KernelEmitter::initialState() {
  KeyLoopState s;
  Value zero = f32Const(0.0);
  s.o.assign(cfg.mTiles, SmallVector<Acc>(nvt(), Acc{zero, zero, zero, zero}));
  s.rowMax.assign(cfg.mTiles * 2, negInf());
  s.rowSum.assign(cfg.mTiles * 2, zero);
  if (cfg.softmaxOverlap()) {
    s.p.assign(cfg.blockK / 16 * 4, i32Const(0));
    s.alpha.assign(cfg.mTiles * 2, zero);
  }
  return s;
}

KeyLoopState KernelEmitter::emitLoop(Value lb, Value ub,
                                     const KeyLoopState &init, bool masked) {
  auto forOp = scf::ForOp::create(b, loc, lb, ub, idx(1), init.values());
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(forOp.getBody());
  KeyLoopState carried =
      KeyLoopState::fromValues(forOp.getRegionIterArgs(), init);
  KeyLoopState next =
      cfg.softmaxOverlap()
          ? emitOverlappedKeyTile(forOp.getInductionVar(), carried, masked)
          : emitKeyTile(forOp.getInductionVar(), carried, masked);
  scf::YieldOp::create(b, loc, next.values());
  return KeyLoopState::fromValues(forOp.getResults(), init);
}

void KernelEmitter::maskScores(Scores &s, Value kt) {
  Value k0 = mul(kt, idx(cfg.blockK));
  for (int64_t mt = 0; mt < cfg.mTiles; ++mt)
    for (int64_t n = 0; n < cfg.blockK / 8; ++n)
      for (int64_t j = 0; j < 4; ++j) {
        Value key = add(k0, add(idx(n * 8 + j % 2), keyCol0));
        int64_t r = mt * 2 + j / 2;
        Value ok = arith::AndIOp::create(
            b, loc, cmp(arith::CmpIPredicate::sge, key, rowLo[r]),
            cmp(arith::CmpIPredicate::slt, key, rowHi[r]));
        s[mt][n][j] = select(ok, s[mt][n][j], negInf());
      }
}

SmallVector<Value> KernelEmitter::softmax(Scores &s,
                                          const KeyLoopState &carried,
                                          KeyLoopState &next, bool rescale) {
  // In the log2 domain: p = exp2(s * c - m), with the scale c = scale *
  // log2(e) folded into one FMA per element.
  int64_t bk = cfg.blockK;
  double scaleLog2 = scale / std::log(2.0);
  Value c = f32Const(scaleLog2);
  SmallVector<Value> alpha;
  for (int64_t mt = 0; mt < cfg.mTiles; ++mt) {
    for (int i = 0; i < 2; ++i) {
      Value rowMax = negInf();
      for (int64_t n = 0; n < bk / 8; ++n)
        rowMax = fmax(rowMax, fmax(s[mt][n][2 * i], s[mt][n][2 * i + 1]));
      rowMax = fmul(quadReduce(rowMax, /*isMax=*/true), c);
      int64_t r = mt * 2 + i;
      Value mOld = carried.rowMax[r];
      Value mNew = fmax(mOld, rowMax);
      Value mUse = softmaxShift(mNew);
      Value negM = arith::NegFOp::create(b, loc, mUse);
      alpha.push_back(exp2(arith::SubFOp::create(b, loc, mOld, mUse)));
      Value sum = f32Const(0.0);
      for (int64_t n = 0; n < bk / 8; ++n)
        for (int64_t j = 2 * i; j < 2 * i + 2; ++j) {
          s[mt][n][j] = exp2(math::FmaOp::create(b, loc, s[mt][n][j], c, negM));
          sum = fadd(sum, s[mt][n][j]);
        }
      next.rowMax[r] = mNew;
      next.rowSum[r] = fadd(fmul(carried.rowSum[r], alpha.back()), sum);
    }
    if (rescale)
      rescaleO(mt, alpha, next.o);
  }
  return alpha;
}

void KernelEmitter::rescaleO(int64_t mt, ArrayRef<Value> alpha, AccTiles &o) {
  for (Acc &acc : o[mt])
    for (int64_t j = 0; j < 4; ++j)
      acc[j] = fmul(acc[j], alpha[mt * 2 + j / 2]);
}

SmallVector<Value> KernelEmitter::pOperands(const Scores &s, int64_t mt,
                                            int64_t kk) {
  // The S accumulators of two 8-key slices form one A operand (no
  // shared-memory round trip).
  const SmallVector<Acc> &t = s[mt];
  return {pack(t[2 * kk][0], t[2 * kk][1]), pack(t[2 * kk][2], t[2 * kk][3]),
          pack(t[2 * kk + 1][0], t[2 * kk + 1][1]),
          pack(t[2 * kk + 1][2], t[2 * kk + 1][3])};
}

KeyLoopState KernelEmitter::emitKeyTile(Value kt, const KeyLoopState &carried,
                                        bool masked) {
  // Key tile kt lives in stage kt % 2 (not a count from the first tile:
  // one register fewer in every loop).
  Value stage = remu(kt, 2);

  // Prefetch the next tile into the other stage, then wait for this one.
  ifNextTile(kt, [&](Value next) { copyKV(next, sub(idx(1), stage)); });
  NVVM::CpAsyncCommitGroupOp::create(b, loc);
  waitCopies(1);

  Scores s = scores(stage);
  if (masked)
    maskScores(s, kt);
  KeyLoopState next = carried;
  (void)softmax(s, carried, next, /*rescale=*/true);
  accumulatePV([&](int64_t mt, int64_t kk) { return pOperands(s, mt, kk); },
               stage, next.o);
  // The next iteration's prefetch overwrites the stage read here.
  gpu::BarrierOp::create(b, loc);
  return next;
}

//===----------------------------------------------------------------------===//
// The software-pipelined key loop (cfg.softmaxOverlap())
//
// Iteration j: wait for every copy (K_j, V_{j-1}) and a block barrier, so
// both warpgroups are done with iteration j - 1; copy K_{j+1} into the K
// stage S_{j-1} read and V_j into the V stage P_{j-2} V_{j-2} read; issue
// S_j; rescale O by tile j - 1's factor while it runs; issue
// O += P_{j-1} V_{j-1}; wait for S_j only; mask and softmax (in f32, in
// S's registers) while the P V runs; wait for it, then pack P_j into the
// registers P_{j-1} occupied: nothing the in-flight P V reads or writes is
// written before its wait (ptxas still schedules that wait ahead of the
// exponentials here; see docs/Design.md). A V tile is copied one iteration
// before its P V, so K and V both have a tile of compute to land in, with
// two stages each and one barrier per tile.
//===----------------------------------------------------------------------===//

void KernelEmitter::copyAhead(Value kt, Value stage) {
  ifNextTile(kt, [&](Value next) { copyK(next, sub(idx(1), stage)); });
  copyV(kt, stage);
  NVVM::CpAsyncCommitGroupOp::create(b, loc);
}

SmallVector<Value> KernelEmitter::carriedP(const Scores &s) {
  SmallVector<Value> p;
  for (int64_t kk = 0; kk < cfg.blockK / 16; ++kk)
    for (Value v : pOperands(s, 0, kk))
      p.push_back(asI32(v));
  return p;
}

KernelEmitter::PendingGemm
KernelEmitter::issueCarriedPV(const KeyLoopState &carried, Value stage) {
  // O of the previous tile's row max, rescaled to the carried P's.
  AccTiles o = carried.o;
  for (int64_t mt = 0; mt < cfg.mTiles; ++mt)
    rescaleO(mt, carried.alpha, o);
  ArrayRef<Value> p = carried.p;
  return issuePV(
      [&](int64_t, int64_t kk) {
        return SmallVector<Value>(p.slice(kk * 4, 4));
      },
      stage, o);
}

void KernelEmitter::retireCarriedPV(const KeyLoopState &carried,
                                    const PendingGemm &o, KeyLoopState &next) {
  (void)fenceRegisters(carried.p);
  next.o = retireGemm(o);
}

void KernelEmitter::startKeyTile(Value kt) {
  if (cfg.warpSpecialized())
    return acquireStage(Tile::K, kt);
  waitCopies(0);
  copyAhead(kt, remu(kt, 2));
}

KeyLoopState KernelEmitter::emitFirstTile(Value kt,
                                          const KeyLoopState &carried) {
  Value stage = stageOf(kt);
  startKeyTile(kt);
  Scores s = scores(stage);
  releaseStage(Tile::K, kt);
  // Masked whatever its kind: the mask leaves a full tile as it is.
  maskScores(s, kt);
  KeyLoopState next = carried;
  // O is still 0: its factor (carried for the next P V) scales nothing.
  next.alpha = softmax(s, carried, next, /*rescale=*/false);
  next.p = carriedP(s);
  return next;
}

KeyLoopState KernelEmitter::emitOverlappedKeyTile(Value kt,
                                                  const KeyLoopState &carried,
                                                  bool masked) {
  Value stage = stageOf(kt), prevStage = sub(idx(1), stage);
  Value prev = sub(kt, idx(1));
  startKeyTile(kt);
  awaitTurn();
  PendingGemm acc = issueScores(stage);
  acquireStage(Tile::V, prev);
  PendingGemm o = issueCarriedPV(carried, prevStage);
  passTurn();
  waitMma(1);
  releaseStage(Tile::K, kt);
  Scores s = retireGemm(acc);
  if (masked)
    maskScores(s, kt);
  KeyLoopState next = carried;
  next.alpha = softmax(s, carried, next, /*rescale=*/false);
  waitMma(0);
  releaseStage(Tile::V, prev);
  retireCarriedPV(carried, o, next);
  next.p = carriedP(s);
  return next;
}

KeyLoopState KernelEmitter::emitLastPV(const KeyLoopState &carried) {
  Value last = sub(endTile, idx(1));
  if (cfg.warpSpecialized())
    acquireStage(Tile::V, last);
  else
    waitCopies(0);
  PendingGemm o = issueCarriedPV(carried, stageOf(last));
  waitMma(0);
  // (Released for the next item's tiles; a block's last item leaves it
  // as it is.)
  if (cfg.persistent())
    arrivePerWarp(stageBarrier(Tile::V, /*full=*/false, last),
                  "last V released");
  KeyLoopState next = carried;
  retireCarriedPV(carried, o, next);
  return next;
}

//===----------------------------------------------------------------------===//
// Ping-pong (cfg.pingPong())
//
// The turn to issue products goes round the two consumer warpgroups: each
// key tile of the loop, a warpgroup waits for its turn before S_j = Q K_j^T
// and passes it on once O += P_{j-1} V_{j-1} is issued, so the products of
// the two warpgroups alternate on the tensor cores and each one's softmax
// runs during the other's products. The first tile and the last P V are
// outside the turns. Both warpgroups run the same key tiles, so they pass
// the turn equally often; the last pass is never taken (a named barrier
// may be left with arrivals when the block exits).
//===----------------------------------------------------------------------===//

Value KernelEmitter::setTurns(Value thread) {
  Value wg = toI32(divu(thread, 128));
  int64_t first = GPUKernelConfig::kPingPongBarrier;
  ownTurn = arith::AddIOp::create(b, loc, wg, i32Const(first));
  otherTurn = arith::SubIOp::create(b, loc, i32Const(first + 1), wg);
  return wg;
}

void KernelEmitter::startTurns() {
  if (!cfg.pingPong())
    return;
  Value wg = setTurns(tid);
  auto ifOp = scf::IfOp::create(
      b, loc,
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, wg, i32Const(0)),
      /*withElse=*/false);
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(ifOp.thenBlock());
  NVVM::BarrierArriveOp::create(b, loc, ownTurn, i32Const(kTurnThreads));
}

void KernelEmitter::awaitTurn() {
  if (!cfg.pingPong())
    return;
  NVVM::BarrierOp::create(b, loc, TypeRange{}, ownTurn, i32Const(kTurnThreads),
                          {}, Value{});
}

void KernelEmitter::passTurn() {
  if (!cfg.pingPong())
    return;
  NVVM::BarrierArriveOp::create(b, loc, otherTurn, i32Const(kTurnThreads));
}

Value KernelEmitter::opaqueTid() {
  return toIndex(ptx::threadIdX(b, loc));
}

Value KernelEmitter::opaqueBlockId() { return toIndex(ptx::blockIdX(b, loc)); }

void KernelEmitter::setThreadValues(Value thread) {
  tid = thread;
  lane = remu(tid, 32);
  warp = divu(tid, 32);
  quad = remu(lane, 4); // t
  setUpLanes();
}

SmallVector<Value> KernelEmitter::threadRows(Value q0, Value thread) {
  // Warp w owns rows 16 * mTiles * w ..; lane l holds rows g = l / 4 and
  // g + 8 of each 16-row m-tile.
  Value row0 = add(q0, add(mul(divu(thread, 32), idx(16 * cfg.mTiles)),
                           divu(remu(thread, 32), 4)));
  SmallVector<Value> rows;
  for (int64_t mt = 0; mt < cfg.mTiles; ++mt)
    for (int i = 0; i < 2; ++i)
      rows.push_back(add(row0, idx(mt * 16 + 8 * i)));
  return rows;
}
