//===- Backward.cpp - attn.attention_grad as one mma.sync kernel ----------===//
//
// FlashAttention-2's backward over the packed sequence. With
// `deterministic`, one kernel with two kinds of work item, so that dQ
// needs neither atomics nor a workspace and comes out the same bits on
// every run:
//   - blocks [0, key tiles x Hkv x parts): key tile kt of key/value head g
//     (and one column part, below). K and V stay in shared memory; for
//     each query head of the group and each query tile
//     attn.query_tile_range names (partial, full, partial), the Q and dO
//     tiles are copied in, each row's delta = rowsum(dO o O) (O read from
//     global memory) and score shift (lse in the log2 domain) computed into shared memory,
//     and each warp, owning 16 keys, computes S^T = K Q^T, P^T,
//     dP^T = V dO^T, dS^T = P^T o (dP^T - delta), dV += P^T dO and
//     dK += dS^T Q. Then dK (times the scale) and dV are stored.
//   - the blocks after them: query tile qt of head h (longest first). Its
//     Q and dO tiles, deltas and shifts; for each key tile
//     attn.key_tile_range names, K and V are copied in and each warp,
//     owning 16 queries, computes S = Q K^T, P, dP = dO V^T, dS and
//     dQ += dS K. Then dQ (times the scale) is stored.
// Past head dim 128 each item takes one of `parts` column ranges of its dK
// and dV (or dQ) and recomputes S and dP for it: the accumulators of a
// whole row do not fit a thread's registers.
// With atomic dq (a dq accumulator among the buffers) there are key items
// only: each also writes its warps' dS^T to shared memory and, after a
// barrier, each warp computes dQ += dS K for its 16 queries (dS read
// MN-major from that tile) in column chunks, added to the f32 accumulator
// with atomics; a second kernel (emitDqConvertKernel) scales and converts.
// Every product is the mma.sync flavour's gemm (A from shared memory,
// either layout, or from the accumulators of the previous product, B
// K-major or MN-major);
// mask math runs in partial tiles only, where a masked pair gets P = 0
// exactly. One stage per tile: correct and simple, not yet measured.
//===----------------------------------------------------------------------===//

#include "MmaSyncEmitter.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::nvidia;

namespace {

class BackwardEmitter : public MmaSyncEmitter {
public:
  BackwardEmitter(OpBuilder &b, Location loc, AttentionGradOp op,
                  const GPUKernelConfig &cfg)
      : MmaSyncEmitter(b, loc, op, cfg), group(numHeads / numKvHeads),
        parts(::attn::backwardColumnParts(headDim, valueDim)),
        dkCols(headDim / parts), dvCols(valueDim / parts) {}

  void emit(const BackwardBuffers &in);

private:
  void viewTiles() override;
  std::pair<Value, SmallVector<Value>> tileAt(Tile tile, Value) override;
  TileSource source(Tile tile) override;

