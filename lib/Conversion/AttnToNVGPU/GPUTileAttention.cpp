//===- GPUTileAttention.cpp - attn.attention -> tensor-core kernel --------===//
//
// The NVIDIA lowering of the tiled, fused attention: what every tensor-core
// flavour shares (see KernelEmitter.h), and the pass.
//===----------------------------------------------------------------------===//

#include "KernelEmitter.h"
#include "attn/Dialect/Attn/Transforms/Transforms.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "llvm/ADT/StringSwitch.h"

#include <cmath>
#include <limits>

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNGPUTILEATTENTION
#include "attn/Conversion/AttnToNVGPU/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::nvidia;

//===----------------------------------------------------------------------===//
// Shared helpers
//===----------------------------------------------------------------------===//

/// ex2.approx / lg2.approx: what the hardware's MUFU computes.
static Value ptxUnary(OpBuilder &b, Location loc, Type f32, StringRef code,
                      Value x) {
  return NVVM::InlinePtxOp::create(b, loc, TypeRange{f32}, ValueRange{x},
                                   ValueRange{}, code, Value())
      .getResult(0);
}

Value KernelEmitter::exp2(Value x) {
  return ptxUnary(b, loc, f32, "ex2.approx.ftz.f32 $0, $1;", x);
}

Value KernelEmitter::log2(Value x) {
  return ptxUnary(b, loc, f32, "lg2.approx.ftz.f32 $0, $1;", x);
}

Value KernelEmitter::quadReduce(Value x, bool isMax) {
  for (int32_t offset : {1, 2}) {
    Value other =
        gpu::ShuffleOp::create(b, loc, x, offset, 32, gpu::ShuffleMode::XOR)
            .getShuffleResult();
    x = isMax ? fmax(x, other) : fadd(x, other);
  }
  return x;
}

Value KernelEmitter::mmaOperand(Value pair) {
  if (elt.isBF16())
    return LLVM::BitcastOp::create(b, loc, b.getI32Type(), pair);
  return pair;
}

Value KernelEmitter::pack(Value x, Value y) {
  Value v = vector::FromElementsOp::create(b, loc, VectorType::get({2}, f32),
                                           ValueRange{x, y});
  return mmaOperand(
      arith::TruncFOp::create(b, loc, VectorType::get({2}, elt), v));
}

Value KernelEmitter::asI32(Value reg) {
  if (reg.getType().isInteger(32))
    return reg;
  return LLVM::BitcastOp::create(b, loc, b.getI32Type(), reg);
}

Value KernelEmitter::sideEffectAsm(Type result, ValueRange operands,
                                   StringRef ptx, StringRef constraints) {
  return LLVM::InlineAsmOp::create(
             b, loc, result, operands, ptx, constraints,
             /*has_side_effects=*/true, /*is_align_stack=*/false,
             LLVM::tailcallkind::TailCallKind::None,
             LLVM::AsmDialectAttr::get(b.getContext(),
                                       LLVM::AsmDialect::AD_ATT),
             /*operand_attrs=*/ArrayAttr())
      .getRes();
}

SmallVector<Value> KernelEmitter::fenceRegisters(ValueRange values) {
  if (values.empty())
    return {};
  // One asm, every value tied in and out ("+f" / "+r" in CUDA C++).
  std::string constraints;
  SmallVector<Type> types;
  for (Value v : values) {
    constraints += v.getType().isF32() ? "=f," : "=r,";
    types.push_back(v.getType());
  }
  for (size_t i = 0; i < values.size(); ++i)
    constraints += std::to_string(i) + (i + 1 < values.size() ? "," : "");
  Value res =
      sideEffectAsm(LLVM::LLVMStructType::getLiteral(b.getContext(), types),
                    values, "", constraints);
  SmallVector<Value> out;
  for (size_t i = 0; i < values.size(); ++i)
    out.push_back(LLVM::ExtractValueOp::create(b, loc, res, i));
  return out;
}

Value KernelEmitter::issueScores(Value) {
  llvm_unreachable("this tensor-core flavour is synchronous");
}
Scores KernelEmitter::readScores(Value) {
  llvm_unreachable("this tensor-core flavour is synchronous");
}
SmallVector<Value> KernelEmitter::issuePV(POperands, Value, ValueRange) {
  llvm_unreachable("this tensor-core flavour is synchronous");
}
void KernelEmitter::waitMma(int64_t) {
  llvm_unreachable("this tensor-core flavour is synchronous");
}

KernelEmitter::TileSource KernelEmitter::source(Tile tile) {
  switch (tile) {
  case Tile::Q:
    return {qBuf, qMap, head, cfg.blockQ(), headDim};
  case Tile::K:
    return {kBuf, kMap, kvHead, cfg.blockK, headDim};
  case Tile::V:
    return {vBuf, vMap, kvHead, cfg.blockK, valueDim};
  }
  llvm_unreachable("unknown tile");
}

