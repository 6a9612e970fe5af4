//===- Backward.cpp - attn.attention_grad's kernel: its key items ---------===//
//
// The kernel (BackwardEmitter.h) and its key items. With `deterministic`,
// one kernel with two kinds of work item, so that dQ needs neither atomics
// nor a workspace and comes out the same bits on every run:
//   - blocks [0, key tiles x Hkv x parts): key tile kt of key/value head g
//     (and one column part, below). K and V stay in shared memory; for
//     each query head of the group and each query tile
//     attn.query_tile_range names (partial, full, partial), the Q and dO
//     tiles are copied in, each row's delta = rowsum(dO o O) (O read from
//     global memory) and score shift (lse in the log2 domain) computed into
//     shared memory, and each warp, owning 16 keys, computes S^T = K Q^T,
//     P^T, dP^T = V dO^T, dS^T = P^T o (dP^T - delta), dV += P^T dO and
//     dK += dS^T Q. Then dK (times the scale) and dV are stored.
//   - the blocks after them: the query items (BackwardQueries.cpp).
// Past head dim 128 each item takes one of `parts` column ranges of its dK
// and dV (or dQ) and recomputes S and dP for it: the accumulators of a
// whole row do not fit a thread's registers (mma.sync; the wgmma kernel
// takes head dims up to 128).
// With atomic dq (a dq accumulator among the buffers) there are key items
// only: each also writes its warps' dS^T to shared memory and, after a
// barrier, each warp computes dQ += dS K for its 16 queries (dS read
// MN-major from that tile) in column chunks, added to the f32 accumulator
// with atomics; a second kernel (emitDqConvertKernel) scales and converts.
// Mask math runs in partial tiles only, where a masked pair gets P = 0
// exactly. One stage per tile: correct and simple, not yet measured.
//===----------------------------------------------------------------------===//

#include "BackwardEmitter.h"
#include "MmaSyncEmitter.h"
#include "WgmmaEmitter.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::nvidia;

template <typename F>
BackwardEmitter<F>::BackwardEmitter(OpBuilder &b, Location loc,
                                    AttentionGradOp op,
                                    const GPUKernelConfig &cfg)
    : F(b, loc, op, cfg), group(numHeads / numKvHeads),
      parts(::attn::backwardColumnParts(headDim, valueDim)),
      dkCols(headDim / parts), dvCols(valueDim / parts) {
  this->scarceRegisters = true;
}

//===----------------------------------------------------------------------===//
// Tiles and shared memory
//===----------------------------------------------------------------------===//

template <typename F>
KernelEmitter::TileSource BackwardEmitter<F>::source(Tile tile) {
  switch (tile) {
  case Tile::Q:
    return {qBuf, Value(), queryHead, cfg.blockQ(), headDim};
  case Tile::DO:
    return {doutBuf, Value(), queryHead, cfg.blockQ(), valueDim};
  case Tile::K:
    return {kBuf, Value(), kvHead, cfg.blockK, headDim};
  case Tile::V:
    return {vBuf, Value(), kvHead, cfg.blockK, valueDim};
  case Tile::DS:
    break; // (written from registers, never copied)
  }
  llvm_unreachable("unknown tile");
}

//===----------------------------------------------------------------------===//
// The kernel
//===----------------------------------------------------------------------===//

template <typename F>
void BackwardEmitter<F>::emit(const BackwardBuffers &in) {
  qBuf = in.q;
  kBuf = in.k;
  vBuf = in.v;
  cuBuf = in.cu;
  outBuf = in.out;
  lseBuf = in.lse;
  doutBuf = in.dout;
  dqBuf = in.dq;
  dkBuf = in.dk;
  dvBuf = in.dv;
  dqAccBuf = in.dqAccumulator;

  tokens = memref::DimOp::create(b, loc, qBuf, 0);
  setThread(gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x));

  layout = backwardSharedLayout(cfg, headDim, valueDim,
                                elt.getIntOrFloatBitWidth() / 8,
                                /*dsTile=*/bool(dqAccBuf));
  this->createAlignedWindow(layout.baseAlign);
  tiles[int(Tile::Q)] = {layout.q, cfg.blockQ(), headDim};
  tiles[int(Tile::K)] = {layout.k, cfg.blockK, headDim};
  tiles[int(Tile::V)] = {layout.v, cfg.blockK, valueDim};
  tiles[int(Tile::DO)] = {layout.dout, cfg.blockQ(), valueDim};
  if (dqAccBuf)
    tiles[int(Tile::DS)] = {layout.ds, cfg.blockK, cfg.blockQ()};
  this->viewTiles();
  sDelta = this->sharedView(layout.delta.offset, {cfg.blockQ()}, f32);
  sShift = this->sharedView(layout.shift.offset, {cfg.blockQ()}, f32);

  // Blocks [0, key tiles x Hkv x parts) take the key items, the rest (with
  // deterministic dq) the query items, longest first: under a causal
  // mask the first key tiles and the last query tiles see the most.
  numQTiles = arith::CeilDivUIOp::create(b, loc, tokens, idx(cfg.blockQ()));
  Value block = gpu::BlockIdOp::create(b, loc, gpu::Dimension::x);
  if (dqAccBuf) { // (the grid: key items only)
    emitKeyItem(block);
    return;
  }
  auto ifKey = scf::IfOp::create(
      b, loc, cmp(arith::CmpIPredicate::ult, block, keyItemCount()),
      /*withElse=*/true);
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(ifKey.thenBlock());
  emitKeyItem(block);
  b.setInsertionPointToStart(ifKey.elseBlock());
  setThread(opaqueTid()); // (the other branch's values are its own)
  emitQueryItem(block);
}

