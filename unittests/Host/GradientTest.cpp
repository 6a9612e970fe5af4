//===- GradientTest.cpp - the gradient reference against its definition ---===//
//
// referenceGradients is what decides pass/fail for every backward pass;
// here it is held to the definition of a gradient: central differences of
// the float64 forward reference's loss L = sum(out * dout), perturbing one
// element of q, k or v at a time, on a packing with an empty and a
// length-1 document and grouped-query heads.
//===----------------------------------------------------------------------===//

#include "attn/Host/Gradient.h"

#include <gtest/gtest.h>

#include <numeric>

using namespace attn::host;

namespace {

AttentionSpec makeSpec(attn::mask::MaskSpec mask) {
  AttentionSpec s;
  s.dtype = DType::F32;
  s.heads = 2;
  s.kvHeads = 1;
  s.headDim = s.valueDim = 64;
  s.cuSeqlens = {0, 5, 5, 6, 13};
  s.mask = mask;
  return s;
}

/// L = sum(out * dout) of the float64 forward reference.
double loss(const AttentionSpec &spec, const Buffer &q, const Buffer &k,
            const Buffer &v, const Buffer &dout) {
  std::vector<int64_t> rows(size_t(spec.tokens()));
  std::iota(rows.begin(), rows.end(), 0);
  ReferenceRows ref = reference(spec, q, k, v, rows, RefMode::Exact);
  double l = 0;
  for (size_t i = 0; i < ref.out.size(); ++i)
    l += ref.out[i] * dout.get(int64_t(i));
  return l;
}

class GradientReference
    : public ::testing::TestWithParam<attn::mask::MaskSpec> {};

TEST_P(GradientReference, MatchesCentralDifferences) {
  AttentionSpec spec = makeSpec(GetParam());
  ProblemData data(spec, 11);
  GradientData grads(spec, 11);
  ReferenceGradients g = referenceGradients(spec, data.q, data.k, data.v,
                                            grads.dout, RefMode::Exact);
  const double h = 1.0 / 1024;
  auto check = [&](Buffer &x, const std::vector<double> &want,
                   const char *name) {
    for (int64_t i = 0; i < x.size(); i += 37) {
      float orig = x.get(i);
      x.set(i, orig + float(h));
      double up = loss(spec, data.q, data.k, data.v, grads.dout);
      double hUp = double(x.get(i)) - orig; // the step the float took
      x.set(i, orig - float(h));
      double down = loss(spec, data.q, data.k, data.v, grads.dout);
      double hDown = orig - double(x.get(i));
      x.set(i, orig);
      double numeric = (up - down) / (hUp + hDown);
      EXPECT_NEAR(want[size_t(i)], numeric, 1e-5 + 1e-4 * std::abs(numeric))
          << name << "[" << i << "]";
    }
  };
  check(data.q, g.dq, "dq");
  check(data.k, g.dk, "dk");
  check(data.v, g.dv, "dv");
}

INSTANTIATE_TEST_SUITE_P(
    Masks, GradientReference,
    ::testing::Values(attn::mask::MaskSpec{true, true, 0},
                      attn::mask::MaskSpec{true, false, 0},
                      attn::mask::MaskSpec{false, true, 3},
                      attn::mask::MaskSpec{false, false, 0}));

TEST(GradientCheck, FailsOnAWrongGradientAndOnUnwrittenOnes) {
  AttentionSpec spec = makeSpec({true, true, 0});
  ProblemData data(spec, 3);
  GradientData grads(spec, 3);
  ReferenceGradients g = referenceGradients(spec, data.q, data.k, data.v,
                                            grads.dout, RefMode::Exact);
  auto fill = [](Buffer &b, const std::vector<double> &x) {
    for (int64_t i = 0; i < b.size(); ++i)
      b.set(i, float(x[size_t(i)]));
  };
  fill(grads.dq, g.dq);
  fill(grads.dk, g.dk);
  fill(grads.dv, g.dv);
  GradCheckResult ok =
      checkGradients(spec, data.q, data.k, data.v, grads.dout, grads);
  EXPECT_TRUE(ok.ok) << gradCheckJsonFields(ok);
  grads.dk.set(70, grads.dk.get(70) + 0.5f);
  EXPECT_FALSE(
      checkGradients(spec, data.q, data.k, data.v, grads.dout, grads).ok);
  fill(grads.dk, g.dk);
  grads.dv.set(3, std::numeric_limits<float>::quiet_NaN());
  GradCheckResult nan =
      checkGradients(spec, data.q, data.k, data.v, grads.dout, grads);
  EXPECT_FALSE(nan.ok);
  EXPECT_EQ(nan.unwritten, 1u);
}

} // namespace
