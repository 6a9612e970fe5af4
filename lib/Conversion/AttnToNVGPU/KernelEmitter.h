//===- KernelEmitter.h - the NVIDIA attention kernel body -------*- C++ -*-===//
//
// One thread block per (query tile, head); every warp owns 16-row slices of
// the query tile. The kernel is written from parts, each in its own file:
// the tile scheduler (Scheduler.cpp: work items, persistent and dynamic
// claims), the copies (Copies.cpp), shared memory and the pipeline
// (Pipeline.cpp: the SharedLayout's regions, stages, mbarriers, the
// producer), the main loop (MainLoop.cpp: key loops, masking, the online
// softmax, the KeyLoopState they carry), the epilogue (Epilogue.cpp) and
// their assembly (Kernel.cpp). Every tensor-core product goes through one
// generic gemm(A, B, acc), operands from shared memory (K-major or
// MN-major) or registers (A), which the two flavours implement:
//   - MmaSyncEmitter (MmaSync.cpp): warp-level mma.sync m16n8k16 with
//     ldmatrix fragments from padded shared memory (sm_80 and later);
//   - WgmmaEmitter (Wgmma.cpp): warpgroup-level wgmma.mma_async reading
//     128-byte-swizzled shared memory through matrix descriptors (sm_90a),
//     also issued asynchronously (issueGemm, waitMma, retireGemm).
//
// Both produce accumulators in the same per-warp register layout (the
// m16n8 accumulator layout of PTX's mma and wgmma): lane l, t = l % 4,
// g = l / 4 holds, for each 8-column slice n, c0, c1 = C[g][8n + 2t ..]
// and c2, c3 = C[g + 8][8n + 2t ..]; S in it becomes P, the A operand of
// P V, in registers.
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTONVGPU_KERNELEMITTER_H
#define ATTN_LIB_CONVERSION_ATTNTONVGPU_KERNELEMITTER_H

#include "PtxInstructions.h"
#include "attn/Conversion/AttnToNVGPU/AttnToNVGPU.h"
#include "attn/Conversion/AttnToNVGPU/SharedLayout.h"
#include "attn/Dialect/Attn/Transforms/EmitterBase.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"

#include <array>
#include <memory>

namespace mlir::attn::nvidia {

/// Four f32 accumulators of one m16n8 tile.
using Acc = std::array<Value, 4>;
/// A thread's accumulators of a product: [m-tile][8-column slice].
using AccTiles = SmallVector<SmallVector<Acc>>;
/// S of one key tile: [m-tile][8-key slice].
using Scores = AccTiles;
/// The accumulators in (m-tile, slice, element) order, and back.
SmallVector<Value> flatten(const AccTiles &tiles);
AccTiles unflatten(ValueRange values, int64_t mTiles, int64_t slices);

/// What the key loop carries from one key tile to the next, per thread: the
/// iteration values of its scf.for loops, in this order (values()).
struct KeyLoopState {
  /// O: [m-tile][nvt()].
  AccTiles o;
  /// Per thread row (m-tile * 2 + half): the running row max (log2
  /// domain) and this thread's part of the row sum.
  SmallVector<Value> rowMax, rowSum;
  /// The software-pipelined loop (cfg.softmaxOverlap()): P of the previous
  /// key tile as A-operand registers (i32, four per 16-key step), and the
  /// factor of each thread row that O must be scaled by before its P V.
  SmallVector<Value> p, alpha;

  SmallVector<Value> values() const;
  /// The state `values` holds, with the shape of `like`.
  static KeyLoopState fromValues(ValueRange values, const KeyLoopState &like);
};
/// P as A operands: (m-tile, 16-key step) -> four 32-bit registers, built
/// where the flavour asks for them.
using POperands = function_ref<SmallVector<Value>(int64_t, int64_t)>;

class KernelEmitter : public AttentionEmitterBase {
public:
  /// From an attn.attention (or, for the backward kernel, an
  /// attn.attention_grad).
  template <typename AttentionLikeOp>
  KernelEmitter(OpBuilder &b, Location loc, AttentionLikeOp op,
                const GPUKernelConfig &cfg)
      : AttentionEmitterBase(b, loc, op), cfg(cfg) {}
  virtual ~KernelEmitter() = default;

