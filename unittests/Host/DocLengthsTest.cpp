//===- DocLengthsTest.cpp - document lengths from a distribution ----------===//
//
// sampleDocLengths reads the distributions attn-run and attn-cuda-run take
// with --docs (the same names as bench/packing.py): each draw covers the
// tokens asked for, stays within the distribution's bounds but for the last
// document (cut to fit), and bad names are errors.
//===----------------------------------------------------------------------===//

#include "attn/Host/Host.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

using namespace attn::host;

namespace {

std::vector<int64_t> draw(const std::string &dist, int64_t tokens,
                          int64_t numDocs = 0) {
  std::vector<int64_t> lengths;
  std::optional<std::string> why =
      sampleDocLengths(dist, tokens, numDocs, /*seed=*/5, lengths);
  EXPECT_FALSE(why) << *why;
  return lengths;
}

TEST(DocLengths, UniformBetweenBounds) {
  std::vector<int64_t> l = draw("uniform:100-3000", 49152);
  ASSERT_GT(l.size(), 10u);
  EXPECT_EQ(std::accumulate(l.begin(), l.end(), int64_t(0)), 49152);
  EXPECT_LE(*std::max_element(l.begin(), l.end()), 3000);
  EXPECT_GE(*std::min_element(l.begin(), l.end() - 1), 100);
}

TEST(DocLengths, UniformFromOne) {
  std::vector<int64_t> l = draw("uniform:3", 0, 200);
  ASSERT_EQ(l.size(), 200u);
  EXPECT_EQ(*std::min_element(l.begin(), l.end()), 1);
  EXPECT_EQ(*std::max_element(l.begin(), l.end()), 3);
}

TEST(DocLengths, FixedAndLognormal) {
  EXPECT_EQ(draw("fixed:64", 200), (std::vector<int64_t>{64, 64, 64, 8}));
  std::vector<int64_t> l = draw("lognormal:1024", 16384);
  EXPECT_EQ(std::accumulate(l.begin(), l.end(), int64_t(0)), 16384);
}

TEST(DocLengths, BadDistributions) {
  for (const char *bad : {"uniform:3-1", "uniform:0-5", "fixed:1-2",
                          "lognormal:0", "uniform:", "uniform:-5", "x:4",
                          "uniform:a-5", "fixed"}) {
    std::vector<int64_t> lengths;
    std::optional<std::string> why =
        sampleDocLengths(bad, 100, 0, 1, lengths);
    ASSERT_TRUE(why) << bad;
    EXPECT_NE(why->find("bad document distribution"), std::string::npos)
        << *why;
  }
}

} // namespace