  /// dK and dV of key tile kt, kv head kvHead (and with atomic dq, its
  /// part of dQ).
  void emitKeyItem(Value kt);
  /// Atomic dq: this warp's dS^T (its 16 keys) into the DS tile.
  void storeTransposed(const Scores &dst);
  /// Atomic dq, once every warp's dS^T is in the DS tile: the warp's 16
  /// queries' dQ += dS K (this item's columns), added to the accumulator.
  void addQueryGrads(Value q0);
  /// dQ of query tile qt, head `head`.
  void emitQueryItem(Value qt);
  /// Copies the Q and dO tiles of rows q0.. of head `queryHead` (with
  /// whatever copies are pending), waits for all, and writes each row's
  /// delta (with O from global memory) and shift into shared memory (a
  /// block barrier after).
  void loadQueryTile(Value q0);
  /// Three loops over tiles [begin, fullBegin) and [fullEnd, end) masked,
  /// [fullBegin, fullEnd) not, carrying `init`.
  SmallVector<Value>
  tileLoops(Value begin, Value fullBegin, Value fullEnd, Value end,
            ValueRange init,
            function_ref<SmallVector<Value>(Value, bool, ValueRange)> body);
  /// A range's full tiles clipped to whole tiles of T (a ragged last tile
  /// is partial: its padding rows must be masked): (fullBegin, fullEnd).
  std::pair<Value, Value> wholeFullTiles(Value fullBegin, Value fullEnd);
  /// P = exp2(scale log2(e) S - shift), element by element; in masked
  /// tiles 0 where `allowed(r, col)` is false. Rows r are the thread's two
  /// rows of its slice (g, g + 8), col the slice column 8n + 2t (+ 1);
  /// `shift(r, col)` is the pair's query's.
  Scores probabilities(const Scores &s, bool masked,
                       function_ref<Value(int64_t, Value)> allowed,
                       function_ref<Value(int64_t, Value)> shift);
  /// dS = P o (dP - delta), `delta(r, col)` the pair's query's.
  Scores scoreGrads(const Scores &p, const Scores &dp,
                    function_ref<Value(int64_t, Value)> delta);
  /// The accumulators `s` packed as A operands, per 16-column step (as
  /// soon as they are computed: the f32 values die there).
  using Packed = SmallVector<SmallVector<Value>>;
  Packed pack(const Scores &s) {
    Packed regs;
    for (int64_t kk = 0; kk < int64_t(s[0].size()) / 2; ++kk)
      regs.push_back(pOperands(s, 0, kk));
    return regs;
  }
  /// Packed operands for Operand::registers (which keeps a reference: pass
  /// it in the same expression as the product).
  static auto operands(const Packed &regs) {
    return [&regs](int64_t, int64_t kk) { return regs[kk]; };
  }
  /// Stores acc (times `factor`) as rows `rows` (the thread's two rows)
  /// of buf[:, h, col0:], rows past T skipped.
  void storeRows(const AccTiles &acc, double factor, Value buf, Value h,
                 ArrayRef<Value> rows, Value col0);
  /// The first of `cols` columns of this item's part (null: one part).
  Value partColumn(int64_t cols) {
    return parts == 1 ? Value() : mul(part, idx(cols));
  }
  /// tid and what the products' addresses derive from it (lane, warp,
  /// the ldmatrix rows, the slice's row and column), from `thread`.
  void setThread(Value thread);
  /// The thread's two rows of a 16-row slice starting at row0 + its warp's.
  SmallVector<Value> threadRowsFrom(Value row0);
  /// A view of `n` f32 at byte `offset` of the layout.
  Value sharedF32(int64_t offset, int64_t n);

  int64_t group;
  /// Column parts per item (backwardColumnParts), and the columns of dK
  /// (and dQ) and of dV in one.
  int64_t parts, dkCols, dvCols;
  /// This item's part (index).
  Value part;
  Value doutBuf, dqBuf, dkBuf, dvBuf;
  /// Atomic dq: the f32 accumulator (null: query items compute dq).
  Value dqAccBuf;
  BackwardSharedLayout layout;
  Value sDO, sDelta, sShift, sDS;
  /// The head of the query tile being copied (source()).
  Value queryHead;
  /// This thread's first row in a 16-row slice (g) and first column of a
  /// slice (2t).
  Value sliceRow, sliceCol;
};

} // namespace

//===----------------------------------------------------------------------===//
// Tiles and shared memory
//===----------------------------------------------------------------------===//

Value BackwardEmitter::sharedF32(int64_t offset, int64_t n) {
  Attribute workgroup = cast<MemRefType>(smem.getType()).getMemorySpace();
  return memref::ViewOp::create(
      b, loc, MemRefType::get({n}, f32, MemRefLayoutAttrInterface(), workgroup),
      smem, layoutIndex(offset), ValueRange{});
}

void BackwardEmitter::viewTiles() {
  int64_t dp = headDim + cfg.pad, dvp = valueDim + cfg.pad;
  sK = sharedView(layout.k.offset, {cfg.blockK, dp});
  sV = sharedView(layout.v.offset, {cfg.blockK, dvp});
  sQ = sharedView(layout.q.offset, {cfg.blockQ(), dp});
  sDO = sharedView(layout.dout.offset, {cfg.blockQ(), dvp});
  sDelta = sharedF32(layout.delta.offset, cfg.blockQ());
  sShift = sharedF32(layout.shift.offset, cfg.blockQ());
  if (dqAccBuf)
    sDS = sharedView(layout.ds.offset, {cfg.blockK, cfg.blockQ() + cfg.pad});
}

std::pair<Value, SmallVector<Value>> BackwardEmitter::tileAt(Tile tile,
                                                             Value) {
  switch (tile) {
  case Tile::Q:
    return {sQ, {}};
  case Tile::K:
    return {sK, {}};
  case Tile::V:
    return {sV, {}};
  case Tile::DO:
    return {sDO, {}};
  case Tile::DS:
    return {sDS, {}};
  }
  llvm_unreachable("unknown tile");
}