  /// `tileCounter`: the dynamic schedule's (cfg.dynamicSchedule()), else
  /// null; `tensorMaps`: those of Q, K and V (cfg.tma()), else empty.
  void emit(Value q, Value k, Value v, Value cu, Value out, Value lse,
            Value tileCounter, ValueRange tensorMaps);

protected:
  //===--- What a tensor-core flavour provides ---------------------------===//
  /// Per-lane values the flavour needs (called once, after tid/lane/warp).
  virtual void setUpLanes() {}
  /// The kernel's tiles: the forward's Q, K and V; the backward's also dO
  /// and dS^T (DS, written from registers, never copied).
  enum class Tile { Q, K, V, DO, DS };
  static constexpr int kTileKinds = 5;
  /// Where a tile lives: its region of the shared layout (one part per
  /// stage), its rows and the columns of data a row holds (the row takes
  /// cfg.rowElements(cols) elements).
  struct TileRegion {
    SharedRegion region;
    int64_t rows = 0, cols = 0;
  };
  /// The kernel's tiles by Tile (allocated ones only), from its layout.
  std::array<TileRegion, kTileKinds> tiles;
  const TileRegion &tileRegion(Tile tile) const {
    return tiles[static_cast<int>(tile)];
  }
  /// Makes the flavour's views of the allocated `tiles` (sharedView).
  virtual void viewTiles() = 0;
  /// The shared-memory memref and indices that receive the 16-byte unit
  /// `u` of row `r` of `tile` (of its part `stage`, null for a tile of one
  /// stage): the flavour's shared layout.
  virtual std::pair<Value, SmallVector<Value>> unitDest(Tile tile, Value stage,
                                                        Value r, Value u) = 0;
  /// The memref and indices of element (r, c) of `tile` (c even: a pair
  /// of elements never straddles a 16-byte unit), for loads and stores of
  /// the threads themselves.
  virtual std::pair<Value, SmallVector<Value>> elementAt(Tile tile, Value stage,
                                                         Value r, Value c) = 0;
  /// The shared-window address (i64) of the Q tile or of the K or V tile in
  /// `stage`, where its 64-column blocks of rows x 128 bytes follow one
  /// another in the 128-byte swizzle (the wgmma descriptors' and a TMA
  /// box's layout).
  virtual Value tileAddress(Tile tile, Value stage);
  /// The shared address (i32) of the 16-byte unit `u` of row `r` of the O
  /// tile a TMA store reads (cfg.tmaStore()): the 128-byte swizzle of the Q
  /// tile's layout.
  virtual Value outputUnitAddress(Value r, Value u);
  /// Makes the completed copies, and the threads' own stores to shared
  /// memory, visible to the tensor cores (before the block barrier that
  /// follows every wait).
  virtual void fenceCopies() {}
  /// An operand of a tensor-core product acc + A B (A: M x k, where M is
  /// the rows of the warp's m-tiles, or of its warpgroup with wgmma; B:
  /// k x n).
  struct Operand {
    /// A tile of shared memory (Q, or K or V in `stage`). K-major: the
    /// tile's rows are A's M rows (from this warp's first) or B's n
    /// columns, with k along each row (Q and K in S = Q K^T). MN-major:
    /// the tile's rows are k, with n (V in P V) or A's M rows along each
    /// row (the backward's dS^T in dQ = dS K).
    static Operand shared(Tile tile, Value stage, bool kMajor) {
      return {tile, stage, kMajor, nullptr};
    }
    /// A from registers: (m-tile, 16-k step) -> four 32-bit registers in
    /// the A-fragment layout (P in P V).
    static Operand registers(POperands fragments) {
      return {Tile::Q, Value(), true, fragments};
    }
    bool inRegisters() const { return bool(fragments); }
    /// An MN-major B from column `first` (index) of its tile on (wgmma: a
    /// multiple of 64, a column block; for A, the M rows always start at
    /// the warp's, or warpgroup's, first).
    Operand fromColumn(Value first) const {
      Operand o = *this;
      o.firstColumn = first;
      return o;
    }

