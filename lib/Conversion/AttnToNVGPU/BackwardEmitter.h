//===- BackwardEmitter.h - attn.attention_grad's kernel --------*- C++ -*-===//
//
// FlashAttention-2's backward over the packed sequence, written once over
// the tensor-core flavour it derives from: MmaSyncEmitter (sm_80 and
// later) or WgmmaEmitter (sm_90a). Four warps of 16 rows each (one
// warpgroup: wgmma's M = 64), 64-row query and key tiles, one stage per
// tile. Every product is the flavour's gemm(A, B, acc); both flavours give
// each warp its 16 rows in the same accumulator layout, so the element
// math (P, dS, the masks, the stores) is the same code for both.
//
// Work items (Backward.cpp): key items, one per (key tile, kv head, column
// part), accumulate dK and dV (and with atomic dq add dQ = dS K into an
// f32 accumulator); with `deterministic`, query items (BackwardQueries.cpp)
// after them, one per (query tile, head), compute dQ without atomics.
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTONVGPU_BACKWARDEMITTER_H
#define ATTN_LIB_CONVERSION_ATTNTONVGPU_BACKWARDEMITTER_H

#include "KernelEmitter.h"

namespace mlir::attn::nvidia {

template <typename Flavour>
class BackwardEmitter : public Flavour {
  using Base = Flavour;
  using Tile = KernelEmitter::Tile;
  using Operand = KernelEmitter::Operand;
  using TileSource = KernelEmitter::TileSource;

public:
  BackwardEmitter(OpBuilder &b, Location loc, AttentionGradOp op,
                  const GPUKernelConfig &cfg);

  void emit(const BackwardBuffers &in);

private:
  TileSource source(Tile tile) override;

  //===--- Key items (Backward.cpp) -----------------------------------===//
  /// The key item of block `block`: dK and dV of its key tile and kv head
  /// (and with atomic dq, its part of dQ).
  void emitKeyItem(Value block);
  /// The number of key items (the blocks before the query items).
  Value keyItemCount();
  /// Sets `part` and `kvHead` of key item `block`; returns its key tile.
  Value keyItem(Value block);
  /// Sets `part`, `head` and `kvHead` of the query item of block `block`
  /// (past the key items); returns its query tile.
  Value queryItem(Value block);
  /// Atomic dq: this warp's dS^T (its 16 keys) into the DS tile, from its
  /// A operands (pack).
  using Packed = SmallVector<SmallVector<Value>>;
  void storeTransposed(const Packed &dst);
  /// Atomic dq, once every warp's dS^T is in the DS tile: the warp's 16
  /// queries' dQ += dS K (this item's columns), added to the accumulator.
  void addQueryGrads(Value q0);
  /// Three loops over tiles [begin, fullBegin) and [fullEnd, end) masked,
  /// [fullBegin, fullEnd) not, carrying `init`.
  SmallVector<Value>
  tileLoops(Value begin, Value fullBegin, Value fullEnd, Value end,
            ValueRange init,
            function_ref<SmallVector<Value>(Value, bool, ValueRange)> body);
  /// A range's full tiles clipped to whole tiles of T (a ragged last tile
  /// is partial: its padding rows must be masked): (fullBegin, fullEnd).
  std::pair<Value, Value> wholeFullTiles(Value fullBegin, Value fullEnd);
  /// tid and what the products' addresses derive from it (setThreadValues,
  /// the copies' thread, the slice's first column), from `thread`.
  void setThread(Value thread);

  //===--- Query tiles and items (BackwardQueries.cpp) -----------------===//
  /// The query item of block `block`: dQ of its query tile and head.
  void emitQueryItem(Value block);
  /// Copies the Q and dO tiles of rows q0.. of head `queryHead` (with
  /// whatever copies are pending), waits for all, and writes each row's
  /// delta (with O from global memory) and shift into shared memory (a
  /// block barrier after).
  void loadQueryTile(Value q0);
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
  Packed pack(const Scores &s) {
    Packed regs;
    for (int64_t kk = 0; kk < int64_t(s[0].size()) / 2; ++kk)
      regs.push_back(this->pOperands(s, 0, kk));
    return regs;
  }
  /// Packed operands for Operand::registers (which keeps a reference: pass
  /// it in the same expression as the product).
  static auto operands(const Packed &regs) {
    return [&regs](int64_t, int64_t kk) { return regs[kk]; };
  }
  /// Stores the first `cols` columns of acc (times `factor`) as rows
  /// `rows` (the thread's two rows) of buf[:, h, col0:], rows past T
  /// skipped.
  void storeRows(const AccTiles &acc, int64_t cols, double factor, Value buf,
                 Value h, ArrayRef<Value> rows, Value col0);
  /// The first of `cols` columns of this item's part (null: one part).
  Value partColumn(int64_t cols) {
    return parts == 1 ? Value() : this->mul(part, this->idx(cols));
  }
  /// The columns a product computes for `cols` columns of dK, dV or dQ:
  /// wgmma's MN-major B, whole 64-column blocks (those past `cols` are
  /// never stored).
  int64_t productColumns(int64_t cols) const {
    return this->cfg.outputColumns(cols);
  }

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
  Value sDelta, sShift;
  /// The head of the query tile being copied (source()).
  Value queryHead;
  /// This thread's first column of a 16-row slice (2t).
  Value sliceCol;

  // What the backward uses of the flavour and the kernel emitter.
  using Base::add;
  using Base::b;
  using Base::cfg;
  using Base::cmp;
  using Base::copyRows;
  using Base::copyTid;
  using Base::cuBuf;
  using Base::divu;
  using Base::elt;
  using Base::elementAt;
  using Base::exp2;
  using Base::f32;
  using Base::f32Const;
  using Base::fadd;
  using Base::fenceCopies;
  using Base::fmul;
  using Base::gemm;
  using Base::head;
  using Base::headDim;
  using Base::idx;
  using Base::ifRowInside;
  using Base::kBuf;
  using Base::kvHead;
  using Base::lane;
  using Base::loc;
  using Base::lseBuf;
  using Base::mask;
  using Base::mul;
  using Base::negInf;
  using Base::numHeads;
  using Base::numKvHeads;
  using Base::numQTiles;
  using Base::opaqueBlockId;
  using Base::opaqueTid;
  using Base::outBuf;
  using Base::qBuf;
  using Base::quad;
  using Base::remu;
  using Base::scale;
  using Base::select;
  using Base::setThreadValues;
  using Base::sub;
  using Base::threadRows;
  using Base::tid;
  using Base::tiles;
  using Base::toI32;
  using Base::tokens;
  using Base::truncPair;
  using Base::valueDim;
  using Base::vBuf;
  using Base::waitCopies;
  using Base::warp;
};

} // namespace mlir::attn::nvidia

#endif // ATTN_LIB_CONVERSION_ATTNTONVGPU_BACKWARDEMITTER_H