KernelEmitter::TileSource BackwardEmitter::source(Tile tile) {
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

void BackwardEmitter::emit(const BackwardBuffers &in) {
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
  createSharedWindow(); // (16-byte alignment suffices: no shift)
  viewTiles();

  // Blocks [0, key tiles x Hkv x parts) take the key items, the rest (with
  // deterministic dq) the query items, longest first: under a causal mask the first key tiles and the
  // last query tiles see the most.
  Value block = gpu::BlockIdOp::create(b, loc, gpu::Dimension::x);
  Value keyItems = mul(arith::CeilDivUIOp::create(b, loc, tokens,
                                                  idx(cfg.blockK)),
                       idx(numKvHeads * parts));
  // Each item's part: the block's remainder by parts.
  part = parts == 1 ? idx(0) : remu(block, parts);
  Value unit = parts == 1 ? block : divu(block, parts);
  Value firstQueryUnit = parts == 1 ? keyItems : divu(keyItems, parts);
  numQTiles = arith::CeilDivUIOp::create(b, loc, tokens, idx(cfg.blockQ()));
  if (dqAccBuf) { // (the grid: key items only)
    kvHead = remu(unit, numKvHeads);
    emitKeyItem(divu(unit, numKvHeads));
    return;
  }
  auto ifKey = scf::IfOp::create(
      b, loc, cmp(arith::CmpIPredicate::ult, block, keyItems),
      /*withElse=*/true);
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(ifKey.thenBlock());
  kvHead = remu(unit, numKvHeads);
  emitKeyItem(divu(unit, numKvHeads));
  b.setInsertionPointToStart(ifKey.elseBlock());
  setThread(opaqueTid()); // (the other branch's values are its own)
  Value item = sub(unit, firstQueryUnit);
  head = remu(item, numHeads);
  kvHead = divu(head, group);
  emitQueryItem(sub(sub(numQTiles, idx(1)), divu(item, numHeads)));
}

void BackwardEmitter::setThread(Value thread) {
  tid = copyTid = thread;
  lane = remu(tid, 32);
  warp = divu(tid, 32);
  quad = remu(lane, 4);
  setUpLanes();
  sliceRow = divu(lane, 4);
  sliceCol = mul(quad, idx(2));
}

SmallVector<Value> BackwardEmitter::threadRowsFrom(Value row0) {
  Value r = add(row0, add(warpRow0, sliceRow));
  return {r, add(r, idx(8))};
}

std::pair<Value, Value> BackwardEmitter::wholeFullTiles(Value fullBegin,
                                                        Value fullEnd) {
  Value whole = divu(tokens, cfg.blockK);
  Value end = arith::MinSIOp::create(b, loc, fullEnd, whole);
  Value begin = arith::MinSIOp::create(b, loc, fullBegin, end);
  return {begin, arith::MaxSIOp::create(b, loc, end, begin)};
}

SmallVector<Value> BackwardEmitter::tileLoops(
    Value begin, Value fullBegin, Value fullEnd, Value end, ValueRange init,
    function_ref<SmallVector<Value>(Value, bool, ValueRange)> body) {
  SmallVector<Value> carried(init);
  for (auto [lb, ub, masked] : {std::tuple{begin, fullBegin, true},
                                {fullBegin, fullEnd, false},
                                {fullEnd, end, true}}) {
    auto loop = scf::ForOp::create(b, loc, lb, ub, idx(1), carried);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(loop.getBody());
    scf::YieldOp::create(
        b, loc, body(loop.getInductionVar(), masked, loop.getRegionIterArgs()));
    carried.assign(loop.getResults().begin(), loop.getResults().end());
  }
  return carried;
}

void BackwardEmitter::loadQueryTile(Value q0) {
  copyRows(Tile::Q, Value(), q0);
  copyRows(Tile::DO, Value(), q0);
  NVVM::CpAsyncCommitGroupOp::create(b, loc);
  waitCopies(0);
  // Two threads per row: each sums dO o O over half of its columns (dO
  // from its tile, O from global memory: no tile for one use), the pair's
  // shuffle adds the halves; one writes delta, the other the shift. A row
  // past T sums nothing.
  int64_t half = valueDim / 2;
  Value row = divu(tid, 2), side = remu(tid, 2);
  Value col0 = mul(side, idx(half));
  Value q = add(q0, row);
  VectorType pair = VectorType::get({2}, elt), pairF32 = VectorType::get({2}, f32);
  auto ifRow = scf::IfOp::create(b, loc, TypeRange{f32},
                                 cmp(arith::CmpIPredicate::slt, q, tokens),
                                 /*withElse=*/true);
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(ifRow.thenBlock());
    Value sum = f32Const(0.0);
    for (int64_t c = 0; c < half; c += 2) {
      Value col = add(col0, idx(c));
      auto widen = [&](Value v) {
        return arith::ExtFOp::create(b, loc, pairF32, v).getResult();
      };
      Value dout = vector::LoadOp::create(b, loc, pair, sDO, ValueRange{row, col});
      // (An even column of a row of an even number of elements: one
      // aligned 4-byte load, not two 2-byte ones.)
      Value out = vector::LoadOp::create(b, loc, pair, outBuf,
                                         ValueRange{q, queryHead, col},
                                         /*nontemporal=*/false,
                                         llvm::MaybeAlign(4));
      Value prod = arith::MulFOp::create(b, loc, widen(dout), widen(out));
      for (int64_t i = 0; i < 2; ++i)
        sum = fadd(sum, vector::ExtractOp::create(b, loc, prod, i));
    }
    scf::YieldOp::create(b, loc, sum);
    b.setInsertionPointToStart(ifRow.elseBlock());
    scf::YieldOp::create(b, loc, f32Const(0.0));
  }
  Value sum = ifRow.getResult(0);
  sum = fadd(sum, gpu::ShuffleOp::create(b, loc, sum, 1, 32,
                                         gpu::ShuffleMode::XOR)
                      .getShuffleResult());
  // The shift: lse in the log2 domain, +inf past T and for a row with no
  // allowed key (lse = -inf), so that its P is exp2(-inf) = 0.
  Value inf = f32Const(std::numeric_limits<double>::infinity());
  auto ifInside = scf::IfOp::create(
      b, loc, TypeRange{f32}, cmp(arith::CmpIPredicate::slt, q, tokens),
      /*withElse=*/true);
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(ifInside.thenBlock());
    Value lse = memref::LoadOp::create(b, loc, lseBuf, ValueRange{queryHead, q});
    Value none =
        arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, lse, negInf());
    scf::YieldOp::create(
        b, loc,
        select(none, inf, fmul(lse, f32Const(1.0 / std::log(2.0)))));
    b.setInsertionPointToStart(ifInside.elseBlock());
    scf::YieldOp::create(b, loc, inf);
  }
  auto ifFirst = scf::IfOp::create(
      b, loc, cmp(arith::CmpIPredicate::eq, side, idx(0)), /*withElse=*/true);
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(ifFirst.thenBlock());
    memref::StoreOp::create(b, loc, sum, sDelta, ValueRange{row});
    b.setInsertionPointToStart(ifFirst.elseBlock());
    memref::StoreOp::create(b, loc, ifInside.getResult(0), sShift,
                            ValueRange{row});
  }
  gpu::BarrierOp::create(b, loc);
}