    Tile tile;
    Value stage;
    bool kMajor;
    POperands fragments;
    /// An MN-major B's first column (null: 0).
    Value firstColumn = {};
  };
  /// acc + A B over k (a multiple of 16), n columns (a multiple of 16);
  /// `acc` null: from zero. The flavour's tensor-core instructions, one
  /// generic product for every product a kernel needs.
  virtual AccTiles gemm(const Operand &a, const Operand &b, int64_t n,
                        int64_t k, const AccTiles *acc);
  // Asynchronous flavours (wgmma): a product issued as one committed group,
  // whose registers must not be touched until waitMma retires it.
  /// An issued product: the instruction's result (a struct of n / 2 f32)
  /// or its accumulators, for retireGemm.
  struct PendingGemm {
    Value result;
    SmallVector<Value> values;
    int64_t n = 0;
  };
  /// Issues acc + A B (as gemm).
  virtual PendingGemm issueGemm(const Operand &a, const Operand &b, int64_t n,
                                int64_t k, const AccTiles *acc);
  /// The accumulators of `p` once waitMma has retired it (read after the
  /// wait, and fenced: code using them stays after it).
  AccTiles retireGemm(const PendingGemm &p);
  /// Waits until at most `pending` issued groups are in flight.
  virtual void waitMma(int64_t pending);

  //===--- The forward's products ----------------------------------------===//
  /// S = Q K^T for the key tile in `stage`.
  Scores scores(Value stage);
  /// O += P V for the key tile in `stage`.
  void accumulatePV(POperands p, Value stage, AccTiles &o);
  /// S = Q K^T and O + P V issued asynchronously (issueGemm).
  PendingGemm issueScores(Value stage);
  PendingGemm issuePV(POperands p, Value stage, const AccTiles &o);

  //===--- Shared helpers ------------------------------------------------===//
  Value add(Value x, Value y) { return arith::AddIOp::create(b, loc, x, y); }
  Value sub(Value x, Value y) { return arith::SubIOp::create(b, loc, x, y); }
  Value mul(Value x, Value y) { return arith::MulIOp::create(b, loc, x, y); }
  Value divu(Value x, int64_t y) {
    return arith::DivUIOp::create(b, loc, x, idx(y));
  }
  Value remu(Value x, int64_t y) {
    return arith::RemUIOp::create(b, loc, x, idx(y));
  }
  Value cmp(arith::CmpIPredicate p, Value x, Value y) {
    return arith::CmpIOp::create(b, loc, p, x, y);
  }
  Value select(Value c, Value x, Value y) {
    return arith::SelectOp::create(b, loc, c, x, y);
  }
  Value fmax(Value x, Value y) {
    return arith::MaximumFOp::create(b, loc, x, y);
  }
  Value fmul(Value x, Value y) { return arith::MulFOp::create(b, loc, x, y); }
  Value fadd(Value x, Value y) { return arith::AddFOp::create(b, loc, x, y); }
  Value i32Const(int64_t v) {
    return arith::ConstantIntOp::create(b, loc, b.getI32Type(), v);
  }
  /// An index as i32 (block, grid and item counts fit) or i64 (shared
  /// addresses), and an i32 as an index.
  Value toI32(Value x) {
    return arith::IndexCastUIOp::create(b, loc, b.getI32Type(), x);
  }
  Value toI64(Value x) {
    return arith::IndexCastUIOp::create(b, loc, b.getI64Type(), x);
  }
  Value toIndex(Value x) {
    return arith::IndexCastUIOp::create(b, loc, b.getIndexType(), x);
  }
  Value exp2(Value x);
  Value log2(Value x);
  /// Max or sum over the four lanes that share a row.
  Value quadReduce(Value x, bool isMax);
  /// A register of an mma operand from two 16-bit values (vector<2xT>).
  Value mmaOperand(Value pair);
  /// Two f32 as a vector<2xT> of the input type.
  Value truncPair(Value x, Value y);
  /// Packs two f32 into one A-operand register of the input type.
  Value pack(Value x, Value y) { return mmaOperand(truncPair(x, y)); }
  /// Emits `body` under an scf.if for `row` < T (stores of rows past T
  /// skipped).
  void ifRowInside(Value row, function_ref<void()> body);
  /// An A-operand register as a 32-bit integer (f16 pairs are vectors).
  Value asI32(Value reg);
  /// The values themselves, through an empty asm with side effects: code
  /// that uses the results stays after every side effect before it (a
  /// wgmma wait), and the registers stay live until here.
  SmallVector<Value> fenceRegisters(ValueRange values);
  AccTiles fenceRegisters(const AccTiles &tiles);

