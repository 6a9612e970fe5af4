//===- Reference.cpp - the float64 reference and its checks ----------------===//

#include "attn/Host/Reference.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>

namespace attn::host {

std::vector<int64_t> rowsToCheck(const AttentionSpec &spec, int64_t requested,
                                 uint64_t seed) {
  int64_t t = spec.tokens();
  int64_t n = requested < 0 ? (t <= 4096 ? 0 : 256) : requested;
  std::vector<int64_t> rows;
  if (n == 0 || n >= t) {
    for (int64_t r = 0; r < t; ++r)
      rows.push_back(r);
    return rows;
  }
  for (int64_t d = 0; d < spec.docs() && int64_t(rows.size()) < n / 2; ++d)
    if (spec.cuSeqlens[d + 1] > spec.cuSeqlens[d]) {
      rows.push_back(spec.cuSeqlens[d]);
      rows.push_back(spec.cuSeqlens[d + 1] - 1);
    }
  std::mt19937_64 rng(seed + 17);
  std::uniform_int_distribution<int64_t> u(0, t - 1);
  while (int64_t(rows.size()) < n)
    rows.push_back(u(rng));
  std::sort(rows.begin(), rows.end());
  rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
  return rows;
}

DenseMask::DenseMask(const AttentionSpec &spec)
    : m(spec.mask), doc(size_t(spec.tokens())) {
  for (int64_t i = 0; i < spec.docs(); ++i)
    for (int64_t x = spec.cuSeqlens[i]; x < spec.cuSeqlens[i + 1]; ++x)
      doc[size_t(x)] = i;
}

/// Every element of `b` as a float.
static std::vector<float> decoded(const Buffer &b) {
  std::vector<float> out(size_t(b.size()));
  for (int64_t i = 0; i < b.size(); ++i)
    out[size_t(i)] = b.get(i);
  return out;
}

std::vector<int64_t> headsToCheck(const AttentionSpec &spec,
                                  const std::vector<int64_t> &rows) {
  if (int64_t(rows.size()) >= spec.tokens())
    return {};
  std::vector<int64_t> heads;
  for (int64_t r : rows)
    heads.push_back(r % spec.heads);
  return heads;
}

ReferenceRows reference(const AttentionSpec &spec, const Buffer &q,
                        const Buffer &k, const Buffer &v,
                        const std::vector<int64_t> &rows, RefMode mode,
                        const std::vector<int64_t> &heads) {
  int64_t t = spec.tokens(), hq = spec.heads, hkv = spec.kvHeads,
          d = spec.headDim, dv = spec.valueDim, group = hq / hkv;
  DenseMask dense(spec);
  bool low = mode == RefMode::NaiveLowPrecision;
  auto rnd = [&](double x) {
    return low ? double(roundTo(spec.dtype, float(x))) : x;
  };
  double scale = spec.scaleOrDefault();

  ReferenceRows ref;
  ref.rows = rows;
  ref.heads = heads;
  ref.out.assign(rows.size() * size_t(hq * dv), 0.0);
  ref.lse.assign(rows.size() * size_t(hq),
                 -std::numeric_limits<double>::infinity());
  // Decoded once: element by element, Buffer::get dominated the time.
  std::vector<float> kf = decoded(k), vf = decoded(v);
  std::vector<int64_t> keys;
  std::vector<double> s, p, acc(static_cast<size_t>(dv));
  std::vector<float> qRow(static_cast<size_t>(d)),
      accf(static_cast<size_t>(dv));
  for (size_t ri = 0; ri < rows.size(); ++ri) {
    int64_t qi = rows[ri];
    keys.clear();
    for (int64_t ki = 0; ki < t; ++ki)
      if (dense.allowed(qi, ki))
        keys.push_back(ki);
    if (keys.empty())
      continue; // out 0, lse -inf
    for (int64_t h = 0; h < hq; ++h) {
      if (!ref.has(ri, h))
        continue;
      int64_t kh = h / group;
      for (int64_t x = 0; x < d; ++x)
        qRow[size_t(x)] = q.get((qi * hq + h) * d + x);
      s.assign(keys.size(), 0.0);
      double m = -std::numeric_limits<double>::infinity();
      for (size_t j = 0; j < keys.size(); ++j) {
        const float *kRow = &kf[size_t((keys[j] * hkv + kh) * d)];
        if (low) {
          float dot = 0; // f32 accumulation, as a naive kernel would
          for (int64_t x = 0; x < d; ++x)
            dot += qRow[size_t(x)] * kRow[x];
          s[j] = rnd(rnd(dot) * scale);
        } else {
          double dot = 0;
          for (int64_t x = 0; x < d; ++x)
            dot += double(qRow[size_t(x)]) * double(kRow[x]);
          s[j] = dot * scale;
        }
        m = std::max(m, s[j]);
      }
      double l = 0;
      p.assign(keys.size(), 0.0);
      for (size_t j = 0; j < keys.size(); ++j) {
        p[j] = low ? double(std::exp(float(s[j] - m))) : std::exp(s[j] - m);
        l += p[j];
      }
      ref.lse[ri * hq + h] =
          low ? double(float(m) + std::log(float(l))) : m + std::log(l);
      if (low) // P rounded to the input type once, before P*V
        for (double &pj : p)
          pj = rnd(pj / l);
      // (Each output element still sums over the keys in order.)
      std::fill(acc.begin(), acc.end(), 0.0);
      std::fill(accf.begin(), accf.end(), 0.0f);
      for (size_t j = 0; j < keys.size(); ++j) {
        const float *vRow = &vf[size_t((keys[j] * hkv + kh) * dv)];
        for (int64_t x = 0; x < dv; ++x) {
          if (low)
            accf[size_t(x)] += float(p[j]) * vRow[x];
          else
            acc[size_t(x)] += p[j] * vRow[x];
        }
      }
      for (int64_t x = 0; x < dv; ++x)
        ref.out[(ri * hq + h) * dv + x] =
            low ? rnd(accf[size_t(x)]) : acc[size_t(x)] / l;
    }
  }
  return ref;
}

void RelErr::add(double a, double ref) {
  if (std::isnan(a) || std::isnan(ref)) {
    bad = true;
    return;
  }
  if (std::isinf(ref) || std::isinf(a)) {
    if (a != ref)
      bad = true;
    return;
  }
  num += (a - ref) * (a - ref);
  den += ref * ref;
}

double RelErr::result() const {
  if (bad)
    return std::numeric_limits<double>::quiet_NaN();
  return den == 0 ? std::sqrt(num) : std::sqrt(num / den);
}

double relErrOut(const AttentionSpec &spec, const Buffer &out,
                 const ReferenceRows &ref) {
  int64_t hq = spec.heads, dv = spec.valueDim;
  RelErr e;
  for (size_t ri = 0; ri < ref.rows.size(); ++ri)
    for (int64_t i = 0; i < hq * dv; ++i)
      if (ref.has(ri, i / dv))
        e.add(out.get(ref.rows[ri] * hq * dv + i), ref.out[ri * hq * dv + i]);
  return e.result();
}

double relErrLse(const AttentionSpec &spec, const std::vector<float> &lse,
                 const ReferenceRows &ref) {
  int64_t hq = spec.heads, t = spec.tokens();
  RelErr e;
  for (size_t ri = 0; ri < ref.rows.size(); ++ri)
    for (int64_t h = 0; h < hq; ++h)
      if (ref.has(ri, h))
        e.add(lse[size_t(h * t + ref.rows[ri])], ref.lse[ri * hq + h]);
  return e.result();
}

double relErrRows(const ReferenceRows &a, const ReferenceRows &ref, bool lse) {
  RelErr e;
  const std::vector<double> &x = lse ? a.lse : a.out,
                            &y = lse ? ref.lse : ref.out;
  for (size_t i = 0; i < y.size(); ++i)
    e.add(x[i], y[i]);
  return e.result();
}

CheckResult checkAgainstReference(const AttentionSpec &spec, const Buffer &q,
                                  const Buffer &k, const Buffer &v,
                                  const Buffer &out,
                                  const std::vector<float> &lse,
                                  const std::vector<int64_t> &rows) {
  CheckResult c;
  c.rows = rows.size();
  c.lowPrecision = spec.dtype != DType::F32;
  int64_t hq = spec.heads, dv = spec.valueDim;
  auto where = [&](int64_t row, int64_t i) {
    return "out[" + std::to_string(row) + ", " + std::to_string(i / dv) + ", " +
           std::to_string(i % dv) + "]";
  };
  for (int64_t i = 0; i < out.size(); ++i)
    if (std::isnan(out.get(i)) && c.unwritten++ == 0)
      c.firstUnwritten = where(i / (hq * dv), i % (hq * dv));
  for (float x : lse)
    c.unwritten += std::isnan(x);
  std::vector<int64_t> heads = headsToCheck(spec, rows);
  ReferenceRows ref = reference(spec, q, k, v, rows, RefMode::Exact, heads);
  c.errOut = relErrOut(spec, out, ref);
  c.errLse = relErrLse(spec, lse, ref);
  if (!c.lowPrecision) {
    c.ok = c.errOut <= 1e-5 && c.errLse <= 1e-5;
  } else {
    ReferenceRows naive =
        reference(spec, q, k, v, rows, RefMode::NaiveLowPrecision, heads);
    c.naiveOut = relErrRows(naive, ref, /*lse=*/false);
    c.naiveLse = relErrRows(naive, ref, /*lse=*/true);
    c.ok = c.errOut <= 2 * c.naiveOut &&
           c.errLse <= std::max(2 * c.naiveLse, 1e-5);
  }
  c.ok = c.ok && c.unwritten == 0;
  if (c.ok)
    return c;
  // For diagnosis: the checked element farthest from the reference.
  size_t worstRow = 0;
  int64_t worstI = 0;
  double worst = -1;
  for (size_t ri = 0; ri < ref.rows.size(); ++ri)
    for (int64_t i = 0; i < hq * dv; ++i) {
      if (!ref.has(ri, i / dv))
        continue;
      double got = out.get(ref.rows[ri] * hq * dv + i);
      double d = std::isnan(got) ? std::numeric_limits<double>::infinity()
                                 : std::abs(got - ref.out[ri * hq * dv + i]);
      if (d > worst) {
        worst = d;
        worstRow = ri;
        worstI = i;
      }
    }
  if (worst >= 0)
    c.worstOut =
        where(ref.rows[worstRow], worstI) + " = " +
        std::to_string(out.get(ref.rows[worstRow] * hq * dv + worstI)) +
        " (reference " + std::to_string(ref.out[worstRow * hq * dv + worstI]) +
        ")";
  return c;
}

std::string textNumber(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.6g", v);
  return buf;
}

std::string jsonNumber(double v) {
  return std::isfinite(v) ? textNumber(v) : "null";
}

std::string checkJsonFields(const CheckResult &c) {
  std::string s = "\"checked_rows\": " + std::to_string(c.rows) +
                  ", \"unwritten\": " + std::to_string(c.unwritten) +
                  ", \"rel_err_out\": " + jsonNumber(c.errOut) +
                  ", \"rel_err_lse\": " + jsonNumber(c.errLse);
  if (c.lowPrecision)
    s += ", \"naive_rel_err_out\": " + jsonNumber(c.naiveOut) +
         ", \"naive_rel_err_lse\": " + jsonNumber(c.naiveLse);
  return s;
}

std::string checkFailureJsonFields(const CheckResult &c) {
  if (c.ok)
    return "";
  return ", \"worst_out\": \"" + c.worstOut + "\", \"first_unwritten\": \"" +
         c.firstUnwritten + "\"";
}

mask::TileCounts bruteForceTileCounts(const AttentionSpec &spec, int64_t blockQ,
                                      int64_t blockK) {
  int64_t t = spec.tokens();
  DenseMask dense(spec);
  mask::TileCounts c;
  int64_t numQ = (t + blockQ - 1) / blockQ, numK = (t + blockK - 1) / blockK;
  c.total = numQ * numK;
  for (int64_t qt = 0; qt < numQ; ++qt)
    for (int64_t kt = 0; kt < numK; ++kt) {
      int64_t n = 0, allowed = 0;
      for (int64_t q = qt * blockQ; q < std::min(t, (qt + 1) * blockQ); ++q)
        for (int64_t k = kt * blockK; k < std::min(t, (kt + 1) * blockK);
             ++k, ++n)
          allowed += dense.allowed(q, k);
      c.computed += allowed > 0;
      c.partial += allowed > 0 && allowed < n;
      c.full += allowed == n;
    }
  return c;
}

} // namespace attn::host