/// Calls body(r, col, n, j) for every accumulator element of a slice.
static void forEachElement(
    size_t slices, function_ref<void(int64_t, int64_t, int64_t)> body) {
  for (size_t n = 0; n < slices; ++n)
    for (int64_t j = 0; j < 4; ++j)
      body(j / 2, int64_t(n), j);
}

Scores BackwardEmitter::probabilities(const Scores &s, bool masked,
                                      function_ref<Value(int64_t, Value)> allowed,
                                      function_ref<Value(int64_t, Value)> shift) {
  Value c = f32Const(scale / std::log(2.0));
  Scores p = s;
  forEachElement(s[0].size(), [&](int64_t r, int64_t n, int64_t j) {
    Value col = add(idx(n * 8 + j % 2), sliceCol);
    Value e = exp2(math::FmaOp::create(
        b, loc, s[0][n][j], c, arith::NegFOp::create(b, loc, shift(r, col))));
    p[0][n][j] = masked ? select(allowed(r, col), e, f32Const(0.0)) : e;
  });
  return p;
}

Scores BackwardEmitter::scoreGrads(const Scores &p, const Scores &dp,
                                   function_ref<Value(int64_t, Value)> delta) {
  Scores ds = dp;
  forEachElement(p[0].size(), [&](int64_t r, int64_t n, int64_t j) {
    Value col = add(idx(n * 8 + j % 2), sliceCol);
    ds[0][n][j] = fmul(p[0][n][j], arith::SubFOp::create(b, loc, dp[0][n][j],
                                                         delta(r, col)));
  });
  return ds;
}