  /// O's 8-column slices per m-tile (the columns P V computes).
  int64_t nvt() const { return cfg.outputColumns(valueDim) / 8; }

  const GPUKernelConfig &cfg;
  Value qBuf, kBuf, vBuf, cuBuf, outBuf, lseBuf;
  /// Q's, K's and V's tensor maps (cfg.tma()), O's (cfg.tmaStore()).
  Value qMap, kMap, vMap, oMap;
  /// The global i32 the blocks claim work items from
  /// (cfg.dynamicSchedule()).
  Value tileCounter;
  /// The kernel's shared memory (forwardSharedLayout), the dynamic shared
  /// window (i8), its address (index) and the index in it of the layout's
  /// base: null for 0, or the skip that aligns it to shared.baseAlign.
  ForwardSharedLayout shared;
  Value smem, sharedWindow, sharedShift;
  /// Lays out shared memory (shared), aligns its base and makes the
  /// flavour's views (viewTiles).
  void allocateShared();
  /// The dynamic shared window (smem) and its address (sharedWindow).
  void createSharedWindow();
  /// The window, with the layout's base aligned to `baseAlign` (its
  /// shift: sharedShift).
  void createAlignedWindow(int64_t baseAlign);
  /// The index in the window of byte `offset` of the layout.
  Value layoutIndex(int64_t offset);
  /// A view of `shape` elements of the input type (or of `element`) at
  /// byte `offset` of the layout.
  Value sharedView(int64_t offset, ArrayRef<int64_t> shape,
                   Type element = {});
  /// The shared-window address (i64) of byte `offset` of the layout.
  Value sharedAddress(int64_t offset);
  /// The shared address (i32) of byte `offset` + `dynamicOffset` (index) of
  /// the layout's mbarriers and slots, from asyncBase: the address of the
  /// first (asyncBaseOffset), held in one register.
  Value asyncAddress(int64_t offset, Value dynamicOffset);
  int64_t asyncBaseOffset() const;
  Value asyncBase;
  Value tokens, tid, lane, warp, quad, head, kvHead;
  Value beginTile, endTile;
  /// Query tiles of the sequence (index).
  Value numQTiles;