void KernelEmitter::copyRows(Tile tile, Value stage, Value row0) {
  TileSource from = source(tile);
  int64_t rows = from.rows;
  int64_t nthreads = cfg.copyThreads();
  int64_t unitsPerRow = from.cols / 8, units = rows * unitsPerRow;
  // Copy i of a thread moves unit u of row r0 + i * rowStep: every pass of
  // the threads covers whole rows (checked by gpuTileAttention), so the
  // copies of one thread differ by constant offsets (one base register).
  // checked: rows past T are zero-filled (a source size of 0 from row 0)
  // instead of read; only a ragged last tile needs it.
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
  // mma.sync: one path only (the second path's addresses push the D = 128
  // kernel, at 255 registers, into spills).
  if (cfg.mma == TensorCoreOp::MmaSync)
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
  int64_t boxCols = GPUKernelConfig::kBoxColumns, boxes = from.cols / boxCols;
  int64_t boxBytes = from.rows * boxCols * elt.getIntOrFloatBitWidth() / 8;
  auto voidTy = LLVM::LLVMVoidType::get(b.getContext());
  // The whole tile's bytes, rows past T included (the box is zero-filled
  // there and still counts them).
  sideEffectAsm(voidTy, {fullBarrier},
                "mbarrier.arrive.expect_tx.shared::cta.b64 _, [$0], " +
                    std::to_string(boxes * boxBytes) + ";",
                "r");
  Value base =
      arith::TruncIOp::create(b, loc, b.getI32Type(), tileAddress(tile, stage));
  Value headI32 = toI32(from.head), rowI32 = toI32(row0);
  for (int64_t box = 0; box < boxes; ++box) {
    Value dst = arith::AddIOp::create(b, loc, base, i32Const(box * boxBytes));
    sideEffectAsm(
        voidTy,
        {dst, from.map, i32Const(box * boxCols), headI32, rowI32, fullBarrier},
        "cp.async.bulk.tensor.3d.shared::cluster.global.tile.mbarrier::"
        "complete_tx::bytes [$0], [$1, {$2, $3, $4}], [$5];",
        "r,l,r,r,r,r");
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

SmallVector<Value> KernelEmitter::emitLoop(Value lb, Value ub, ValueRange init,
                                           bool masked) {
  auto forOp = scf::ForOp::create(b, loc, lb, ub, idx(1), init);
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(forOp.getBody());
  SmallVector<Value> next =
      cfg.softmaxOverlap
          ? emitOverlappedKeyTile(forOp.getInductionVar(),
                                  forOp.getRegionIterArgs(), masked)
          : emitKeyTile(forOp.getInductionVar(), forOp.getRegionIterArgs(),
                        masked);
  scf::YieldOp::create(b, loc, next);
  return SmallVector<Value>(forOp.getResults().begin(),
                            forOp.getResults().end());
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

SmallVector<Value> KernelEmitter::softmax(Scores &s, ValueRange carried,
                                          SmallVectorImpl<Value> &next,
                                          bool rescale) {
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
      Value mOld = carried[maxIdx(mt, i)];
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
      next[maxIdx(mt, i)] = mNew;
      next[sumIdx(mt, i)] =
          fadd(fmul(carried[sumIdx(mt, i)], alpha.back()), sum);
    }
    if (rescale)
      rescaleO(mt, alpha, next);
  }
  return alpha;
}

void KernelEmitter::rescaleO(int64_t mt, ArrayRef<Value> alpha,
                             SmallVectorImpl<Value> &state) {
  for (int64_t n = 0; n < nvt(); ++n)
    for (int64_t j = 0; j < 4; ++j)
      state[oIdx(mt, n, j)] =
          fmul(state[oIdx(mt, n, j)], alpha[mt * 2 + j / 2]);
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

SmallVector<Value> KernelEmitter::emitKeyTile(Value kt, ValueRange carried,
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
  SmallVector<Value> next(carried.begin(), carried.end());
  (void)softmax(s, carried, next, /*rescale=*/true);
  accumulatePV([&](int64_t mt, int64_t kk) { return pOperands(s, mt, kk); },
               stage, next);
  // The next iteration's prefetch overwrites the stage read here.
  gpu::BarrierOp::create(b, loc);
  return next;
}

//===----------------------------------------------------------------------===//
// The software-pipelined key loop (cfg.softmaxOverlap)
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

SmallVector<Value> KernelEmitter::issueCarriedPV(ValueRange carried,
                                                 Value stage) {
  // O of the previous tile's row max, rescaled to the carried P's.
  SmallVector<Value> o(carried.take_front(numO()));
  SmallVector<Value> alpha(carried.slice(alphaIdx(0), cfg.mTiles * 2));
  for (int64_t mt = 0; mt < cfg.mTiles; ++mt)
    rescaleO(mt, alpha, o);
  ValueRange p = carriedPRegisters(carried);
  return issuePV(
      [&](int64_t, int64_t kk) {
        return SmallVector<Value>(p.slice(kk * 4, 4));
      },
      stage, o);
}

void KernelEmitter::retireCarriedPV(ValueRange carried, ArrayRef<Value> o,
                                    SmallVectorImpl<Value> &next) {
  (void)fenceRegisters(carriedPRegisters(carried));
  llvm::copy(fenceRegisters(o), next.begin());
}

void KernelEmitter::startKeyTile(Value kt) {
  if (cfg.warpSpecialized)
    return acquireStage(Tile::K, kt);
  waitCopies(0);
  copyAhead(kt, remu(kt, 2));
}

SmallVector<Value> KernelEmitter::emitFirstTile(Value kt, ValueRange carried) {
  Value stage = stageOf(kt);
  startKeyTile(kt);
  Scores s = scores(stage);
  releaseStage(Tile::K, kt);
  // Masked whatever its kind: the mask leaves a full tile as it is.
  maskScores(s, kt);
  SmallVector<Value> next(carried.begin(), carried.end());
  // O is still 0: its factor (carried for the next P V) scales nothing.
  SmallVector<Value> alpha = softmax(s, carried, next, /*rescale=*/false);
  llvm::copy(carriedP(s), next.begin() + pIdx(0, 0));
  llvm::copy(alpha, next.begin() + alphaIdx(0));
  return next;
}

SmallVector<Value> KernelEmitter::emitOverlappedKeyTile(Value kt,
                                                        ValueRange carried,
                                                        bool masked) {
  Value stage = stageOf(kt), prevStage = sub(idx(1), stage);
  Value prev = sub(kt, idx(1));
  startKeyTile(kt);
  awaitTurn();
  Value acc = issueScores(stage);
  acquireStage(Tile::V, prev);
  SmallVector<Value> o = issueCarriedPV(carried, prevStage);
  passTurn();
  waitMma(1);
  releaseStage(Tile::K, kt);
  Scores s = readScores(acc);
  if (masked)
    maskScores(s, kt);
  SmallVector<Value> next(carried.begin(), carried.end());
  SmallVector<Value> alpha = softmax(s, carried, next, /*rescale=*/false);
  llvm::copy(alpha, next.begin() + alphaIdx(0));
  waitMma(0);
  releaseStage(Tile::V, prev);
  retireCarriedPV(carried, o, next);
  llvm::copy(carriedP(s), next.begin() + pIdx(0, 0));
  return next;
}

SmallVector<Value> KernelEmitter::emitLastPV(ValueRange carried) {
  Value last = sub(endTile, idx(1));
  if (cfg.warpSpecialized)
    acquireStage(Tile::V, last);
  else
    waitCopies(0);
  SmallVector<Value> o = issueCarriedPV(carried, stageOf(last));
  waitMma(0);
  // (Released for the next item's tiles; a block's last item leaves it
  // as it is.)
  if (cfg.persistent)
    arrivePerWarp(stageBarrier(Tile::V, /*full=*/false, last),
                  "last V released");
  SmallVector<Value> next(carried.begin(), carried.end());
  retireCarriedPV(carried, o, next);
  return next;
}

//===----------------------------------------------------------------------===//
// Warp specialization (cfg.warpSpecialized)
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

/// A PTX comment after an instruction, naming what it is for (tests find
/// the instruction by it); nothing for an empty note.
static std::string ptxNote(StringRef note) {
  return note.empty() ? std::string() : (" // " + note).str();
}

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
      sideEffectAsm(
          LLVM::LLVMVoidType::get(b.getContext()), {barrier(which, idx(stage))},
          "mbarrier.init.shared::cta.b64 [$0], " + std::to_string(count) + ";",
          "r");
    };
    // Full: one arrival per copying thread, or the TMA thread's one
    // (with the tile's bytes expected).
    int64_t fillers = cfg.tma ? 1 : cfg.copyThreads();
    for (int64_t stage = 0; stage < 2; ++stage) {
      init(Barrier::FullK, stage, fillers);
      init(Barrier::FullV, stage, fillers);
      init(Barrier::EmptyK, stage, cfg.numWarps);
      init(Barrier::EmptyV, stage, cfg.numWarps);
    }
    init(Barrier::FullQ, 0, fillers);
    if (cfg.persistent)
      init(Barrier::EmptyQ, 0, cfg.numWarps);
    // Claimed items: the producer's one arrival per item a slot holds.
    if (cfg.dynamicSchedule)
      for (int64_t slot = 0; slot < 2; ++slot)
        init(Barrier::Item, slot, 1);
    // The initialized barriers visible to the TMA unit's complete_tx.
    if (cfg.tma)
      sideEffectAsm(LLVM::LLVMVoidType::get(b.getContext()), {},
                    "fence.mbarrier_init.release.cluster;", "");
  }
  gpu::BarrierOp::create(b, loc);
}