template <typename F>
Value BackwardEmitter<F>::keyItemCount() {
  return mul(arith::CeilDivUIOp::create(b, loc, tokens, idx(cfg.blockK)),
             idx(numKvHeads * parts));
}

template <typename F>
Value BackwardEmitter<F>::keyItem(Value block) {
  // Each item's part: the block's remainder by parts.
  part = parts == 1 ? idx(0) : remu(block, parts);
  Value unit = parts == 1 ? block : divu(block, parts);
  kvHead = remu(unit, numKvHeads);
  return divu(unit, numKvHeads);
}

template <typename F>
Value BackwardEmitter<F>::queryItem(Value block) {
  part = parts == 1 ? idx(0) : remu(block, parts);
  Value item = sub(block, keyItemCount());
  if (parts != 1)
    item = divu(item, parts);
  head = remu(item, numHeads);
  kvHead = divu(head, group);
  return sub(sub(numQTiles, idx(1)), divu(item, numHeads));
}

template <typename F>
void BackwardEmitter<F>::setThread(Value thread) {
  setThreadValues(thread);
  copyTid = thread;
  sliceCol = mul(quad, idx(2));
}

template <typename F>
std::pair<Value, Value> BackwardEmitter<F>::wholeFullTiles(Value fullBegin,
                                                           Value fullEnd) {
  Value whole = divu(tokens, cfg.blockK);
  Value end = arith::MinSIOp::create(b, loc, fullEnd, whole);
  Value begin = arith::MinSIOp::create(b, loc, fullBegin, end);
  return {begin, arith::MaxSIOp::create(b, loc, end, begin)};
}

template <typename F>
SmallVector<Value> BackwardEmitter<F>::tileLoops(
    Value begin, Value fullBegin, Value fullEnd, Value end, ValueRange init,
    function_ref<SmallVector<Value>(Value, bool, ValueRange)> body) {
  SmallVector<Value> carried(init);
  // (Bounds and induction variables as i32: half the registers through
  // the loops.)
  Value one = arith::ConstantIntOp::create(b, loc, 1, 32);
  for (auto [lb, ub, masked] : {std::tuple{begin, fullBegin, true},
                                {fullBegin, fullEnd, false},
                                {fullEnd, end, true}}) {
    auto loop = scf::ForOp::create(b, loc, toI32(lb), toI32(ub), one, carried);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(loop.getBody());
    scf::YieldOp::create(b, loc,
                         body(this->toIndex(loop.getInductionVar()), masked,
                              loop.getRegionIterArgs()));
    carried.assign(loop.getResults().begin(), loop.getResults().end());
  }
  return carried;
}

//===----------------------------------------------------------------------===//
// The key items
//===----------------------------------------------------------------------===//

