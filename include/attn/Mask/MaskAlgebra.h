//===- MaskAlgebra.h - Structured attention masks as interval algebra -----===//
//
// The one place where attn-opt defines what a mask means.
//
// A packed sequence of T tokens holds N documents given by cu_seqlens
// (c[0] = 0 <= c[1] <= ... <= c[N] = T; empty documents allowed). A mask is an
// intersection of terms. Every supported mask gives each query row q one
// allowed key interval [lo(q), hi(q)) with these properties, which the brute
// force unit tests check for every term combination:
//   (P1) lo and hi never decrease as q grows;
//   (P2) every row is non-empty: lo(q) <= q < hi(q);
//   (P3) the union over consecutive rows is contiguous: lo(q+1) <= hi(q).
// From them, for a query tile [q0, q1):
//   - the keys any row may see form one interval [lo(q0), hi(q1-1));
//   - a key tile [k0, k1) is full  iff lo(q1-1) <= k0 and k1 <= hi(q0);
//                          empty iff hi(q1-1) <= k0 or  k1 <= lo(q0);
// so the key-tile range and its full sub-range need the document bounds of two
// rows only, found at run time by searching cu_seqlens: O(log N) for the first
// row; the last row's document is searched forward from the first's (one load
// when the tile lies in one document). The documents of every other row of
// the tile lie between those two (DocRange), so a row's interval searches
// only them: no search at all for a tile inside one document.
// The transposed view (the backward pass: which queries see key k) has the
// same three properties for its column intervals [qlo(k), qhi(k)), so a key
// tile's query tiles follow from the same formulas (tileRange).
//
// Everything below is written once, generic over an arithmetic context `Ctx`,
// and instantiated twice: with plain integers (HostCtx, for the host, the
// runtime and the tests) and with an MLIR builder that emits arith/scf
// (lib/Dialect/Attn/Transforms/MaskIR.cpp), so every target computes the same
// function. A Ctx provides:
//   using Value;                         // an integer (index) value
//   Value constant(int64_t);
//   Value add(Value, Value), sub(Value, Value), min(Value, Value),
//         max(Value, Value);
//   Value floorDiv(Value, int64_t), ceilDiv(Value, int64_t);  // operands >= 0
//   Value selectEq(Value a, Value b, Value t, Value f);       // a == b ? t : f
//   Value selectLt(Value a, Value b, Value t, Value f);       // a < b ? t : f
//   Value seqLen();                      // T
//   Value lastDoc();                     // N - 1
//   Value cuAt(Value d);                 // c[d], 0 <= d <= N
//   // The document d of row q (c[d] <= q < c[d+1]), known to lie in
//   // [first, last]; `how` says where to expect it (a search strategy: the
//   // result is the same).
//   Value docIndex(Value q, Value first, Value last, DocSearch how);
//
// This header has no MLIR dependency.
//===----------------------------------------------------------------------===//