void KernelEmitter::waitBarrier(Value addr, Value parity, StringRef note) {
  // try_wait suspends the thread for a while; loop until the phase is done.
  Type i32 = b.getI32Type();
  Value par = toI32(parity);
  auto loop = scf::WhileOp::create(b, loc, TypeRange{}, ValueRange{});
  {
    OpBuilder::InsertionGuard g(b);
    b.createBlock(&loop.getBefore());
    Value done = sideEffectAsm(
        i32, {addr, par},
        ("{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [$1], "
         "$2;" +
         ptxNote(note) + "\nselp.u32 $0, 1, 0, p;\n}"),
        "=r,r,r");
    Value again = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, done,
                                        i32Const(0));
    scf::ConditionOp::create(b, loc, again, ValueRange{});
    b.createBlock(&loop.getAfter());
    scf::YieldOp::create(b, loc);
  }
}

void KernelEmitter::arriveOnCopies(Value addr) {
  sideEffectAsm(LLVM::LLVMVoidType::get(b.getContext()), {addr},
                "cp.async.mbarrier.arrive.noinc.shared::cta.b64 [$0];", "r");
}

Value KernelEmitter::useIndex(Value kt) {
  return cfg.persistent ? add(kt, tileShift) : sub(kt, beginTile);
}

Value KernelEmitter::stageOf(Value kt) {
  return remu(cfg.persistent ? useIndex(kt) : kt, 2);
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
  if (!cfg.warpSpecialized)
    return;
  waitBarrier(stageBarrier(tile, /*full=*/true, kt), useParity(kt));
  // cp.async copies were the generic proxy's writes; wgmma reads through the
  // async proxy (as TMA writes).
  if (!cfg.tma)
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
  sideEffectAsm(LLVM::LLVMVoidType::get(b.getContext()), {addr},
                "mbarrier.arrive.shared::cta.b64 _, [$0];" + ptxNote(note),
                "r");
}