template <typename F>
void BackwardEmitter<F>::emitKeyItem(Value block) {
  Value k0 = mul(keyItem(block), idx(cfg.blockK));
  Value k1 = arith::MinSIOp::create(b, loc, add(k0, idx(cfg.blockK)), tokens);
  // K and V once (they land with the first query tile's copies).
  copyRows(Tile::K, Value(), k0);
  copyRows(Tile::V, Value(), k0);
  auto range = QueryTileRangeOp::create(b, loc, cuBuf, tokens, k0, k1, mask,
                                        cfg.blockQ());
  auto [fullBegin, fullEnd] =
      wholeFullTiles(range.getFullBegin(), range.getFullEnd());
  if (dqAccBuf) {
    // Atomic dq reads every key row's dS^T, the ragged last tile's padding
    // too (P of a padding key is not 0 unless masked): that tile's query
    // tiles are all partial, its padding keys see no query.
    Value ragged = cmp(arith::CmpIPredicate::slt, sub(k1, k0), idx(cfg.blockK));
    Value begin = range.getBegin();
    fullBegin = select(ragged, begin, fullBegin);
    fullEnd = select(ragged, begin, fullEnd);
  }
  // The queries each of this thread's two keys may see (partial tiles).
  SmallVector<Value> keys = threadRows(k0, tid), colLo, colHi;
  for (Value key : keys) {
    auto col = ColIntervalOp::create(b, loc, cuBuf, tokens, key,
                                     range.getDocFirst(), range.getDocLast(),
                                     mask);
    // (As i32: half the registers through the loops.)
    colLo.push_back(toI32(col.getLo()));
    Value hi = col.getHi();
    if (dqAccBuf) // (a padding key's interval: empty)
      hi = select(cmp(arith::CmpIPredicate::slt, key, tokens), hi, col.getLo());
    colHi.push_back(toI32(hi));
  }
  Value zero = f32Const(0.0);
  int64_t dkN = productColumns(dkCols), dvN = productColumns(dvCols);
  AccTiles dk(1, SmallVector<Acc>(dkN / 8, Acc{zero, zero, zero, zero}));
  AccTiles dv(1, SmallVector<Acc>(dvN / 8, Acc{zero, zero, zero, zero}));
  SmallVector<Value> init = flatten(dk);
  init.append(flatten(dv));
  auto split = [&](ValueRange values) {
    return std::make_pair(unflatten(values.take_front(dkN / 2), 1, dkN / 8),
                          unflatten(values.drop_front(dkN / 2), 1, dvN / 8));
  };
  // Every query head of the group.
  auto heads = scf::ForOp::create(b, loc, idx(0), idx(group), idx(1), init);
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(heads.getBody());
    queryHead = add(mul(kvHead, idx(group)), heads.getInductionVar());
    SmallVector<Value> result = tileLoops(
        range.getBegin(), fullBegin, fullEnd, range.getEnd(),
        heads.getRegionIterArgs(),
        [&](Value qt, bool masked, ValueRange carried) {
          auto [dkAcc, dvAcc] = split(carried);
          // Every address of the products from a fresh read of the thread
          // index: base + constant in each iteration, not hundreds of
          // hoisted registers.
          setThread(opaqueTid());
          Value q0 = mul(qt, idx(cfg.blockQ()));
          loadQueryTile(q0);
          // dP^T = V dO^T and S^T = K Q^T (this warp's 16 keys by the
          // tile's queries), then P^T and dS^T at once, packed as A
          // operands (dP^T and S^T die there), then dV += P^T dO and dK +=
          // dS^T Q (dO and Q read MN-major): the order that keeps the
          // fewest registers live.
          Scores dpt = gemm(Operand::shared(Tile::V, Value(), true),
                            Operand::shared(Tile::DO, Value(), true),
                            cfg.blockQ(), valueDim, nullptr);
          Scores st = gemm(Operand::shared(Tile::K, Value(), true),
                           Operand::shared(Tile::Q, Value(), true),
                           cfg.blockQ(), headDim, nullptr);
          auto fromShared = [&](Value array) {
            return [&, array](int64_t, Value col) {
              return memref::LoadOp::create(b, loc, array, col).getResult();
            };
          };
          Scores pt = probabilities(
              st, masked,
              [&](int64_t r, Value col) {
                Value query = toI32(add(q0, col));
                return arith::AndIOp::create(
                           b, loc,
                           cmp(arith::CmpIPredicate::sge, query, colLo[r]),
                           cmp(arith::CmpIPredicate::slt, query, colHi[r]))
                    .getResult();
              },
              fromShared(sShift));
          Packed pPacked = pack(pt);
          Scores dst = scoreGrads(pt, dpt, fromShared(sDelta));
          Packed dsPacked = pack(dst);
          // Atomic dq: every warp's dS^T into the DS tile, then dQ = dS K
          // from it. On mma.sync both before dV and dK; on wgmma the
          // stores after dV, dQ after dK (the orders with no spills, ptxas
          // -v: Design.md).
          bool early = cfg.mma == TensorCoreOp::MmaSync;
          auto shareScoreGrads = [&] {
            storeTransposed(dsPacked);
            fenceCopies();                  // (for wgmma's reads of it)
            gpu::BarrierOp::create(b, loc); // (every warp's dS^T stored)
          };
          if (dqAccBuf && early) {
            shareScoreGrads();
            addQueryGrads(q0);
          }
          dvAcc = gemm(Operand::registers(operands(pPacked)),
                       Operand::shared(Tile::DO, Value(), false)
                           .fromColumn(partColumn(dvCols)),
                       dvN, cfg.blockQ(), &dvAcc);
          if (dqAccBuf && !early)
            shareScoreGrads();
          dkAcc = gemm(Operand::registers(operands(dsPacked)),
                       Operand::shared(Tile::Q, Value(), false)
                           .fromColumn(partColumn(dkCols)),
                       dkN, cfg.blockQ(), &dkAcc);
          if (dqAccBuf && !early)
            addQueryGrads(q0);
          // The next tile's copies overwrite what was read here.
          gpu::BarrierOp::create(b, loc);
          SmallVector<Value> next = flatten(dkAcc);
          next.append(flatten(dvAcc));
          return next;
        });
    scf::YieldOp::create(b, loc, result);
  }
  // With no query tile the K and V copies are still in flight.
  NVVM::CpAsyncCommitGroupOp::create(b, loc);
  NVVM::CpAsyncWaitGroupOp::create(b, loc, b.getI32IntegerAttr(0));
  auto [dkAcc, dvAcc] = split(heads.getResults());
  // The thread's keys afresh: nothing of them kept through the loops.
  setThread(opaqueTid());
  keys = threadRows(mul(keyItem(opaqueBlockId()), idx(cfg.blockK)), tid);
  storeRows(dkAcc, dkCols, scale, dkBuf, kvHead, keys, partColumn(dkCols));
  storeRows(dvAcc, dvCols, 1.0, dvBuf, kvHead, keys, partColumn(dvCols));
}

