//===- MaskFuzzer.cpp - the mask algebra against a brute force ------------===//
//
// libFuzzer target: the input chooses a mask, tile sizes and a packing
// (document lengths 0..31, up to 24 documents: the brute force is
// quadratic); every row and column
// interval, both tile-range views and the tile counts must match a
// brute-force element-wise mask, and every interval must satisfy the
// algebra's properties (P1)-(P3). A mismatch traps.
//===----------------------------------------------------------------------===//

#include "attn/Mask/MaskAlgebra.h"

#include <cstddef>
#include <cstdint>
#include <vector>

using namespace attn::mask;

namespace {
[[noreturn]] void mismatch() { __builtin_trap(); }

void require(bool ok) {
  if (!ok)
    mismatch();
}

struct Dense {
  const std::vector<int32_t> &cu;
  MaskSpec spec;
  std::vector<int64_t> doc;
  Dense(const std::vector<int32_t> &cu, MaskSpec spec) : cu(cu), spec(spec) {
    for (size_t d = 0; d + 1 < cu.size(); ++d)
      for (int32_t t = cu[d]; t < cu[d + 1]; ++t)
        doc.push_back(int64_t(d));
  }
  bool allowed(int64_t q, int64_t k) const {
    return (!spec.document || doc[size_t(q)] == doc[size_t(k)]) &&
           (!spec.causal || k <= q) &&
           (spec.window == 0 || q - k < spec.window);
  }
  TileKind classify(int64_t q0, int64_t q1, int64_t k0, int64_t k1) const {
    int64_t n = 0, on = 0;
    for (int64_t q = q0; q < q1; ++q)
      for (int64_t k = k0; k < k1; ++k, ++n)
        on += allowed(q, k);
    return on == 0 ? TileKind::Empty : on == n ? TileKind::Full
                                               : TileKind::Partial;
  }
};

TileKind fromRange(const TileRange<int64_t> &r, int64_t i) {
  if (i < r.begin || i >= r.end)
    return TileKind::Empty;
  return i >= r.fullBegin && i < r.fullEnd ? TileKind::Full
                                           : TileKind::Partial;
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 4)
    return 0;
  MaskSpec spec{bool(data[0] & 1), bool(data[0] & 2),
                (data[0] & 4) ? int64_t(data[1] % 40) + 1 : 0};
  if (verifyMaskSpec(spec))
    return 0;
  int64_t blockQ = data[2] % 130 + 1, blockK = data[3] % 130 + 1;
  std::vector<int32_t> cu{0};
  for (size_t i = 4; i < size && cu.size() <= 24; ++i)
    cu.push_back(cu.back() + data[i] % 32);
  int64_t t = cu.back();
  if (t == 0)
    return 0;
  HostCtx<int32_t> ctx{cu.data(), int64_t(cu.size()) - 1};
  Dense dense(cu, spec);
  for (int64_t x = 0; x < t; ++x) {
    Interval<int64_t> row = rowInterval(ctx, spec, x);
    Interval<int64_t> col = colInterval(ctx, spec, x);
    for (int64_t y = 0; y < t; ++y) {
      require(dense.allowed(x, y) == (row.lo <= y && y < row.hi));
      require(dense.allowed(y, x) == (col.lo <= y && y < col.hi));
    }
    require(row.lo <= x && x < row.hi && col.lo <= x && x < col.hi);
    if (x + 1 < t) {
      Interval<int64_t> nr = rowInterval(ctx, spec, x + 1);
      Interval<int64_t> nc = colInterval(ctx, spec, x + 1);
      require(row.lo <= nr.lo && row.hi <= nr.hi && nr.lo <= row.hi);
      require(col.lo <= nc.lo && col.hi <= nc.hi && nc.lo <= col.hi);
    }
  }
  int64_t numQ = (t + blockQ - 1) / blockQ, numK = (t + blockK - 1) / blockK;
  TileCounts want;
  want.total = numQ * numK;
  for (int64_t qt = 0; qt < numQ; ++qt) {
    int64_t q0 = qt * blockQ, q1 = std::min(t, q0 + blockQ);
    TileRange<int64_t> keys = keyTileRange(ctx, spec, q0, q1, blockK);
    require(keys.begin <= keys.fullBegin && keys.fullBegin <= keys.fullEnd &&
            keys.fullEnd <= keys.end && keys.end <= numK);
    for (int64_t kt = 0; kt < numK; ++kt) {
      int64_t k0 = kt * blockK, k1 = std::min(t, k0 + blockK);
      TileKind kind = dense.classify(q0, q1, k0, k1);
      require(kind == fromRange(keys, kt));
      require(kind == classifyTile(ctx, spec, q0, q1, k0, k1));
      want.computed += kind != TileKind::Empty;
      want.full += kind == TileKind::Full;
    }
  }
  for (int64_t kt = 0; kt < numK; ++kt) {
    int64_t k0 = kt * blockK, k1 = std::min(t, k0 + blockK);
    TileRange<int64_t> queries = queryTileRange(ctx, spec, k0, k1, blockQ);
    for (int64_t qt = 0; qt < numQ; ++qt) {
      int64_t q0 = qt * blockQ, q1 = std::min(t, q0 + blockQ);
      require(dense.classify(q0, q1, k0, k1) == fromRange(queries, qt));
    }
  }
  for (Axis axis : {Axis::KeysOfQueryTile, Axis::QueriesOfKeyTile}) {
    TileCounts got = countTiles(ctx, spec, blockQ, blockK, axis);
    require(got.total == want.total && got.computed == want.computed &&
            got.full == want.full);
  }
  return 0;
}