void KernelEmitter::releaseStage(Tile tile, Value kt) {
  if (!cfg.warpSpecialized)
    return;
  // One arrival per warp, after its wait for the product that read the
  // stage.
  arrivePerWarp(stageBarrier(tile, /*full=*/false, kt));
}

void KernelEmitter::emitProducer(Value q0) {
  // Q's buffer is refilled once the previous item's last S is done: the
  // empty barrier's phase itemsBefore - 1 (a fresh barrier reports phase
  // -1 complete).
  if (cfg.persistent)
    waitBarrier(barrier(Barrier::EmptyQ, idx(0)),
                remu(add(itemsBefore, idx(1)), 2), "Q empty");
  // A tile into its buffer, `full` signalled once it has landed.
  auto fill = [&](Tile tile, Value stage, Value row0, Value full) {
    if (cfg.tma)
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

//===----------------------------------------------------------------------===//
// Persistent blocks (cfg.persistent)
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
  if (!cfg.persistent) {
    itemsBefore = idx(0);
    return body(linear);
  }
  Type i32 = b.getI32Type();
  Value grid = arith::MulIOp::create(
      b, loc, toI32(gpu::GridDimOp::create(b, loc, gpu::Dimension::x)),
      toI32(gpu::GridDimOp::create(b, loc, gpu::Dimension::y)));
  Value items =
      arith::MulIOp::create(b, loc, toI32(numQTiles), i32Const(numHeads));
  if (cfg.dynamicSchedule)
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
// Dynamic schedule (cfg.dynamicSchedule)
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
  // After the seven barriers' 16-byte pairs.
  static_assert(GPUKernelConfig::kBarrierBytes >= 7 * 16 + 2 * 4,
                "the barrier bytes hold the claimed-item slots");
  Value offset = add(idx(7 * 16), mul(slot, idx(4)));
  return arith::TruncIOp::create(
      b, loc, b.getI32Type(),
      arith::AddIOp::create(b, loc, mbarAddr, toI64(offset)));
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
  Type i32 = b.getI32Type(), none = LLVM::LLVMVoidType::get(b.getContext());
  Value old = sideEffectAsm(
      i32, {tileCounter}, "atom.global.add.u32 $0, [$1], 1; // claim", "=r,l");
  auto ifLast = scf::IfOp::create(
      b, loc,
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, old,
                            arith::SubIOp::create(b, loc, items, i32Const(1))),
      /*withElse=*/false);
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(ifLast.thenBlock());
    sideEffectAsm(none, {tileCounter, i32Const(0)},
                  "st.global.u32 [$0], $1; // counter reset", "l,r");
  }
  Value slot = remu(toIndex(n), 2);
  sideEffectAsm(none,
                {itemSlot(slot), arith::AddIOp::create(b, loc, grid, old)},
                "st.shared.u32 [$0], $1;", "r,r");
  // (Release: the slot's store before the arrival.)
  sideEffectAsm(none, {barrier(Barrier::Item, slot)},
                "mbarrier.arrive.shared::cta.b64 _, [$0]; // item claimed",
                "r");
}

Value KernelEmitter::readItem(Value n) {
  Value slot = remu(toIndex(n), 2);
  waitBarrier(barrier(Barrier::Item, slot),
              remu(divu(sub(toIndex(n), idx(1)), 2), 2), "item claimed");
  return sideEffectAsm(b.getI32Type(), {itemSlot(slot)},
                       "ld.shared.u32 $0, [$1];", "=r,r");
}

void KernelEmitter::releaseQ() {
  if (cfg.persistent)
    arrivePerWarp(barrier(Barrier::EmptyQ, idx(0)), "Q released");
}

//===----------------------------------------------------------------------===//
// Ping-pong (cfg.pingPong)
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
  if (!cfg.pingPong)
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
  if (!cfg.pingPong)
    return;
  NVVM::BarrierOp::create(b, loc, TypeRange{}, ownTurn, i32Const(kTurnThreads),
                          {}, Value{});
}

void KernelEmitter::passTurn() {
  if (!cfg.pingPong)
    return;
  NVVM::BarrierArriveOp::create(b, loc, otherTurn, i32Const(kTurnThreads));
}

Value KernelEmitter::opaqueTid() {
  return toIndex(
      sideEffectAsm(b.getI32Type(), {}, "mov.u32 $0, %tid.x;", "=r"));
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
  if (cfg.persistent)
    tileShift = sub(tilesBefore, beginTile);
  Value wholeTiles = divu(tokens, bk);
  t.fullEnd = arith::MinSIOp::create(b, loc, range.getFullEnd(), wholeTiles);
  t.fullBegin = arith::MinSIOp::create(b, loc, range.getFullBegin(), t.fullEnd);
  t.fullEnd = arith::MaxSIOp::create(b, loc, t.fullEnd, t.fullBegin);
  t.any = cmp(arith::CmpIPredicate::slt, beginTile, endTile);
  return t;
}