  /// Where a tile comes from: rows [row0, row0 + rows) of buf[:, head,
  /// 0:cols], or of the tensor map `map` (cfg.tma()).
  struct TileSource {
    Value buf, map, head;
    int64_t rows, cols;
  };
  virtual TileSource source(Tile tile);
  /// Copies the rows of `tile` (`stage`) from row0 on in 16-byte units
  /// (unitDest) with cp.async spread over the copying threads. Rows past T
  /// are zero-filled and never read from global memory.
  void copyRows(Tile tile, Value stage, Value row0);
  /// The copying thread's index among cfg.copyThreads().
  Value copyTid;
  /// P's A operands for m-tile mt, 16-key step kk (from any accumulators of
  /// 16-column pairs of slices: the backward's P and dS too).
  SmallVector<Value> pOperands(const Scores &s, int64_t mt, int64_t kk);
  /// Waits for all but `pending` copy groups, then a block barrier.
  void waitCopies(int32_t pending);
  /// The thread index, read afresh by an asm the compiler cannot merge with
  /// other reads: what is computed from it is not kept in registers from
  /// an earlier read.
  Value opaqueTid();
  /// The block index (x), read afresh the same way.
  Value opaqueBlockId();
  /// The rows thread `thread` holds, per (m-tile, half), in the tile
  /// starting at row q0 (the order of rowLo/rowHi and of the rows of
  /// KeyLoopState; the backward's key rows too).
  SmallVector<Value> threadRows(Value q0, Value thread);
  /// tid = `thread`, and lane, warp, quad and the flavour's lane values
  /// (setUpLanes) from it.
  void setThreadValues(Value thread);
  /// The kernel runs at the edge of the register file (the backward's):
  /// every product's shared addresses are computed where it runs (mma.sync
  /// derives them from the thread index the kernel reads afresh,
  /// opaqueTid; wgmma's descriptors, which do not depend on it, come from
  /// an opaque copy of their tile's address, else the compiler keeps every
  /// product's descriptors live through the loops), and the copies take one
  /// bounds-checked path.
  bool scarceRegisters = false;

private:
  /// A work item's key tiles (the range itself is in beginTile /
  /// endTile): the documents they cover, the full tiles clipped to whole
  /// tiles of T, and whether there is any.
  struct KeyTiles {
    Value docFirst, docLast, fullBegin, fullEnd, any;
  };
  /// A query tile's rows [q0, q1).
  struct QueryTile {
    Value q0, q1;
  };
  /// Work item `item` (i32) of the longest-first order: sets head and
  /// kvHead, returns its query tile's rows.
  QueryTile startItem(Value item);
  /// The key tiles of the query tile `rows`.
  KeyTiles keyTiles(QueryTile rows);
  /// The part of the kernel after the key-tile range: the compute warps'
  /// loops and epilogue.
  void emitCompute(Value q0, const KeyTiles &tiles);
  /// Starts the copies of the Q tile (rows q0..) and of key tile `kt` into
  /// `stage`.
  void copyQ(Value q0);
  void copyKV(Value kt, Value stage);
  void copyK(Value kt, Value stage);
  void copyV(Value kt, Value stage);
  /// TMA (cfg.tma()): expects the tile's bytes on the mbarrier at
  /// `fullBarrier` (one arrival) and loads the rows of `tile` (`stage`)
  /// from row0 on through its tensor map, one box per 64 columns; the
  /// boxes complete the barrier's bytes as they land.
  void loadTile(Tile tile, Value stage, Value row0, Value fullBarrier);
  /// The pipelined loop's copies in iteration kt: K_{kt+1} (if any) into
  /// the other stage and V_kt into `stage`, one group.
  void copyAhead(Value kt, Value stage);
  /// The epilogue's O (the accumulators of `state` times the rows'
  /// `inverses`) for thread `thread`, which holds query rows `rows`
  /// (threadRows) of the tile at q0: its 4-byte global stores, or
  /// (cfg.tmaStore()) its part of the warpgroup's shared tile and the
  /// warpgroup's TMA store.
  void storeOutput(Value q0, Value thread, ArrayRef<Value> rows,
                   ArrayRef<Value> inverses, const AccTiles &o);
  /// body() in the first thread of `thread`'s warpgroup, the one that
  /// issues its TMA stores (cfg.tmaStore()).
  void asStorer(Value thread, function_ref<void()> body);
  /// TMA store: the storer waits until its stores have read the tile
  /// (`readOnly`) or are done.
  void waitStores(Value thread, bool readOnly);
  /// P of `s` as the pipelined loop carries it (32-bit registers).
  SmallVector<Value> carriedP(const Scores &s);
  /// One key tile: S = QK^T, mask (if `masked`), online softmax, O += PV.
  KeyLoopState emitKeyTile(Value kt, const KeyLoopState &carried,
                           bool masked);
  /// One key tile of the software-pipelined loop (cfg.softmaxOverlap()):
  /// `carried` also holds P of tile kt - 1 and the factor O must be
  /// scaled by before its P V, which runs while this tile's softmax is
  /// computed; returns this tile's P and factor in their place.
  KeyLoopState emitOverlappedKeyTile(Value kt, const KeyLoopState &carried,
                                     bool masked);
  /// The pipelined loop's wait for K_kt (and V_{kt-1}): with warp
  /// specialization, K's stage barrier; otherwise every copy and a block
  /// barrier, then the copies of K_{kt+1} and V_kt (copyAhead).
  void startKeyTile(Value kt);
  /// The pipelined loop's first tile (S, mask, softmax; no P V yet).
  KeyLoopState emitFirstTile(Value kt, const KeyLoopState &carried);
  /// The pipelined loop's last P V, for the tile before `endTile`.
  KeyLoopState emitLastPV(const KeyLoopState &carried);
  /// Issues O = alpha O + P V of the key tile in `stage` with the alpha, P
  /// and O of `carried`; returns the new O (in flight until waitMma).
  PendingGemm issueCarriedPV(const KeyLoopState &carried, Value stage);
  /// After waitMma has retired that product: `next` gets the new O, and
  /// the carried P's registers stay live until here.
  void retireCarriedPV(const KeyLoopState &carried, const PendingGemm &o,
                       KeyLoopState &next);
  KeyLoopState emitLoop(Value lb, Value ub, const KeyLoopState &init,
                        bool masked);
  /// The state before the first key tile: O = 0, row max -inf, sums 0 (and
  /// P = 0, factors 0 for the pipelined loop).
  KeyLoopState initialState();
  /// Partial tiles: keys outside each row's interval get -inf.
  void maskScores(Scores &s, Value kt);
  /// Online softmax of one tile: `s` becomes P (f32), `next` gets the new
  /// row max and sum from `carried` (and O in `next` rescaled, if
  /// `rescale`); returns the factors O must be scaled by, per thread row
  /// (mt * 2 + half).
  SmallVector<Value> softmax(Scores &s, const KeyLoopState &carried,
                             KeyLoopState &next, bool rescale);
  /// O of m-tile mt *= the factor of its row.
  void rescaleO(int64_t mt, ArrayRef<Value> alpha, AccTiles &o);
  /// body(kt + 1) if key tile kt + 1 is in range.
  void ifNextTile(Value kt, function_ref<void(Value)> body);
  // Key intervals of this thread's rows (threadRows).
  SmallVector<Value> rowLo, rowHi;
  Value keyCol0;