template <typename F>
void BackwardEmitter<F>::storeTransposed(const Packed &dst) {
  // A-operand register j of 16-query step kk: key row g (+ 8 for odd j),
  // queries 16 kk + 2t (+ 8 for j >= 2), two of them.
  SmallVector<Value> keys = threadRows(idx(0), tid);
  VectorType pairType = VectorType::get({2}, elt);
  for (size_t kk = 0; kk < dst.size(); ++kk)
    for (int j = 0; j < 4; ++j) {
      Value reg = dst[kk][j];
      Value pair = reg.getType() == pairType
                       ? reg
                       : LLVM::BitcastOp::create(b, loc, pairType, reg);
      Value col = add(idx(int64_t(kk) * 16 + (j / 2) * 8), sliceCol);
      auto [memref, indices] = elementAt(Tile::DS, Value(), keys[j % 2], col);
      vector::StoreOp::create(b, loc, pair, memref, indices,
                              /*nontemporal=*/false, llvm::MaybeAlign(4));
    }
}

template <typename F>
void BackwardEmitter<F>::addQueryGrads(Value q0) {
  // Chunks of 32 columns where they tile a power-of-two part, else of 16
  // (their accumulators beside dK's and dV's: the choice with no spills
  // on sm_80 and sm_90a at every head dim, ptxas -v), as the product
  // computes them (wgmma: one whole 64-column block of its MN-major K;
  // columns past the part's computed, not added).
  int64_t chunk = productColumns(
      llvm::isPowerOf2_64(dkCols) && dkCols >= 32 ? 32 : 16);
  // (Addresses from a fresh read of the thread index: nothing kept live
  // through the products before.)
  setThread(opaqueTid());
  SmallVector<Value> rows = threadRows(q0, tid);
  Value partCol = partColumn(dkCols);
  for (int64_t c0 = 0; c0 < dkCols; c0 += chunk) {
    Value first = partCol ? add(partCol, idx(c0)) : idx(c0);
    AccTiles dq = gemm(Operand::shared(Tile::DS, Value(), /*kMajor=*/false),
                       Operand::shared(Tile::K, Value(), false).fromColumn(
                           first),
                       chunk, cfg.blockK, nullptr);
    for (int i = 0; i < 2; ++i)
      ifRowInside(rows[i], [&] {
        for (int64_t n = 0; n < chunk / 8 && c0 + 8 * n < dkCols; ++n)
          for (int j = 0; j < 2; ++j) {
            Value col = add(first, add(idx(int64_t(n) * 8 + j), sliceCol));
            memref::AtomicRMWOp::create(b, loc, arith::AtomicRMWKind::addf,
                                        dq[0][n][2 * i + j], dqAccBuf,
                                        ValueRange{rows[i], queryHead, col});
          }
      });
  }
}

template class nvidia::BackwardEmitter<MmaSyncEmitter>;
template class nvidia::BackwardEmitter<WgmmaEmitter>;

void nvidia::emitBackwardKernel(OpBuilder &b, Location loc, AttentionGradOp op,
                                const GPUKernelConfig &cfg,
                                const BackwardBuffers &buffers) {
  if (cfg.mma == TensorCoreOp::Wgmma)
    BackwardEmitter<WgmmaEmitter>(b, loc, op, cfg).emit(buffers);
  else
    BackwardEmitter<MmaSyncEmitter>(b, loc, op, cfg).emit(buffers);
}
