//===- MaskAlgebraTest.cpp - brute-force checks of the mask algebra -------===//
//
// The mask is defined here a second time, naively, element by element (no
// intervals, no binary search), and the algebra of MaskAlgebra.h is compared
// against it over many random packings: rows and the key tiles of query
// tiles (the forward), columns and the query tiles of key tiles (the
// backward).
//===----------------------------------------------------------------------===//

#include "attn/Mask/MaskAlgebra.h"

#include <gtest/gtest.h>

#include <random>

using namespace attn::mask;

namespace {

/// Naive definition of the mask.
struct BruteForce {
  std::vector<int64_t> docOf; // per token
  MaskSpec spec;

  BruteForce(const std::vector<int32_t> &cu, MaskSpec spec) : spec(spec) {
    for (size_t d = 0; d + 1 < cu.size(); ++d)
      for (int32_t t = cu[d]; t < cu[d + 1]; ++t)
        docOf.push_back(int64_t(d));
  }
  bool allowed(int64_t q, int64_t k) const {
    if (spec.document && docOf[q] != docOf[k])
      return false;
    if (spec.causal && k > q)
      return false;
    if (spec.window > 0 && q - k >= spec.window)
      return false;
    return true;
  }
  TileKind classify(int64_t q0, int64_t q1, int64_t k0, int64_t k1) const {
    int64_t n = 0, allowedCount = 0;
    for (int64_t q = q0; q < q1; ++q)
      for (int64_t k = k0; k < k1; ++k, ++n)
        allowedCount += allowed(q, k);
    if (allowedCount == 0)
      return TileKind::Empty;
    return allowedCount == n ? TileKind::Full : TileKind::Partial;
  }
};

std::vector<int32_t> randomCuSeqlens(std::mt19937 &rng, int maxDocs,
                                     int maxLen) {
  std::uniform_int_distribution<int> numDocs(1, maxDocs);
  std::uniform_int_distribution<int> len(0, maxLen);
  std::uniform_int_distribution<int> kind(0, 9);
  std::vector<int32_t> cu{0};
  int n = numDocs(rng);
  for (int d = 0; d < n; ++d) {
    int k = kind(rng), l;
    if (k == 0)
      l = 0; // empty document
    else if (k == 1)
      l = 1; // length-1 document
    else
      l = len(rng);
    cu.push_back(cu.back() + l);
  }
  return cu;
}

std::vector<MaskSpec> allMasks() {
  std::vector<MaskSpec> masks;
  for (bool doc : {false, true})
    for (bool causal : {false, true})
      for (int64_t window : {0, 1, 3, 17, 64}) {
        MaskSpec m{doc, causal, window};
        if (!verifyMaskSpec(m))
          masks.push_back(m);
      }
  return masks;
}

const std::pair<int64_t, int64_t> kTileShapes[] = {
    {1, 1}, {7, 5}, {16, 16}, {32, 64}, {64, 32}, {64, 64}, {128, 128}};

const char *name(TileKind k) {
  return k == TileKind::Empty  ? "empty"
         : k == TileKind::Full ? "full"
                               : "partial";
}

class MaskAlgebraRandom : public ::testing::TestWithParam<int> {};

TEST_P(MaskAlgebraRandom, MatchesBruteForce) {
  std::mt19937 rng(1234 + GetParam());
  // Alternate between many tiny documents and a few long ones.
  std::vector<int32_t> cu = GetParam() % 3 == 0 ? randomCuSeqlens(rng, 40, 9)
                                                : randomCuSeqlens(rng, 6, 150);
  int64_t t = cu.back();
  if (t == 0)
    GTEST_SKIP() << "no tokens in this packing";
  HostCtx<int32_t> ctx{cu.data(), int64_t(cu.size()) - 1};
  for (const MaskSpec &spec : allMasks()) {
    SCOPED_TRACE("mask " + toString(spec));
    BruteForce bf(cu, spec);
    // Rows: the interval is exactly the allowed set, (P1)-(P3) hold.
    for (int64_t q = 0; q < t; ++q) {
      Interval<int64_t> r = rowInterval(ctx, spec, q);
      for (int64_t k = 0; k < t; ++k)
        ASSERT_EQ(bf.allowed(q, k), r.lo <= k && k < r.hi)
            << "q=" << q << " k=" << k;
      ASSERT_LE(r.lo, q);
      ASSERT_LT(q, r.hi);
      if (q + 1 < t) {
        Interval<int64_t> n = rowInterval(ctx, spec, q + 1);
        ASSERT_LE(r.lo, n.lo);
        ASSERT_LE(r.hi, n.hi);
        ASSERT_LE(n.lo, r.hi);
      }
    }
    // Columns (the backward's view): the same, transposed.
    for (int64_t k = 0; k < t; ++k) {
      Interval<int64_t> c = colInterval(ctx, spec, k);
      for (int64_t q = 0; q < t; ++q)
        ASSERT_EQ(bf.allowed(q, k), c.lo <= q && q < c.hi)
            << "k=" << k << " q=" << q;
      ASSERT_LE(c.lo, k);
      ASSERT_LT(k, c.hi);
      if (k + 1 < t) {
        Interval<int64_t> n = colInterval(ctx, spec, k + 1);
        ASSERT_LE(c.lo, n.lo);
        ASSERT_LE(c.hi, n.hi);
        ASSERT_LE(n.lo, c.hi);
      }
    }
    for (auto [bq, bk] : kTileShapes) {
      SCOPED_TRACE("tiles " + std::to_string(bq) + "x" + std::to_string(bk));
      int64_t numQTiles = (t + bq - 1) / bq;
      for (int64_t kt = 0; kt < (t + bk - 1) / bk; ++kt) {
        int64_t k0 = kt * bk, k1 = std::min(t, k0 + bk);
        TileRange<int64_t> range = queryTileRange(ctx, spec, k0, k1, bq);
        ASSERT_LE(0, range.docs.first);
        ASSERT_LE(range.docs.first, range.docs.last);
        ASSERT_LT(range.docs.last, int64_t(cu.size()) - 1);
        for (int64_t k = k0; k < k1; ++k) {
          Interval<int64_t> all = colInterval(ctx, spec, k);
          Interval<int64_t> within = colInterval(ctx, spec, k, range.docs);
          ASSERT_EQ(all.lo, within.lo) << "k=" << k;
          ASSERT_EQ(all.hi, within.hi) << "k=" << k;
        }
        ASSERT_LE(range.begin, range.fullBegin);
        ASSERT_LE(range.fullBegin, range.fullEnd);
        ASSERT_LE(range.fullEnd, range.end);
        ASSERT_LE(range.end, numQTiles);
        for (int64_t qt = 0; qt < numQTiles; ++qt) {
          int64_t q0 = qt * bq, q1 = std::min(t, q0 + bq);
          TileKind want = bf.classify(q0, q1, k0, k1);
          TileKind fromRange =
              qt < range.begin || qt >= range.end           ? TileKind::Empty
              : qt >= range.fullBegin && qt < range.fullEnd ? TileKind::Full
                                                            : TileKind::Partial;
          ASSERT_EQ(name(want), name(fromRange))
              << "tile (" << qt << ", " << kt << ") from queryTileRange";
        }
      }
    }
    for (auto [bq, bk] : kTileShapes) {
      SCOPED_TRACE("tiles " + std::to_string(bq) + "x" + std::to_string(bk));
      int64_t numQ = (t + bq - 1) / bq, numK = (t + bk - 1) / bk;
      TileCounts expected;
      expected.total = numQ * numK;
      for (int64_t qt = 0; qt < numQ; ++qt) {
        int64_t q0 = qt * bq, q1 = std::min(t, q0 + bq);
        TileRange<int64_t> range = keyTileRange(ctx, spec, q0, q1, bk);
        // The tile's documents hold each of its rows: searched within them,
        // every row gets the interval of a search over all documents.
        ASSERT_LE(0, range.docs.first);
        ASSERT_LE(range.docs.first, range.docs.last);
        ASSERT_LT(range.docs.last, int64_t(cu.size()) - 1);
        for (int64_t q = q0; q < q1; ++q) {
          Interval<int64_t> all = rowInterval(ctx, spec, q);
          Interval<int64_t> within = rowInterval(ctx, spec, q, range.docs);
          ASSERT_EQ(all.lo, within.lo) << "q=" << q;
          ASSERT_EQ(all.hi, within.hi) << "q=" << q;
        }
        ASSERT_LE(range.begin, range.fullBegin);
        ASSERT_LE(range.fullBegin, range.fullEnd);
        ASSERT_LE(range.fullEnd, range.end);
        ASSERT_LE(range.end, numK);
        for (int64_t kt = 0; kt < numK; ++kt) {
          int64_t k0 = kt * bk, k1 = std::min(t, k0 + bk);
          TileKind want = bf.classify(q0, q1, k0, k1);
          ASSERT_EQ(name(want), name(classifyTile(ctx, spec, q0, q1, k0, k1)))
              << "tile (" << qt << ", " << kt << ")";
          TileKind fromRange =
              kt < range.begin || kt >= range.end           ? TileKind::Empty
              : kt >= range.fullBegin && kt < range.fullEnd ? TileKind::Full
                                                            : TileKind::Partial;
          ASSERT_EQ(name(want), name(fromRange))
              << "tile (" << qt << ", " << kt << ") from keyTileRange";
          expected.computed += want != TileKind::Empty;
          expected.partial += want == TileKind::Partial;
          expected.full += want == TileKind::Full;
        }
      }
      for (Axis axis : {Axis::KeysOfQueryTile, Axis::QueriesOfKeyTile}) {
        TileCounts got = countTiles(ctx, spec, bq, bk, axis);
        EXPECT_EQ(expected.total, got.total);
        EXPECT_EQ(expected.computed, got.computed);
        EXPECT_EQ(expected.partial, got.partial);
        EXPECT_EQ(expected.full, got.full);
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Packings, MaskAlgebraRandom, ::testing::Range(0, 60));

TEST(MaskAlgebra, DocIndexSkipsEmptyDocumentsInAnyWindow) {
  // Documents 1, 2 and 4 are empty: rows 3..6 are in document 3, 7..8 in 5.
  std::vector<int32_t> cu{0, 3, 3, 3, 7, 7, 9};
  HostCtx<int32_t> ctx{cu.data(), 6};
  std::vector<int64_t> want{0, 0, 0, 3, 3, 3, 3, 5, 5};
  for (DocSearch how : {DocSearch::Bisect, DocSearch::FromFirst})
    for (int64_t q = 0; q < 9; ++q)
      for (int64_t first = 0; first <= want[q]; ++first)
        for (int64_t last = want[q]; last < 6; ++last) {
          EXPECT_EQ(want[q], ctx.docIndex(q, first, last, how))
              << "q=" << q << " in [" << first << ", " << last << "]";
        }
}

TEST(MaskAlgebra, DocPositionsRestartAtEveryDocument) {
  std::vector<int32_t> cu{0, 3, 3, 4, 9};
  HostCtx<int32_t> ctx{cu.data(), 4};
  std::vector<int64_t> want{0, 1, 2, 0, 0, 1, 2, 3, 4};
  for (int64_t q = 0; q < 9; ++q)
    EXPECT_EQ(want[q], docPosition(ctx, q)) << "q=" << q;
}

TEST(MaskAlgebra, OneDocumentCausalHasFullTilesBelowTheDiagonal) {
  std::vector<int32_t> cu{0, 256};
  HostCtx<int32_t> ctx{cu.data(), 1};
  MaskSpec spec{true, true, 0};
  // 4 x 4 tiles of 64: 4 diagonal partial, 6 full below, 6 skipped above.
  TileCounts c = countTiles(ctx, spec, 64, 64);
  EXPECT_EQ(16, c.total);
  EXPECT_EQ(10, c.computed);
  EXPECT_EQ(4, c.partial);
  EXPECT_EQ(6, c.full);
  EXPECT_EQ(6, c.skipped());
}

TEST(MaskAlgebra, VerifyMaskSpec) {
  EXPECT_FALSE(verifyMaskSpec({true, true, 0}));
  EXPECT_FALSE(verifyMaskSpec({false, false, 0}));
  EXPECT_FALSE(verifyMaskSpec({true, true, 128}));
  EXPECT_TRUE(verifyMaskSpec({true, false, 128}));
  EXPECT_TRUE(verifyMaskSpec({true, true, -1}));
  EXPECT_EQ("document,causal,window=8", toString({true, true, 8}));
  EXPECT_EQ("none", toString({}));
}

TEST(MaskAlgebra, ValidateCuSeqlens) {
  std::vector<int32_t> good{0, 0, 5, 5, 9};
  EXPECT_FALSE(validateCuSeqlens(good.data(), 5, 9));
  std::vector<int32_t> one{0};
  EXPECT_FALSE(validateCuSeqlens(one.data(), 1, 0));
  EXPECT_TRUE(validateCuSeqlens(good.data(), 0, 9));
  std::vector<int32_t> start{1, 5};
  EXPECT_TRUE(validateCuSeqlens(start.data(), 2, 5));
  std::vector<int32_t> down{0, 5, 4, 9};
  auto err = validateCuSeqlens(down.data(), 4, 9);
  ASSERT_TRUE(err);
  EXPECT_NE(std::string::npos, err->find("must not decrease"));
  EXPECT_TRUE(validateCuSeqlens(good.data(), 5, 10));
}

/// The per-entry form of the rules (attn.check_cu_seqlens) against
/// validateCuSeqlens on random arrays, valid and not: small values, some
/// negative, and token counts around the last entry.
TEST(MaskAlgebra, CuSeqlensEntryErrorsAgreeWithValidate) {
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> entries(1, 6), value(-2, 6), pick(0, 3);
  int valid = 0, invalid = 0;
  for (int trial = 0; trial < 20000; ++trial) {
    std::vector<int32_t> cu(entries(rng));
    // Half the arrays start as a valid packing, then maybe one entry moves.
    bool packing = pick(rng) < 2;
    for (size_t i = 0; i < cu.size(); ++i)
      cu[i] = packing ? (i == 0 ? 0 : cu[i - 1] + std::max(0, value(rng)))
                      : value(rng);
    if (packing && pick(rng) == 0)
      cu[rng() % cu.size()] += value(rng) - 2;
    int64_t last = int64_t(cu.size()) - 1;
    int64_t tokens = cu[last] + (pick(rng) == 0 ? value(rng) - 2 : 0);
    HostCtx<int32_t> ctx{cu.data(), last};
    int64_t errors = 0;
    for (int64_t i = 0; i <= last; ++i) {
      int64_t e = cuSeqlensEntryError(ctx, i, tokens);
      ASSERT_TRUE(e == 0 || e == 1);
      errors += e;
    }
    bool bad =
        validateCuSeqlens(cu.data(), int64_t(cu.size()), tokens).has_value();
    EXPECT_EQ(bad, errors > 0) << "trial " << trial;
    (bad ? invalid : valid) += 1;
  }
  // Both kinds occur often.
  EXPECT_GT(valid, 3000);
  EXPECT_GT(invalid, 3000);
}

} // namespace