#ifndef ATTN_MASK_MASKALGEBRA_H
#define ATTN_MASK_MASKALGEBRA_H

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace attn::mask {

/// A mask: the intersection of the terms that are set.
struct MaskSpec {
  /// q sees k only if both lie in the same document.
  bool document = false;
  /// k <= q.
  bool causal = false;
  /// q - k < window (0: no window term). Requires `causal`.
  int64_t window = 0;

  bool operator==(const MaskSpec &o) const {
    return document == o.document && causal == o.causal && window == o.window;
  }
};

/// Why `spec` is not a well-formed mask, or nullopt if it is.
inline std::optional<std::string> verifyMaskSpec(const MaskSpec &spec) {
  if (spec.window < 0)
    return std::string("window must be at least 1");
  // Token positions are 32-bit (cu_seqlens is int32 on every target), and
  // k + window must not overflow the 64-bit index arithmetic.
  if (spec.window > int64_t(INT32_MAX))
    return "window must be at most " + std::to_string(INT32_MAX) +
           " (token positions are 32-bit)";
  if (spec.window > 0 && !spec.causal)
    return std::string("a window term requires the causal term");
  return std::nullopt;
}

/// Short human-readable form, e.g. "document,causal,window=256".
inline std::string toString(const MaskSpec &spec) {
  std::string s;
  auto add = [&](const std::string &t) { s += (s.empty() ? "" : ",") + t; };
  if (spec.document)
    add("document");
  if (spec.causal)
    add("causal");
  if (spec.window > 0)
    add("window=" + std::to_string(spec.window));
  return s.empty() ? "none" : s;
}

enum class TileKind { Empty, Partial, Full };

template <typename Value> struct Interval { Value lo, hi; };

/// Where a context's docIndex should expect the document: anywhere (a
/// bisection) or near the first candidate (a forward, galloping search).
enum class DocSearch { Bisect, FromFirst };

/// Document indices [first, last] (inclusive) that some rows lie in.
template <typename Value> struct DocRange { Value first, last; };

/// Every document: [0, N - 1].
template <typename Ctx> DocRange<typename Ctx::Value> allDocs(Ctx &c) {
  return {c.constant(0), c.lastDoc()};
}

/// [c[d], c[d+1]): the tokens of document d.
template <typename Ctx>
Interval<typename Ctx::Value> docTokens(Ctx &c, typename Ctx::Value d) {
  return {c.cuAt(d), c.cuAt(c.add(d, c.constant(1)))};
}

/// The tokens of the document holding row q, whose index lies in `within`.
template <typename Ctx>
Interval<typename Ctx::Value> docBounds(Ctx &c, typename Ctx::Value q,
                                        DocRange<typename Ctx::Value> within) {
  return docTokens(c,
                   c.docIndex(q, within.first, within.last, DocSearch::Bisect));
}

/// The allowed key interval of row q given `doc`, the bounds of q's document
/// (ignored without a document term).
template <typename Ctx>
Interval<typename Ctx::Value> rowIntervalIn(Ctx &c, const MaskSpec &spec,
                                            typename Ctx::Value q,
                                            Interval<typename Ctx::Value> doc) {
  using Value = typename Ctx::Value;
  Value lo = spec.document ? doc.lo : c.constant(0);
  Value hi = spec.document ? doc.hi : c.seqLen();
  // Causal: min(hi, q + 1) is q + 1, as q < hi (q lies in its document and
  // in the sequence). Said so, hi needs no load and, per row, no register.
  if (spec.causal)
    hi = c.add(q, c.constant(1));
  if (spec.window > 0)
    lo = c.max(lo, c.sub(q, c.constant(spec.window - 1)));
  return {lo, hi};
}

/// The allowed key interval [lo, hi) of query row q (0 <= q < T). `within`
/// (optional) narrows the search for q's document: it must hold it.
template <typename Ctx>
Interval<typename Ctx::Value> rowInterval(
    Ctx &c, const MaskSpec &spec, typename Ctx::Value q,
    std::optional<DocRange<typename Ctx::Value>> within = std::nullopt) {
  if (!spec.document)
    return rowIntervalIn(c, spec, q, {});
  return rowIntervalIn(c, spec, q,
                       docBounds(c, q, within ? *within : allDocs(c)));
}

/// The queries that may attend to key k given `doc`, the bounds of k's
/// document (ignored without a document term): the transposed rowIntervalIn.
template <typename Ctx>
Interval<typename Ctx::Value> colIntervalIn(Ctx &c, const MaskSpec &spec,
                                            typename Ctx::Value k,
                                            Interval<typename Ctx::Value> doc) {
  using Value = typename Ctx::Value;
  Value lo = spec.document ? doc.lo : c.constant(0);
  Value hi = spec.document ? doc.hi : c.seqLen();
  // Causal: max(lo, k) is k, as k lies in its document.
  if (spec.causal)
    lo = k;
  if (spec.window > 0)
    hi = c.min(hi, c.add(k, c.constant(spec.window)));
  return {lo, hi};
}

/// The queries [lo, hi) that may attend to key k (0 <= k < T). `within`
/// (optional) narrows the search for k's document: it must hold it.
template <typename Ctx>
Interval<typename Ctx::Value> colInterval(
    Ctx &c, const MaskSpec &spec, typename Ctx::Value k,
    std::optional<DocRange<typename Ctx::Value>> within = std::nullopt) {
  if (!spec.document)
    return colIntervalIn(c, spec, k, {});
  return colIntervalIn(c, spec, k,
                       docBounds(c, k, within ? *within : allDocs(c)));
}

/// Position of token q inside its document (the "reset position ids").
template <typename Ctx>
typename Ctx::Value docPosition(Ctx &c, typename Ctx::Value q) {
  return c.sub(q, docBounds(c, q, allDocs(c)).lo);
}

/// 1 if entry i (0 <= i <= N) of cu_seqlens breaks a rule of a packing of
/// `tokens` tokens (c[0] = 0, c[i - 1] <= c[i], c[N] = tokens:
/// validateCuSeqlens's rules, which says which), else 0. One value per
/// entry, for code that checks all entries at once (attn.check_cu_seqlens).
template <typename Ctx>
typename Ctx::Value cuSeqlensEntryError(Ctx &c, typename Ctx::Value i,
                                        typename Ctx::Value tokens) {
  auto zero = c.constant(0), one = c.constant(1);
  auto ci = c.cuAt(i);
  // (Entry 0 is compared with itself.)
  auto decreases =
      c.selectLt(ci, c.cuAt(c.max(c.sub(i, one), zero)), one, zero);
  auto badFirst = c.selectEq(i, zero, c.selectEq(ci, zero, zero, one), zero);
  auto badLast = c.selectEq(i, c.add(c.lastDoc(), one),
                            c.selectEq(ci, tokens, zero, one), zero);
  return c.max(decreases, c.max(badFirst, badLast));
}

/// The tiles of one axis that a tile of the other visits, as tile indices:
/// [begin, fullBegin) and [fullEnd, end) are partial (need mask math),
/// [fullBegin, fullEnd) are full (need none); every tile outside
/// [begin, end) is empty. Always begin <= fullBegin <= fullEnd <= end.
/// `docs` holds the document of every token of the visiting tile (all
/// documents without a document term), for rowInterval / colInterval.
template <typename Value> struct TileRange {
  Value begin, fullBegin, fullEnd, end;
  DocRange<Value> docs;
};

/// Which way a tile range looks: from a query tile at its key tiles (the
/// forward pass, rowIntervalIn) or from a key tile at its query tiles (the
/// backward pass, colIntervalIn).
enum class Axis { KeysOfQueryTile, QueriesOfKeyTile };

/// The tile range of the tile [x0, x1) (x0 < x1 <= T) of `axis`, for tiles
/// of `block` tokens on the other axis (the last one possibly shorter).
template <typename Ctx>
TileRange<typename Ctx::Value> tileRange(Ctx &c, const MaskSpec &spec,
                                         Axis axis, typename Ctx::Value x0,
                                         typename Ctx::Value x1,
                                         int64_t block) {
  using Value = typename Ctx::Value;
  Value xLast = c.sub(x1, c.constant(1));
  // The documents of the first and last tokens: every token in between
  // lies in one of the documents from the first's to the last's.
  DocRange<Value> docs = allDocs(c);
  Interval<Value> firstDoc{}, lastDoc{};
  if (spec.document) {
    Value first = c.docIndex(x0, docs.first, docs.last, DocSearch::Bisect);
    Value last = c.docIndex(xLast, first, docs.last, DocSearch::FromFirst);
    docs = {first, last};
    firstDoc = docTokens(c, first);
    lastDoc = docTokens(c, last);
  }
  auto interval = [&](Value x, Interval<Value> doc) {
    return axis == Axis::KeysOfQueryTile ? rowIntervalIn(c, spec, x, doc)
                                         : colIntervalIn(c, spec, x, doc);
  };
  // Clamped into [0, T]: a no-op for valid cu_seqlens; for invalid ones
  // (which a kernel may be given unchecked) every tile index and loop bound
  // stays within the sequence.
  auto clamp = [&](Interval<Value> i) {
    auto in = [&](Value v) {
      return c.min(c.max(v, c.constant(0)), c.seqLen());
    };
    return Interval<Value>{in(i.lo), in(i.hi)};
  };
  Interval<Value> first = clamp(interval(x0, firstDoc));
  Interval<Value> last = clamp(interval(xLast, lastDoc));
  Value numTiles = c.ceilDiv(c.seqLen(), block);
  // (P1)-(P3): the other axis' tokens the tile sees are exactly
  // [first.lo, last.hi).
  Value begin = c.floorDiv(first.lo, block);
  Value end = c.max(begin, c.ceilDiv(last.hi, block));
  // Full: y0 >= last.lo and min(y0 + block, T) <= first.hi.
  Value fullBegin = c.ceilDiv(last.lo, block);
  Value fullEnd = c.selectEq(first.hi, c.seqLen(), numTiles,
                             c.floorDiv(first.hi, block));
  fullBegin = c.min(c.max(fullBegin, begin), end);
  fullEnd = c.min(c.max(fullEnd, fullBegin), end);
  return {begin, fullBegin, fullEnd, end, docs};
}

/// Key tiles of `blockK` keys the query tile [q0, q1) visits.
template <typename Ctx>
TileRange<typename Ctx::Value>
keyTileRange(Ctx &c, const MaskSpec &spec, typename Ctx::Value q0,
             typename Ctx::Value q1, int64_t blockK) {
  return tileRange(c, spec, Axis::KeysOfQueryTile, q0, q1, blockK);
}

/// Query tiles of `blockQ` rows that see the key tile [k0, k1).
template <typename Ctx>
TileRange<typename Ctx::Value>
queryTileRange(Ctx &c, const MaskSpec &spec, typename Ctx::Value k0,
               typename Ctx::Value k1, int64_t blockQ) {
  return tileRange(c, spec, Axis::QueriesOfKeyTile, k0, k1, blockQ);
}

//===----------------------------------------------------------------------===//
// Host instantiation
//===----------------------------------------------------------------------===//

/// The integer context over a cu_seqlens array (which must be valid: see
/// validateCuSeqlens).
template <typename Int = int32_t> struct HostCtx {
  using Value = int64_t;
  const Int *cu;
  int64_t numDocs; // N; cu has N + 1 entries

  Value constant(int64_t v) const { return v; }
  Value add(Value a, Value b) const { return a + b; }
  Value sub(Value a, Value b) const { return a - b; }
  Value min(Value a, Value b) const { return std::min(a, b); }
  Value max(Value a, Value b) const { return std::max(a, b); }
  Value floorDiv(Value a, int64_t b) const { return a / b; }
  Value ceilDiv(Value a, int64_t b) const { return (a + b - 1) / b; }
  Value selectEq(Value a, Value b, Value t, Value f) const {
    return a == b ? t : f;
  }
  Value selectLt(Value a, Value b, Value t, Value f) const {
    return a < b ? t : f;
  }
  Value seqLen() const { return cu[numDocs]; }
  Value lastDoc() const { return numDocs - 1; }
  Value cuAt(Value d) const { return cu[d]; }
  Value docIndex(Value q, Value first, Value last, DocSearch) const {
    // The last d in [first, last] with c[d] <= q.
    const Int *ub = std::upper_bound(cu + first + 1, cu + last + 1, q);
    return (ub - cu) - 1;
  }
};

/// Why `cu` (N + 1 entries) is not a valid cu_seqlens for `numTokens` tokens,
/// or nullopt if it is.
template <typename Int>
std::optional<std::string> validateCuSeqlens(const Int *cu, int64_t numEntries,
                                             int64_t numTokens) {
  if (numEntries < 1)
    return std::string("cu_seqlens needs at least one entry");
  if (cu[0] != 0)
    return "cu_seqlens must start at 0, got " + std::to_string(cu[0]);
  for (int64_t i = 1; i < numEntries; ++i)
    if (cu[i] < cu[i - 1])
      return "cu_seqlens must not decrease: entry " + std::to_string(i) +
             " is " + std::to_string(cu[i]) + " after " +
             std::to_string(cu[i - 1]);
  if (int64_t(cu[numEntries - 1]) != numTokens)
    return "cu_seqlens must end at the token count " +
           std::to_string(numTokens) + ", got " +
           std::to_string(cu[numEntries - 1]);
  return std::nullopt;
}

/// Classification of the tile [q0, q1) x [k0, k1) (q0 < q1, k0 < k1).
template <typename Int>
TileKind classifyTile(const HostCtx<Int> &c, const MaskSpec &spec, int64_t q0,
                      int64_t q1, int64_t k0, int64_t k1) {
  HostCtx<Int> ctx = c;
  Interval<int64_t> first = rowInterval(ctx, spec, q0);
  Interval<int64_t> last = rowInterval(ctx, spec, q1 - 1);
  if (last.hi <= k0 || k1 <= first.lo)
    return TileKind::Empty;
  if (last.lo <= k0 && k1 <= first.hi)
    return TileKind::Full;
  return TileKind::Partial;
}

/// Tile counts over the whole (query tile x key tile) grid of one head.
struct TileCounts {
  int64_t total = 0, computed = 0, partial = 0, full = 0;
  int64_t skipped() const { return total - computed; }
};

/// Counted from the tile ranges of one axis: the query tiles' key-tile
/// ranges (the forward) or the key tiles' query-tile ranges (the backward);
/// both give the same counts.
template <typename Int>
TileCounts countTiles(const HostCtx<Int> &c, const MaskSpec &spec,
                      int64_t blockQ, int64_t blockK,
                      Axis axis = Axis::KeysOfQueryTile) {
  HostCtx<Int> ctx = c;
  int64_t t = c.seqLen();
  bool keys = axis == Axis::KeysOfQueryTile;
  int64_t block = keys ? blockQ : blockK, other = keys ? blockK : blockQ;
  int64_t num = (t + block - 1) / block;
  TileCounts counts;
  counts.total = num * ((t + other - 1) / other);
  for (int64_t i = 0; i < num; ++i) {
    auto r = tileRange(ctx, spec, axis, i * block,
                       std::min(t, (i + 1) * block), other);
    counts.computed += r.end - r.begin;
    counts.full += r.fullEnd - r.fullBegin;
  }
  counts.partial = counts.computed - counts.full;
  return counts;
}

} // namespace attn::mask

#endif // ATTN_MASK_MASKALGEBRA_H
