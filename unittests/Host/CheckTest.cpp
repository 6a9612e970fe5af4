//===- CheckTest.cpp - the reference check catches and locates errors -----===//
//
// checkAgainstReference is what decides pass/fail for every target; these
// tests feed it outputs made from the float64 reference itself, then break
// one element, and check that it fails and names that element.
//===----------------------------------------------------------------------===//

#include "attn/Host/Reference.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

using namespace attn::host;

namespace {

struct Fixture {
  AttentionSpec spec;
  std::vector<int64_t> rows;
  ProblemData data;

  static AttentionSpec makeSpec() {
    AttentionSpec s;
    s.dtype = DType::F32;
    s.heads = 2;
    s.kvHeads = 1;
    s.headDim = s.valueDim = 64;
    s.cuSeqlens = {0, 5, 5, 6, 30};
    return s;
  }
  Fixture() : spec(makeSpec()), data(spec, /*seed=*/11) {
    for (int64_t r = 0; r < spec.tokens(); ++r)
      rows.push_back(r);
    // out and lse from the reference itself: a perfect kernel.
    ReferenceRows ref =
        reference(spec, data.q, data.k, data.v, rows, RefMode::Exact);
    int64_t hq = spec.heads, dv = spec.valueDim, t = spec.tokens();
    for (size_t ri = 0; ri < rows.size(); ++ri) {
      for (int64_t i = 0; i < hq * dv; ++i)
        data.out.set(rows[ri] * hq * dv + i, float(ref.out[ri * hq * dv + i]));
      for (int64_t h = 0; h < hq; ++h)
        data.lse[size_t(h * t + rows[ri])] = float(ref.lse[ri * hq + h]);
    }
  }
  CheckResult check() const {
    return checkAgainstReference(spec, data.q, data.k, data.v, data.out,
                                 data.lse, rows);
  }
};

TEST(Check, PassesTheReferenceItself) {
  Fixture f;
  CheckResult c = f.check();
  EXPECT_TRUE(c.ok) << c.errOut << " " << c.errLse;
  EXPECT_EQ(0u, c.unwritten);
  EXPECT_TRUE(c.firstUnwritten.empty());
}

TEST(Check, FailsAndNamesAWrongElement) {
  Fixture f;
  // Row 17, head 1, column 33.
  int64_t i = (17 * 2 + 1) * 64 + 33;
  f.data.out.set(i, f.data.out.get(i) + 0.5f);
  CheckResult c = f.check();
  EXPECT_FALSE(c.ok);
  EXPECT_EQ(0u, c.unwritten);
  EXPECT_EQ(0u, c.worstOut.rfind("out[17, 1, 33] = ", 0)) << c.worstOut;
}

TEST(Check, FailsAndNamesTheFirstUnwrittenElement) {
  Fixture f;
  f.data.out.set((29 * 2 + 0) * 64 + 5,
                 std::numeric_limits<float>::quiet_NaN());
  f.data.out.set((3 * 2 + 1) * 64 + 60,
                 std::numeric_limits<float>::quiet_NaN());
  CheckResult c = f.check();
  EXPECT_FALSE(c.ok);
  EXPECT_EQ(2u, c.unwritten);
  EXPECT_EQ("out[3, 1, 60]", c.firstUnwritten);
}

TEST(Check, FailsOnAWrongLse) {
  Fixture f;
  f.data.lse[7] += 0.25f;
  CheckResult c = f.check();
  EXPECT_FALSE(c.ok);
  EXPECT_GT(c.errLse, 1e-5);
}

} // namespace

namespace {
/// A sampled check of a long document compares one head per row (row r:
/// head r mod Hq): the reference does one head's work per checked row (a
/// 100K-token document, 4 heads, D = 64: about 4 s per reference on one
/// core, measured; 20K here), and what it compares it does catch.
TEST(Check, SampledRowsCompareOneHeadEach) {
  AttentionSpec spec;
  spec.dtype = DType::F32;
  spec.heads = spec.kvHeads = 4;
  spec.headDim = spec.valueDim = 64;
  spec.cuSeqlens = {0, 20000};
  std::vector<int64_t> rows = rowsToCheck(spec, -1, 1);
  ASSERT_LE(rows.size(), 256u);
  std::vector<int64_t> heads = headsToCheck(spec, rows);
  ASSERT_EQ(heads.size(), rows.size());
  for (size_t i = 0; i < rows.size(); ++i)
    EXPECT_EQ(heads[i], rows[i] % 4);
  EXPECT_TRUE(headsToCheck(spec, rowsToCheck(spec, 0, 1)).empty());

  ProblemData data(spec, 5);
  ReferenceRows ref = reference(spec, data.q, data.k, data.v, rows,
                                RefMode::Exact, heads);
  // The reference's own values where it computed, 0 elsewhere: passes.
  data.out.bytes.assign(data.out.bytes.size(), 0);
  std::fill(data.lse.begin(), data.lse.end(), 0.0f);
  int64_t t = spec.tokens(), dv = spec.valueDim;
  for (size_t ri = 0; ri < rows.size(); ++ri) {
    int64_t h = heads[ri];
    for (int64_t x = 0; x < dv; ++x)
      data.out.set((rows[ri] * 4 + h) * dv + x,
                   float(ref.out[(ri * 4 + h) * dv + x]));
    data.lse[size_t(h * t + rows[ri])] = float(ref.lse[ri * 4 + h]);
  }
  EXPECT_TRUE(checkAgainstReference(spec, data.q, data.k, data.v, data.out,
                                    data.lse, rows)
                  .ok);
  // A wrong element in a compared (row, head) fails it.
  int64_t r = rows[7], h = heads[7];
  data.out.set((r * 4 + h) * dv + 3, data.out.get((r * 4 + h) * dv + 3) + 1);
  EXPECT_FALSE(checkAgainstReference(spec, data.q, data.k, data.v, data.out,
                                     data.lse, rows)
                   .ok);
}
} // namespace
