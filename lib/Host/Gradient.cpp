//===- Gradient.cpp - the backward pass's data and reference --------------===//

#include "attn/Host/Gradient.h"

#include <cmath>
#include <limits>
#include <numeric>

namespace attn::host {

GradientData::GradientData(const AttentionSpec &spec, uint64_t seed)
    : dout(spec.dtype, spec.tokens() * spec.heads * spec.valueDim),
      dq(spec.dtype, spec.tokens() * spec.heads * spec.headDim),
      dk(spec.dtype, spec.tokens() * spec.kvHeads * spec.headDim),
      dv(spec.dtype, spec.tokens() * spec.kvHeads * spec.valueDim) {
  // A stream of its own (ProblemData's are seed * 3 + 0..2, which a nearby
  // seed's would share with a plain seed * 3 + 3).
  fillRandom(dout, seed ^ 0x9E3779B97F4A7C15ull);
}

void GradientData::poison() {
  dq.poison();
  dk.poison();
  dv.poison();
}

ReferenceGradients referenceGradients(const AttentionSpec &spec,
                                      const Buffer &q, const Buffer &k,
                                      const Buffer &v, const Buffer &dout,
                                      RefMode mode) {
  int64_t t = spec.tokens(), hq = spec.heads, hkv = spec.kvHeads,
          d = spec.headDim, dv = spec.valueDim, group = hq / hkv;
  std::vector<int64_t> all(static_cast<size_t>(t));
  std::iota(all.begin(), all.end(), 0);
  ReferenceRows fwd = reference(spec, q, k, v, all, mode);
  DenseMask dense(spec);
  bool low = mode == RefMode::NaiveLowPrecision;
  auto rnd = [&](double x) {
    return low ? double(roundTo(spec.dtype, float(x))) : x;
  };
  // A sum: f32 accumulation in the naive mode, float64 otherwise.
  auto accumulate = [&](double &acc, double x) {
    acc = low ? double(float(acc) + float(x)) : acc + x;
  };
  auto dot = [&](const Buffer &a, int64_t ao, const Buffer &b, int64_t bo,
                 int64_t n) {
    double s = 0;
    for (int64_t x = 0; x < n; ++x)
      accumulate(s, double(a.get(ao + x)) * double(b.get(bo + x)));
    return s;
  };
  double scale = spec.scaleOrDefault();

  ReferenceGradients g;
  g.dq.assign(size_t(t * hq * d), 0.0);
  g.dk.assign(size_t(t * hkv * d), 0.0);
  g.dv.assign(size_t(t * hkv * dv), 0.0);
  std::vector<int64_t> keys;
  for (int64_t qi = 0; qi < t; ++qi) {
    keys.clear();
    for (int64_t ki = 0; ki < t; ++ki)
      if (dense.allowed(qi, ki))
        keys.push_back(ki);
    for (int64_t h = 0; h < hq; ++h) {
      int64_t kh = h / group;
      double lse = fwd.lse[size_t(qi * hq + h)];
      if (std::isinf(lse))
        continue; // no allowed key: no gradient
      const int64_t qOff = (qi * hq + h) * d, oOff = (qi * hq + h) * dv;
      // delta = <dout, out> (the naive run's out, rounded, in that mode).
      double delta = 0;
      for (int64_t x = 0; x < dv; ++x)
        accumulate(delta, double(dout.get(oOff + x)) *
                              fwd.out[size_t(qi * hq + h) * dv + x]);
      for (int64_t kj : keys) {
        const int64_t kOff = (kj * hkv + kh) * d, vOff = (kj * hkv + kh) * dv;
        double s = low ? rnd(rnd(dot(q, qOff, k, kOff, d)) * scale)
                       : dot(q, qOff, k, kOff, d) * scale;
        double p = low ? rnd(double(std::exp(float(s - lse))))
                       : std::exp(s - lse);
        double dp = rnd(dot(dout, oOff, v, vOff, dv));
        double ds = rnd(p * (dp - delta));
        for (int64_t x = 0; x < dv; ++x)
          accumulate(g.dv[size_t(vOff + x)], p * double(dout.get(oOff + x)));
        for (int64_t x = 0; x < d; ++x) {
          accumulate(g.dq[size_t(qOff + x)], ds * scale * k.get(kOff + x));
          accumulate(g.dk[size_t(kOff + x)], ds * scale * q.get(qOff + x));
        }
      }
    }
  }
  if (low)
    for (std::vector<double> *x : {&g.dq, &g.dk, &g.dv})
      for (double &e : *x)
        e = rnd(e);
  return g;
}

std::optional<std::string>
checkGradientReferenceCost(const AttentionSpec &spec, const std::string &what) {
  double cost = referenceGradientCost(spec);
  if (cost <= kMaxGradientReferenceCost)
    return std::nullopt;
  return what + ": the float64 gradient reference would take " +
         textNumber(cost) + " multiply-adds (more than " +
         textNumber(kMaxGradientReferenceCost) +
         ", about a minute); check fewer tokens or heads";
}

double referenceGradientCost(const AttentionSpec &spec) {
  // (From the rows' intervals: counting the dense mask's pairs was itself
  // quadratic, 9 s to refuse 100K tokens.)
  double pairs = allowedPairs(spec);
  // The check runs the reference once in float64, and for bf16/f16 once
  // more as the naive computation.
  return pairs * double(spec.heads) *
         double(4 * spec.headDim + 3 * spec.valueDim) *
         (spec.dtype == DType::F32 ? 1 : 2);
}

/// ||a - ref|| / ||ref|| of a buffer against reference elements.
static double relErr(const Buffer &a, const std::vector<double> &ref) {
  RelErr e;
  for (int64_t i = 0; i < a.size(); ++i)
    e.add(a.get(i), ref[size_t(i)]);
  return e.result();
}

/// The same between two references.
static double relErr(const std::vector<double> &a,
                     const std::vector<double> &ref) {
  RelErr e;
  for (size_t i = 0; i < a.size(); ++i)
    e.add(a[i], ref[i]);
  return e.result();
}

GradCheckResult checkGradients(const AttentionSpec &spec, const Buffer &q,
                               const Buffer &k, const Buffer &v,
                               const Buffer &dout, const GradientData &grads) {
  GradCheckResult c;
  c.lowPrecision = spec.dtype != DType::F32;
  for (const Buffer *b : {&grads.dq, &grads.dk, &grads.dv})
    for (int64_t i = 0; i < b->size(); ++i)
      c.unwritten += std::isnan(b->get(i));
  // Keys no query may see: their dk and dv are exactly 0.
  DenseMask dense(spec);
  int64_t t = spec.tokens(), hkv = spec.kvHeads;
  for (int64_t ki = 0; ki < t; ++ki) {
    bool seen = false;
    for (int64_t qi = 0; qi < t && !seen; ++qi)
      seen = dense.allowed(qi, ki);
    if (seen)
      continue;
    for (int64_t i = ki * hkv * spec.headDim; i < (ki + 1) * hkv * spec.headDim;
         ++i)
      c.unseenNonZero += grads.dk.get(i) != 0.0f;
    for (int64_t i = ki * hkv * spec.valueDim;
         i < (ki + 1) * hkv * spec.valueDim; ++i)
      c.unseenNonZero += grads.dv.get(i) != 0.0f;
  }
  ReferenceGradients ref =
      referenceGradients(spec, q, k, v, dout, RefMode::Exact);
  c.errDq = relErr(grads.dq, ref.dq);
  c.errDk = relErr(grads.dk, ref.dk);
  c.errDv = relErr(grads.dv, ref.dv);
  if (!c.lowPrecision) {
    c.ok = c.errDq <= 1e-4 && c.errDk <= 1e-4 && c.errDv <= 1e-4;
  } else {
    ReferenceGradients naive =
        referenceGradients(spec, q, k, v, dout, RefMode::NaiveLowPrecision);
    c.naiveDq = relErr(naive.dq, ref.dq);
    c.naiveDk = relErr(naive.dk, ref.dk);
    c.naiveDv = relErr(naive.dv, ref.dv);
    c.ok = c.errDq <= 2 * c.naiveDq && c.errDk <= 2 * c.naiveDk &&
           c.errDv <= 2 * c.naiveDv;
  }
  c.ok = c.ok && c.unwritten == 0 && c.unseenNonZero == 0;
  return c;
}

std::string gradCheckJsonFields(const GradCheckResult &c) {
  std::string s = "\"unwritten_grads\": " + std::to_string(c.unwritten) +
                  ", \"rel_err_dq\": " + jsonNumber(c.errDq) +
                  ", \"rel_err_dk\": " + jsonNumber(c.errDk) +
                  ", \"rel_err_dv\": " + jsonNumber(c.errDv) +
                  ", \"unseen_keys_nonzero\": " +
                  std::to_string(c.unseenNonZero);
  if (c.lowPrecision)
    s += ", \"naive_rel_err_dq\": " + jsonNumber(c.naiveDq) +
         ", \"naive_rel_err_dk\": " + jsonNumber(c.naiveDk) +
         ", \"naive_rel_err_dv\": " + jsonNumber(c.naiveDv);
  return s;
}

} // namespace attn::host