void BackwardEmitter::storeRows(const AccTiles &acc, double factor, Value buf,
                                Value h, ArrayRef<Value> rows, Value col0) {
  Value f = f32Const(factor);
  Value col = col0 ? add(col0, sliceCol) : sliceCol;
  for (int i = 0; i < 2; ++i)
    ifRowInside(rows[i], [&] {
      for (size_t n = 0; n < acc[0].size(); ++n) {
        Value x = acc[0][n][2 * i], y = acc[0][n][2 * i + 1];
        if (factor != 1.0)
          x = fmul(x, f), y = fmul(y, f);
        Value pair = truncPair(x, y);
        vector::StoreOp::create(
            b, loc, pair, buf,
            ValueRange{rows[i], h, add(idx(int64_t(n) * 8), col)});
      }
    });
}

//===----------------------------------------------------------------------===//
// The work items
//===----------------------------------------------------------------------===//

void BackwardEmitter::emitKeyItem(Value kt) {
  Value k0 = mul(kt, idx(cfg.blockK));
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
  SmallVector<Value> keys = threadRowsFrom(k0), colLo, colHi;
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
  AccTiles dk(1, SmallVector<Acc>(dkCols / 8, Acc{zero, zero, zero, zero}));
  AccTiles dv(1, SmallVector<Acc>(dvCols / 8, Acc{zero, zero, zero, zero}));
  SmallVector<Value> init = flatten(dk);
  init.append(flatten(dv));
  auto split = [&](ValueRange values) {
    return std::make_pair(
        unflatten(values.take_front(dkCols / 2), 1, dkCols / 8),
        unflatten(values.drop_front(dkCols / 2), 1, dvCols / 8));
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
          if (dqAccBuf) {
            storeTransposed(dst);
            gpu::BarrierOp::create(b, loc); // (every warp's dS^T stored)
            addQueryGrads(q0);
          }
          dvAcc = gemm(Operand::registers(operands(pPacked)),
                       Operand::shared(Tile::DO, Value(), false)
                           .fromColumn(partColumn(dvCols)),
                       dvCols, cfg.blockQ(), &dvAcc);
          dkAcc = gemm(Operand::registers(operands(dsPacked)),
                       Operand::shared(Tile::Q, Value(), false)
                           .fromColumn(partColumn(dkCols)),
                       dkCols, cfg.blockQ(), &dkAcc);
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
  setThread(opaqueTid()); // (the loops' values are theirs)
  storeRows(dkAcc, scale, dkBuf, kvHead, keys, partColumn(dkCols));
  storeRows(dvAcc, 1.0, dvBuf, kvHead, keys, partColumn(dvCols));
}

void BackwardEmitter::storeTransposed(const Scores &dst) {
  SmallVector<Value> keys = threadRowsFrom(idx(0));
  for (size_t n = 0; n < dst[0].size(); ++n)
    for (int i = 0; i < 2; ++i) {
      Value pair = truncPair(dst[0][n][2 * i], dst[0][n][2 * i + 1]);
      vector::StoreOp::create(
          b, loc, pair, sDS,
          ValueRange{keys[i], add(idx(int64_t(n) * 8), sliceCol)});
    }
}

void BackwardEmitter::addQueryGrads(Value q0) {
  // Chunks of 32 columns where they tile a power-of-two part, else of 16
  // (their accumulators beside dK's and dV's: the choice with no spills
  // on sm_80 and sm_90a at every head dim, ptxas -v).
  int64_t chunk = llvm::isPowerOf2_64(dkCols) && dkCols >= 32 ? 32 : 16;
  // (Addresses from a fresh read of the thread index: nothing kept live
  // through the products before.)
  setThread(opaqueTid());
  SmallVector<Value> rows = threadRowsFrom(q0);
  Value partCol = partColumn(dkCols);
  for (int64_t c0 = 0; c0 < dkCols; c0 += chunk) {
    Value first = partCol ? add(partCol, idx(c0)) : idx(c0);
    AccTiles dq = gemm(Operand::shared(Tile::DS, Value(), /*kMajor=*/false),
                       Operand::shared(Tile::K, Value(), false).fromColumn(
                           first),
                       chunk, cfg.blockK, nullptr);
    for (int i = 0; i < 2; ++i)
      ifRowInside(rows[i], [&] {
        for (size_t n = 0; n < dq[0].size(); ++n)
          for (int j = 0; j < 2; ++j) {
            Value col = add(first, add(idx(int64_t(n) * 8 + j), sliceCol));
            memref::AtomicRMWOp::create(b, loc, arith::AtomicRMWKind::addf,
                                        dq[0][n][2 * i + j], dqAccBuf,
                                        ValueRange{rows[i], queryHead, col});
          }
      });
  }
}

void BackwardEmitter::emitQueryItem(Value qt) {
  Value q0 = mul(qt, idx(cfg.blockQ()));
  Value q1 = arith::MinSIOp::create(b, loc, add(q0, idx(cfg.blockQ())), tokens);
  queryHead = head;
  auto range =
      KeyTileRangeOp::create(b, loc, cuBuf, tokens, q0, q1, mask, cfg.blockK);
  auto [fullBegin, fullEnd] =
      wholeFullTiles(range.getFullBegin(), range.getFullEnd());
  loadQueryTile(q0);
  // This thread's two rows: their keys (partial tiles), shifts and deltas.
  SmallVector<Value> rows = threadRowsFrom(q0), lo, hi, shifts, deltas;
  for (Value row : rows) {
    auto interval = RowIntervalOp::create(b, loc, cuBuf, tokens, row,
                                          range.getDocFirst(),
                                          range.getDocLast(), mask);
    lo.push_back(toI32(interval.getLo()));
    hi.push_back(toI32(interval.getHi()));
    Value local = sub(row, q0);
    shifts.push_back(memref::LoadOp::create(b, loc, sShift, local));
    deltas.push_back(memref::LoadOp::create(b, loc, sDelta, local));
  }
  Value zero = f32Const(0.0);
  AccTiles dq(1, SmallVector<Acc>(dkCols / 8, Acc{zero, zero, zero, zero}));
  SmallVector<Value> result = tileLoops(
      range.getBegin(), fullBegin, fullEnd, range.getEnd(), flatten(dq),
      [&](Value kt, bool masked, ValueRange carried) {
        AccTiles dqAcc = unflatten(carried, 1, dkCols / 8);
        setThread(opaqueTid());
        Value k0 = mul(kt, idx(cfg.blockK));
        copyRows(Tile::K, Value(), k0);
        copyRows(Tile::V, Value(), k0);
        NVVM::CpAsyncCommitGroupOp::create(b, loc);
        waitCopies(0);
        // S, P, dP = dO V^T, dS, then dQ += dS K (K read MN-major).
        Scores s = gemm(Operand::shared(Tile::Q, Value(), true),
                        Operand::shared(Tile::K, Value(), true), cfg.blockK,
                        headDim, nullptr);
        Scores p = probabilities(
            s, masked,
            [&](int64_t r, Value col) {
              Value key = toI32(add(k0, col));
              return arith::AndIOp::create(
                         b, loc, cmp(arith::CmpIPredicate::sge, key, lo[r]),
                         cmp(arith::CmpIPredicate::slt, key, hi[r]))
                  .getResult();
            },
            [&](int64_t r, Value) { return shifts[r]; });
        Scores dp = gemm(Operand::shared(Tile::DO, Value(), true),
                         Operand::shared(Tile::V, Value(), true), cfg.blockK,
                         valueDim, nullptr);
        Scores ds =
            scoreGrads(p, dp, [&](int64_t r, Value) { return deltas[r]; });
        Packed dsPacked = pack(ds);
        dqAcc = gemm(Operand::registers(operands(dsPacked)),
                     Operand::shared(Tile::K, Value(), false)
                         .fromColumn(partColumn(dkCols)),
                     dkCols, cfg.blockK, &dqAcc);
        // The next tile's copies overwrite K and V.
        gpu::BarrierOp::create(b, loc);
        return flatten(dqAcc);
      });
  setThread(opaqueTid()); // (the loops' values are theirs)
  storeRows(unflatten(result, 1, dkCols / 8), scale, dqBuf, head, rows,
            partColumn(dkCols));
}

void nvidia::emitBackwardKernel(OpBuilder &b, Location loc, AttentionGradOp op,
                                const GPUKernelConfig &cfg,
                                const BackwardBuffers &buffers) {
  BackwardEmitter(b, loc, op, cfg).emit(buffers);
}