  //===--- Warp specialization (GPUTileAttention.cpp) ---------------------===//
  /// The shared address (i32) of the mbarrier of `stage` (index) in the
  /// mbarrier array `barriers` (a region of `shared`).
  Value barrier(const SharedRegion &barriers, Value stage);
  /// Thread 0 initializes every mbarrier; a block barrier publishes them.
  void initBarriers();
  /// Waits until the phase of parity `parity` (index) of `addr` completed.
  /// `note` (if any) follows the wait in the PTX as a comment.
  void waitBarrier(Value addr, Value parity, StringRef note = {});
  /// An arrival on `addr` once this thread's copies so far have landed.
  void arriveOnCopies(Value addr);
  /// The parity of the phase key tile kt's use of its stage completes.
  Value useParity(Value kt);
  /// The full (or empty) mbarrier of key tile kt's K or V stage.
  Value stageBarrier(Tile tile, bool full, Value kt);
  /// Compute warps: wait for key tile kt's K or V stage to be filled (no-op
  /// without warp specialization) ...
  void acquireStage(Tile tile, Value kt);
  /// ... and hand it back once the product reading it has retired (no-op
  /// without warp specialization).
  void releaseStage(Tile tile, Value kt);
  /// One arrival on the mbarrier at `addr` per (converged) compute warp.
  void arrivePerWarp(Value addr, StringRef note = {});
  /// The producer warpgroup: Q, then every K and V tile of the range.
  void emitProducer(Value q0);
  /// The stage (0 or 1) of key tile kt: kt % 2, or with persistent blocks
  /// the parity of its use index (useIndex).
  Value stageOf(Value kt);
  /// How many key tiles this block's stages held before kt (index): kt's
  /// place in this item, after the tilesBefore of earlier items.
  Value useIndex(Value kt);