void KernelEmitter::emit(Value q, Value k, Value v, Value cu, Value out,
                         Value lse, Value counter, ValueRange tensorMaps) {
  tileCounter = counter;
  if (cfg.tma) {
    qMap = tensorMaps[0];
    kMap = tensorMaps[1];
    vMap = tensorMaps[2];
    if (cfg.tmaStore)
      oMap = tensorMaps[3];
  }
  qBuf = q;
  kBuf = k;
  vBuf = v;
  cuBuf = cu;
  outBuf = out;
  lseBuf = lse;

  tokens = memref::DimOp::create(b, loc, q, 0);
  tid = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
  lane = remu(tid, 32);
  warp = divu(tid, 32);
  quad = remu(lane, 4); // t
  setUpLanes();

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
  if (!cfg.persistent)
    rows = startItem(linear);

  auto ws =
      gpu::AddressSpaceAttr::get(b.getContext(), gpu::AddressSpace::Workgroup);
  allocateShared(gpu::DynamicSharedMemoryOp::create(
      b, loc,
      MemRefType::get({ShapedType::kDynamic}, b.getI8Type(),
                      MemRefLayoutAttrInterface(), ws)));

  copyTid = tid;
  if (!cfg.warpSpecialized) {
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
      if (cfg.softmaxOverlap)
        copyK(beginTile, remu(beginTile, 2));
      else
        copyKV(beginTile, remu(beginTile, 2));
    }
    NVVM::CpAsyncCommitGroupOp::create(b, loc);
    if (!cfg.softmaxOverlap)
      waitCopies(1);
    return emitCompute(rows.q0, tiles);
  }

  initBarriers();
  // Without persistent blocks, the item's key tiles are found before the
  // warpgroups part; with them, each side finds those of its items.
  std::optional<KeyTiles> tiles;
  if (!cfg.persistent)
    tiles = keyTiles(rows);
  auto eachItem = [&](bool producer,
                      function_ref<void(Value, const KeyTiles &)> body) {
    forEachItem(linear, producer, [&](Value item) {
      if (cfg.persistent) {
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
  if (cfg.tma) {
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
      copyTid = sub(cfg.persistent ? opaqueTid() : tid, idx(32 * cfg.numWarps));
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
    if (cfg.persistent && cfg.pingPong)
      (void)setTurns(opaqueTid());
    emitCompute(q0, t);
  });
  // Exit with the TMA stores of O done.
  if (cfg.tmaStore)
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

  // Carried state: O accumulators, row max (log2 domain), partial row sum.
  SmallVector<Value> state;
  for (int64_t i = 0; i < numO(); ++i)
    state.push_back(f32Const(0.0));
  for (int64_t i = 0; i < cfg.mTiles * 2; ++i)
    state.push_back(negInf());
  for (int64_t i = 0; i < cfg.mTiles * 2; ++i)
    state.push_back(f32Const(0.0));
  if (!cfg.softmaxOverlap) {
    state = emitLoop(beginTile, fullBegin, state, /*masked=*/true);
    state = emitLoop(fullBegin, fullEnd, state, /*masked=*/false);
    state = emitLoop(fullEnd, endTile, state, /*masked=*/true);
  } else {
    // The first tile peeled, the loops from the second, the last P V after
    // them: no product is in flight across a branch.
    for (int64_t i = 0; i < cfg.blockK / 16 * 4; ++i)
      state.push_back(i32Const(0));
    for (int64_t i = 0; i < cfg.mTiles * 2; ++i)
      state.push_back(f32Const(0.0));
    auto ifAny = [&](function_ref<SmallVector<Value>(ValueRange)> body) {
      auto ifOp = scf::IfOp::create(b, loc, TypeRange(ValueRange(state)), any,
                                    /*withElse=*/true);
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPointToStart(ifOp.thenBlock());
      scf::YieldOp::create(b, loc, body(state));
      b.setInsertionPointToStart(ifOp.elseBlock());
      scf::YieldOp::create(b, loc, state);
      state.assign(ifOp.getResults().begin(), ifOp.getResults().end());
    };
    // Warp specialization: this item's Q (phase itemsBefore), key tiles or
    // not (its copy lands before a persistent block hands the buffer back).
    if (cfg.warpSpecialized)
      waitBarrier(barrier(Barrier::FullQ, idx(0)), remu(itemsBefore, 2),
                  "Q full");
    ifAny([&](ValueRange init) { return emitFirstTile(beginTile, init); });
    Value second = add(beginTile, idx(1));
    auto atLeast = [&](Value x) {
      return arith::MaxSIOp::create(b, loc, x, second).getResult();
    };
    state = emitLoop(second, fullBegin, state, /*masked=*/true);
    state = emitLoop(atLeast(fullBegin), fullEnd, state, /*masked=*/false);
    state = emitLoop(atLeast(fullEnd), endTile, state, /*masked=*/true);
    releaseQ();
    ifAny([&](ValueRange init) { return emitLastPV(init); });
    // With no key tile, the Q copy is still pending.
    if (!cfg.warpSpecialized)
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
      Value m = state[maxIdx(mt, i)];
      Value l = quadReduce(state[sumIdx(mt, i)], /*isMax=*/false);
      inverses.push_back(inverseSum(l));
      lseValues.push_back(logSumExp(m, l, log2(l)));
    }
  storeOutput(q0, thread, rows, inverses, state);
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

void KernelEmitter::storeOutput(Value q0, Value thread, ArrayRef<Value> rows,
                                ArrayRef<Value> inverses, ValueRange state) {
  // O's pair n of (m-tile, half) r: columns 8n + 2t, 8n + 2t + 1.
  auto pairOf = [&](int64_t mt, int i, int64_t n) {
    Value inv = inverses[mt * 2 + i];
    return std::make_pair(fmul(state[oIdx(mt, n, 2 * i)], inv),
                          fmul(state[oIdx(mt, n, 2 * i + 1)], inv));
  };
  if (!cfg.tmaStore) {
    for (int64_t mt = 0; mt < cfg.mTiles; ++mt)
      for (int i = 0; i < 2; ++i) {
        Value row = rows[mt * 2 + i];
        auto ifOp = scf::IfOp::create(
            b, loc, cmp(arith::CmpIPredicate::slt, row, tokens), false);
        OpBuilder::InsertionGuard g(b);
        b.setInsertionPointToStart(ifOp.thenBlock());
        for (int64_t n = 0; n < nvt(); ++n) {
          auto [x, y] = pairOf(mt, i, n);
          Value pair = vector::FromElementsOp::create(
              b, loc, VectorType::get({2}, f32), ValueRange{x, y});
          pair =
              arith::TruncFOp::create(b, loc, VectorType::get({2}, elt), pair);
          vector::StoreOp::create(
              b, loc, pair, outBuf,
              ValueRange{row, head, add(idx(n * 8), keyCol0)});
        }
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
  auto voidTy = LLVM::LLVMVoidType::get(b.getContext());
  if (cfg.persistent)
    waitStores(thread, /*readOnly=*/true);
  meet();
  Value quadBytes = toI32(mul(quad, idx(4)));
  for (int64_t mt = 0; mt < cfg.mTiles; ++mt)
    for (int i = 0; i < 2; ++i)
      for (int64_t n = 0; n < nvt(); ++n) {
        auto [x, y] = pairOf(mt, i, n);
        Value addr = arith::AddIOp::create(
            b, loc, outputUnitAddress(sub(rows[mt * 2 + i], q0), idx(n)),
            quadBytes);
        sideEffectAsm(voidTy, {addr, asI32(pack(x, y))},
                      "st.shared.b32 [$0], $1;", "r,r");
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
    for (int64_t box = 0; box < valueDim / boxCols; ++box)
      sideEffectAsm(voidTy,
                    {oMap, i32Const(box * boxCols), headI32, row0,
                     outputUnitAddress(firstRow, idx(box * boxCols / 8))},
                    "cp.async.bulk.tensor.3d.global.shared::cta.bulk_group "
                    "[$0, {$1, $2, $3}], [$4];",
                    "l,r,r,r,r");
    sideEffectAsm(voidTy, {}, "cp.async.bulk.commit_group;", "");
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
    sideEffectAsm(LLVM::LLVMVoidType::get(b.getContext()), {},
                  readOnly ? "cp.async.bulk.wait_group.read 0;"
                           : "cp.async.bulk.wait_group 0;",
                  "");
  });
}

//===----------------------------------------------------------------------===//
// Entry point and pass
//===----------------------------------------------------------------------===//

std::optional<TensorCoreOp> mlir::attn::parseTensorCoreOp(StringRef name) {
  if (name == "mma-sync")
    return TensorCoreOp::MmaSync;
  if (name == "wgmma")
    return TensorCoreOp::Wgmma;
  return std::nullopt;
}

StringRef mlir::attn::stringifyTensorCoreOp(TensorCoreOp op) {
  return op == TensorCoreOp::Wgmma ? "wgmma" : "mma-sync";
}

std::optional<int64_t> mlir::attn::maxSharedBytesPerBlock(StringRef chip) {
  // Ampere's and Ada's mma.sync, cp.async and bf16 need sm_80; Hopper's
  // wgmma needs sm_90a. Later chips need a newer PTX than the pipeline's.
  return llvm::StringSwitch<std::optional<int64_t>>(chip)
      .Cases({"sm_80", "sm_87"}, 163 * 1024)
      .Cases({"sm_86", "sm_89"}, 99 * 1024)
      .Cases({"", "sm_90", "sm_90a"}, 227 * 1024)
      .Default(std::nullopt);
}

bool mlir::attn::isNVIDIAHeadDim(TensorCoreOp mma, int64_t d) {
  return d == 64 || d == 128 || (mma == TensorCoreOp::MmaSync && d == 32);
}

StringRef mlir::attn::nvidiaHeadDimList(TensorCoreOp mma) {
  return mma == TensorCoreOp::MmaSync ? "32, 64 and 128" : "64 and 128";
}

bool mlir::attn::isTensorCoreOpName(StringRef name) {
  return name == kChipDefaultMma || parseTensorCoreOp(name);
}

std::optional<GPUKernelConfig>
mlir::attn::gpuKernelConfig(const AttnGPUTileAttentionOptions &options,
                            int64_t headDim, StringRef chip) {
  // "auto": the chip's measured-fastest kernel. On sm_90a (and "") that is
  // wgmma with every schedule option (bench/results/h200-2026-12-04: the
  // fastest flavour on all eight cases); elsewhere mma.sync.
  bool chipDefault = options.mma == kChipDefaultMma;
  // (wgmma's tiles are whole 128-byte rows: other head dims take mma.sync.)
  bool hopper = (chip.empty() || chip == "sm_90a") &&
                isNVIDIAHeadDim(TensorCoreOp::Wgmma, headDim);
  std::optional<TensorCoreOp> mma =
      chipDefault ? (hopper ? TensorCoreOp::Wgmma : TensorCoreOp::MmaSync)
                  : parseTensorCoreOp(options.mma);
  if (!mma)
    return std::nullopt;
  bool all = chipDefault && *mma == TensorCoreOp::Wgmma;
  GPUKernelConfig cfg;
  cfg.mma = *mma;
  cfg.softmaxOverlap = all || options.softmaxOverlap;
  cfg.warpSpecialized = all || options.warpSpecialize;
  cfg.pingPong = all || options.warpgroupPingPong;
  cfg.persistent = all || options.persistent;
  cfg.dynamicSchedule = all || options.dynamicSchedule;
  cfg.tma = all || options.tma;
  cfg.tmaStore = all || options.tmaStore;
  int64_t blockK = options.blockK;
  if (*mma == TensorCoreOp::Wgmma) {
    // Two warpgroups, one 16-row slice per warp, unpadded swizzled tiles;
    // 128-key tiles (ptxas -v: 0 spills for D = 64 and 128).
    cfg.mTiles = 1;
    cfg.numWarps = 8;
    cfg.pad = 0;
    cfg.blockK = blockK ? blockK : 128;
    return cfg;
  }
  cfg.mTiles = 2;
  // Measured with ptxas -v (0 spills at 255 registers): 64-key tiles for
  // D <= 128 on sm_90a (128-key tiles spill at D = 64), 32-key tiles for
  // D = 128 on sm_8x.
  bool ampere = chip.starts_with("sm_8");
  cfg.blockK = blockK ? blockK : (ampere && headDim > 64 ? 32 : 64);
  return cfg;
}

/// The chip of the #nvvm.target of the gpu.module around `op`, or "".
static StringRef targetChip(Operation *op) {
  auto module = op->getParentOfType<gpu::GPUModuleOp>();
  if (!module || !module.getTargetsAttr())
    return "";
  for (Attribute t : module.getTargetsAttr())
    if (auto nvvm = dyn_cast<NVVM::NVVMTargetAttr>(t))
      return nvvm.getChip();
  return "";
}

LogicalResult mlir::attn::gpuTileAttention(RewriterBase &rewriter,
                                           AttentionOp op,
                                           const GPUKernelConfig &config) {
  auto func = op->getParentOfType<gpu::GPUFuncOp>();
  if (!func || !func.isKernel())
    return op.emitOpError("the NVIDIA lowering needs the op in a gpu.func "
                          "kernel");
  Type elt = op.getElementType();
  if (!elt.isBF16() && !elt.isF16())
    return op.emitOpError("the NVIDIA lowering supports f16 and bf16, got ")
           << elt;
  StringRef chip = targetChip(op);
  std::optional<int64_t> maxShared = maxSharedBytesPerBlock(chip);
  if (!maxShared)
    return op.emitOpError("the NVIDIA kernels support ")
           << kSupportedChips << ", the gpu.module targets " << chip;
  if (config.blockK % 16 != 0 || config.blockK < 16)
    return op.emitOpError("block_k must be a positive multiple of 16");
  // Each warp holds its rows' scores of a key tile in registers: past 128
  // keys (mma.sync) or 256 (wgmma) they spill, and compiling takes minutes.
  int64_t maxBlockK = config.mma == TensorCoreOp::Wgmma ? 256 : 128;
  if (config.blockK > maxBlockK)
    return op.emitOpError("")
           << stringifyTensorCoreOp(config.mma) << " needs block_k <= "
           << maxBlockK << ", got " << config.blockK;
  int64_t headDim = op.getHeadDim(), valueDim = op.getValueDim();
  if (!isNVIDIAHeadDim(config.mma, headDim) ||
      !isNVIDIAHeadDim(config.mma, valueDim))
    return op.emitOpError("the ")
           << stringifyTensorCoreOp(config.mma) << " kernels support head dims "
           << nvidiaHeadDimList(config.mma) << ", got D = " << headDim
           << " and Dv = " << valueDim
           << " (the CPU target takes every head dim of the op)";
  // Every thread issues the same number of 16-byte copies, and each pass
  // of the copying threads covers whole rows.
  int64_t units = 8 * config.copyThreads();
  if (units % headDim != 0 || units % valueDim != 0 ||
      (config.blockQ() * headDim) % units != 0 ||
      (config.blockK * headDim) % units != 0 ||
      (config.blockK * valueDim) % units != 0)
    return op.emitOpError("the tiles (block_q ")
           << config.blockQ() << ", block_k " << config.blockK
           << ") do not split into 16-byte copies over " << config.copyThreads()
           << " threads for head dims " << headDim << "/" << valueDim;
  if (config.softmaxOverlap && config.mma != TensorCoreOp::Wgmma)
    return op.emitOpError("the softmax overlap needs an asynchronous "
                          "tensor-core flavour (wgmma)");
  if (config.warpSpecialized && !config.softmaxOverlap)
    return op.emitOpError("warp specialization needs the softmax overlap");
  if (config.pingPong && !config.warpSpecialized)
    return op.emitOpError("the warpgroup ping-pong needs warp specialization");
  if (config.persistent && !config.warpSpecialized)
    return op.emitOpError("persistent blocks need warp specialization");
  if (config.tma && !config.warpSpecialized)
    return op.emitOpError("TMA loads need warp specialization");
  if (config.tmaStore && !config.tma)
    return op.emitOpError("a TMA store of O needs TMA loads");
  if (config.dynamicSchedule && !config.persistent)
    return op.emitOpError("a dynamic schedule needs persistent blocks");
  // One thread claims the items: the TMA producer's (128 copying threads
  // with 56 registers each spill with the claims, ptxas -v, D = 128).
  if (config.dynamicSchedule && !config.tma)
    return op.emitOpError("a dynamic schedule needs TMA loads");
  // The turns go between two consumer warpgroups (wgmma's eight warps).
  assert(!config.pingPong || config.numWarps == 8);
  if (config.mma == TensorCoreOp::Wgmma) {
    if (!chip.empty() && chip != "sm_90a")
      return op.emitOpError("wgmma needs sm_90a, the gpu.module targets ")
             << chip;
  }
  int64_t shared = config.sharedBytes(headDim, valueDim,
                                      elt.getIntOrFloatBitWidth() / 8);
  if (shared > *maxShared)
    return op.emitOpError("the kernel needs ")
           << shared << " bytes of shared memory per block (block_k "
           << config.blockK << ", head dims " << headDim << "/" << valueDim
           << "), more than the " << *maxShared << " "
           << (chip.empty() ? StringRef("sm_90a") : chip)
           << " allows; use a smaller block-k";
  SmallVector<Value> inputs;
  for (Value t :
       {op.getQuery(), op.getKey(), op.getValue(), op.getCuSeqlens()}) {
    Value buf = getSourceBuffer(t);
    if (!buf)
      return op.emitOpError("the NVIDIA lowering needs inputs read with "
                            "bufferization.to_tensor from memrefs");
    inputs.push_back(buf);
  }
  SmallVector<Value> outputs;
  for (Value r : op->getResults()) {
    Value dest = getMaterializedDestination(op, r);
    if (!dest)
      return op.emitOpError("the NVIDIA lowering needs both results "
                            "materialized into kernel arguments");
    outputs.push_back(dest);
  }
  if (config.dynamicSchedule && func->hasAttr(kTileCounterArgAttr))
    return op.emitOpError("the kernel already has a tile-counter argument");
  if (config.tma && func->hasAttr(kTensorMapArgsAttr))
    return op.emitOpError("the kernel already has tensor-map arguments");
  auto appendArgument = [&](Type type) {
    unsigned at = func.getNumArguments();
    [[maybe_unused]] bool added =
        succeeded(func.insertArgument(at, type, DictionaryAttr(), op.getLoc()));
    assert(added && "a gpu.func takes trailing arguments");
    return func.getArgument(at);
  };
  // A dynamic schedule: the tile counter (global i32), then ...
  Value tileCounter;
  if (config.dynamicSchedule) {
    tileCounter = appendArgument(
        LLVM::LLVMPointerType::get(rewriter.getContext(), /*global*/ 1));
    func->setAttr(kTileCounterArgAttr, rewriter.getUnitAttr());
  }
  // ... TMA: the tensor maps of Q, K and V (and O) as the kernel's last
  // arguments.
  SmallVector<Value> tensorMaps;
  if (config.tma) {
    auto ptr = LLVM::LLVMPointerType::get(rewriter.getContext());
    for (int64_t i = 0; i < config.tensorMaps(); ++i)
      tensorMaps.push_back(appendArgument(ptr));
    func->setAttr(kTensorMapArgsAttr,
                  rewriter.getI64IntegerAttr(config.tensorMaps()));
  }
  rewriter.setInsertionPoint(op);
  std::unique_ptr<KernelEmitter> emitter =
      config.mma == TensorCoreOp::Wgmma
          ? createWgmmaEmitter(rewriter, op.getLoc(), op, config)
          : createMmaSyncEmitter(rewriter, op.getLoc(), op, config);
  emitter->emit(inputs[0], inputs[1], inputs[2], inputs[3], outputs[0],
                outputs[1], tileCounter, tensorMaps);
  for (Value r : op->getResults())
    rewriter.eraseOp(*r.user_begin());
  rewriter.eraseOp(op);
  int32_t threads = int32_t(config.threads());
  func.setKnownBlockSizeAttr(rewriter.getDenseI32ArrayAttr({threads, 1, 1}));
  // setmaxnreg needs a known register count at entry: one block per SM
  // (.minnctapersm 1) gives every thread 65536 / threads registers.
  if (config.warpSpecialized)
    func->setAttr(NVVM::NVVMDialect::getMinctasmAttrName(),
                  rewriter.getI32IntegerAttr(1));
  return success();
}

namespace {
struct AttnGPUTileAttentionPass
    : public mlir::attn::impl::AttnGPUTileAttentionBase<
          AttnGPUTileAttentionPass> {
  using Base::Base;
  // A bad option is an error naming the pass (MLIR's own is empty).
  LogicalResult initializeOptions(
      StringRef options,
      function_ref<LogicalResult(const Twine &)> errorHandler) override {
    // (MLIR's parser passes on an empty message when llvm::cl has printed
    // what was wrong with a value.)
    if (succeeded(Base::initializeOptions(
            options, [&](const Twine &msg) {
              return msg.isTriviallyEmpty() || msg.str().empty()
                         ? failure()
                         : errorHandler(msg);
            })))
      return success();
    return errorHandler(getArgument() + ": bad options '" + options + "'");
  }
  // (Reads the options, protected members of the generated base.)
  template <typename To, typename From>
  friend void mlir::attn::copyGPUTileOptions(To &, const From &);
  void runOnOperation() override {
    AttnGPUTileAttentionOptions options;
    copyGPUTileOptions(options, *this);
    if (!isTensorCoreOpName(mma)) {
      getOperation().emitError("unknown mma '")
          << mma << "' (expected auto, mma-sync or wgmma)";
      return signalPassFailure();
    }
    SmallVector<AttentionOp> found;
    getOperation().walk([&](AttentionOp op) { found.push_back(op); });
    IRRewriter rewriter(&getContext());
    for (AttentionOp op : found) {
      if (failed(gpuTileAttention(
              rewriter, op,
              *gpuKernelConfig(options, op.getHeadDim(), targetChip(op)))))
        return signalPassFailure();
    }
  }
};
} // namespace