  //===--- Persistent blocks (cfg.persistent()) -----------------------------===//
  /// body(item) for each work item (i32) of this block: the block's own
  /// (linear, without persistent blocks), one per round of the grid's
  /// size, alternating direction, or (cfg.dynamicSchedule()) linear and then
  /// each claimed one, while tilesBefore and itemsBefore count the key
  /// tiles and items of the earlier ones. `producer`: the producer
  /// warpgroup's walk (which claims the items of a dynamic schedule).
  void forEachItem(Value linear, bool producer, function_ref<void(Value)> body);
  /// The dynamic schedule's walk (forEachItem) over `items` work items
  /// with `grid` blocks (i32).
  void forEachClaimedItem(Value linear, Value items, Value grid, bool producer,
                          function_ref<void(Value)> body);
  /// The producer's claim of this block's next work item (i32): grid + the
  /// counter's value before its increment; the last claim of the launch
  /// (the counter at items - 1) sets the counter back to zero. Published
  /// as item `n` (i32) of the block (publishItem).
  void claimItem(Value items, Value grid, Value n);
  /// The block's item `n` (i32, n >= 1) once claimed: its slot n % 2 and
  /// that slot's mbarrier (one arrival, the producer's, per item it
  /// holds; phase (n - 1) / 2).
  Value readItem(Value n);
  /// The shared address (i32) of claimed-item slot `slot` (index, 0 or 1).
  Value itemSlot(Value slot);
  /// Compute warps: this item's S products are done, Q's buffer may be
  /// refilled (one arrival per warp).
  void releaseQ();
  /// Key tiles (index; null without persistent blocks) and work items (0
  /// without) of this block before the current item, and tilesBefore -
  /// beginTile.
  Value tilesBefore, itemsBefore, tileShift;

  //===--- Ping-pong (cfg.pingPong()) ---------------------------------------===//
  /// Consumer warpgroup w waits on named barrier kPingPongBarrier + w, for
  /// 256 threads: its own 128 and the other warpgroup's arrival, which
  /// hands over the turn. Warpgroup 0 arrives on its own barrier first.
  void startTurns();
  /// Sets ownTurn and otherTurn for thread index `thread`; returns its
  /// warpgroup (i32).
  Value setTurns(Value thread);
  /// Waits for this warpgroup's turn to issue products (no-op without
  /// ping-pong) ...
  void awaitTurn();
  /// ... and hands the turn to the other warpgroup once they are issued.
  void passTurn();
  /// Named-barrier ids (i32) of this warpgroup's turn and the other's.
  Value ownTurn, otherTurn;
  /// A turn's barrier counts both compute warpgroups.
  static constexpr int64_t kTurnThreads = 2 * 128;
};

/// The buffers of attn.attention_grad's kernel (Backward.cpp); with
/// `dqAccumulator` (f32 [T, Hq, D], zero at launch) dq is summed there with
/// atomic adds by the key items (no query items), and written by the
/// kernel emitDqConvertKernel makes.
struct BackwardBuffers {
  Value q, k, v, cu, out, lse, dout, dq, dk, dv;
  Value dqAccumulator = {};
};
/// Emits the backward kernel of `op` (mma.sync) at b's insertion point.
void emitBackwardKernel(OpBuilder &b, Location loc, AttentionGradOp op,
                        const GPUKernelConfig &cfg,
                        const BackwardBuffers &buffers);
/// Threads per block of the dq conversion kernel.
constexpr int64_t kDqConvertThreads = 256;
/// Emits into the empty kernel `func`, of arguments (accumulator f32
/// [T, Hq, D], dq [T, Hq, D]), dq = scale x accumulator in dq's element
/// type: one thread per pair of columns, kDqConvertThreads per block.
void emitDqConvertKernel(OpBuilder &b, Location loc, gpu::GPUFuncOp func,
                         double scale);

std::unique_ptr<KernelEmitter> createMmaSyncEmitter(OpBuilder &b, Location loc,
                                                    AttentionOp op,
                                                    const GPUKernelConfig &cfg);
std::unique_ptr<KernelEmitter> createWgmmaEmitter(OpBuilder &b, Location loc,
                                                  AttentionOp op,
                                                  const GPUKernelConfig &cfg);

} // namespace mlir::attn::nvidia

#endif // ATTN_LIB_CONVERSION_ATTNTONVGPU_KERNELEMITTER_H
