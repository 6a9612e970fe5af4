//===- Host.cpp - host-side problem specs and data -------------------------===//

#include "attn/Host/Host.h"
#include "attn/Support/Scale.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>

#include <unistd.h>

namespace attn::host {

const char *toString(DType t) {
  switch (t) {
  case DType::F32:
    return "f32";
  case DType::BF16:
    return "bf16";
  case DType::F16:
    return "f16";
  }
  return "?";
}

std::optional<DType> parseDType(const std::string &s) {
  if (s == "f32")
    return DType::F32;
  if (s == "bf16")
    return DType::BF16;
  if (s == "f16")
    return DType::F16;
  return std::nullopt;
}

double AttentionSpec::scaleOrDefault() const {
  return scale ? *scale : 1.0 / std::sqrt(double(headDim));
}

std::optional<std::string> AttentionSpec::validate() const {
  if (auto why = mask::validateCuSeqlens(
          cuSeqlens.data(), int64_t(cuSeqlens.size()), cuSeqlens.back()))
    return why;
  if (auto why = mask::verifyMaskSpec(mask))
    return why;
  if (heads < 1 || kvHeads < 1 || heads % kvHeads != 0)
    return "the head count (" + std::to_string(heads) +
           ") must be a positive multiple of the key/value head count (" +
           std::to_string(kvHeads) + ")";
  for (int64_t d : {headDim, valueDim})
    if (!isSupportedHeadDim(d))
      return "unsupported head dim " + std::to_string(d) + " (supported: " +
             headDimList() + ")";
  if (scale && !isSupportedScale(*scale))
    return scaleRule();
  return std::nullopt;
}

/// The parts of `s` between separators, empty ones included ("1,2," has
/// three: a trailing separator is an error for the caller to report).
static std::vector<std::string> split(const std::string &s, char sep) {
  std::vector<std::string> parts(1);
  for (char c : s) {
    if (c == sep)
      parts.emplace_back();
    else
      parts.back() += c;
  }
  return parts;
}

static std::optional<int64_t> parseInt(const std::string &s) {
  if (s.empty())
    return std::nullopt;
  char *end = nullptr;
  errno = 0;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno || *end != '\0')
    return std::nullopt;
  return int64_t(v);
}

std::optional<std::string> parseMask(const std::string &s, mask::MaskSpec &m) {
  m = {};
  if (s == "none")
    return std::nullopt;
  // (An empty variable in a script is not a request for full attention.)
  if (s.empty())
    return std::string("empty mask (give 'none' for every key)");
  bool seenWindow = false;
  for (const std::string &term : split(s, ',')) {
    if (term == "document" && !m.document)
      m.document = true;
    else if (term == "causal" && !m.causal)
      m.causal = true;
    else if (term.rfind("window=", 0) == 0 && !seenWindow) {
      std::optional<int64_t> w = parseInt(term.substr(7));
      if (!w || *w < 1)
        return "bad window in mask term '" + term + "' (need window=W, W >= 1)";
      m.window = *w;
      seenWindow = true;
    } else
      return "bad or repeated mask term '" + term +
             "' (expected document, causal, window=W; or none alone)";
  }
  return mask::verifyMaskSpec(m);
}

std::optional<std::string> parseIntList(const std::string &s,
                                        std::vector<int64_t> &out) {
  out.clear();
  for (const std::string &part : split(s, ',')) {
    std::optional<int64_t> v = parseInt(part);
    if (!v)
      return "'" + part + "' in '" + s + "' is not an integer";
    out.push_back(*v);
  }
  if (out.empty())
    return "empty list '" + s + "'";
  return std::nullopt;
}

std::optional<std::string> cuFromLengths(const std::vector<int64_t> &lengths,
                                         std::vector<int32_t> &cu) {
  cu.assign(1, 0);
  int64_t total = 0;
  for (int64_t l : lengths) {
    if (l < 0)
      return "document lengths must not be negative, got " + std::to_string(l);
    total += l;
    if (total > std::numeric_limits<int32_t>::max())
      return std::string("more tokens than int32 cu_seqlens can hold");
    cu.push_back(int32_t(total));
  }
  return std::nullopt;
}

std::optional<std::string> sampleDocLengths(const std::string &dist,
                                            int64_t tokens, int64_t numDocs,
                                            uint64_t seed,
                                            std::vector<int64_t> &lengths) {
  lengths.clear();
  // KIND:PARAM, or uniform:LOW-PARAM.
  size_t colon = dist.find(':');
  std::string kind = dist.substr(0, colon);
  std::string rest =
      colon == std::string::npos ? std::string() : dist.substr(colon + 1);
  size_t dash = rest.find('-');
  std::optional<int64_t> low = int64_t(1);
  if (kind == "uniform" && dash != std::string::npos && dash > 0) {
    low = parseInt(rest.substr(0, dash));
    rest = rest.substr(dash + 1);
  }
  std::optional<int64_t> param =
      colon == std::string::npos ? std::nullopt : parseInt(rest);
  if (!param || !low || *low < 1 || *param < *low ||
      (kind != "lognormal" && kind != "uniform" && kind != "fixed"))
    return "bad document distribution '" + dist +
           "' (expected lognormal:MEDIAN, uniform:MAX, uniform:MIN-MAX or "
           "fixed:LENGTH)";
  if ((tokens > 0) == (numDocs > 0))
    return std::string("give a positive token count or document count");
  // (Checked as the lengths are drawn: never a vector past int32 tokens.)
  constexpr int64_t kMaxTokens = std::numeric_limits<int32_t>::max();
  const std::string tooMany = "more than " + std::to_string(kMaxTokens) +
                              " tokens (cu_seqlens is int32)";
  if (tokens > kMaxTokens || numDocs > kMaxTokens)
    return tooMany;
  std::mt19937_64 rng(seed);
  std::lognormal_distribution<double> logn(std::log(double(*param)), 1.0);
  std::uniform_int_distribution<int64_t> uni(*low, *param);
  int64_t total = 0;
  while (numDocs > 0 ? int64_t(lengths.size()) < numDocs : total < tokens) {
    int64_t l = kind == "lognormal"
                    ? std::max<int64_t>(1, std::llround(logn(rng)))
                : kind == "uniform" ? uni(rng)
                                    : *param;
    if (numDocs == 0)
      l = std::min(l, tokens - total);
    lengths.push_back(l);
    total += l;
    if (total > kMaxTokens)
      return tooMany;
  }
  return std::nullopt;
}

std::optional<std::string> cuFromFlags(const DocumentFlags &f,
                                       std::vector<int32_t> &cu) {
  int sources = !f.docLengths.empty() + !f.cuSeqlens.empty() + !f.docs.empty();
  if (sources != 1)
    return std::string("give exactly one of --doc-lengths, --cu-seqlens, or "
                       "--tokens with --docs");
  std::vector<int64_t> values;
  std::optional<std::string> why;
  if (!f.docLengths.empty()) {
    if ((why = parseIntList(f.docLengths, values)) ||
        (why = cuFromLengths(values, cu)))
      return "--doc-lengths: " + *why;
  } else if (!f.cuSeqlens.empty()) {
    if ((why = parseIntList(f.cuSeqlens, values)))
      return "--cu-seqlens: " + *why;
    cu.clear();
    for (int64_t v : values) {
      if (v < std::numeric_limits<int32_t>::min() ||
          v > std::numeric_limits<int32_t>::max())
        return "--cu-seqlens: " + std::to_string(v) + " does not fit in int32";
      cu.push_back(int32_t(v));
    }
  } else {
    if (f.tokens < 0 || f.numDocs < 0 || (f.tokens > 0) == (f.numDocs > 0))
      return std::string("--docs needs exactly one of --tokens and "
                         "--num-docs, at least 1");
    if ((why = sampleDocLengths(f.docs, f.tokens, f.numDocs, f.seed, values)) ||
        (why = cuFromLengths(values, cu)))
      return "--docs: " + *why;
  }
  if (f.tokens && f.tokens != cu.back())
    return "--tokens " + std::to_string(f.tokens) + " but the documents hold " +
           std::to_string(cu.back());
  return std::nullopt;
}

std::optional<std::string> checkRunFlags(int64_t repeat,
                                         std::optional<int64_t> checkRows,
                                         bool checked, const char *checks) {
  if (repeat < 1)
    return std::string("--repeat must be at least 1");
  if (checkRows && *checkRows < 0)
    return std::string("--check-rows must be at least 0 (0: every row)");
  if (checkRows && !checked)
    return std::string("--check-rows applies to ") + checks;
  return std::nullopt;
}

double hostBytes(const AttentionSpec &spec, bool backward) {
  double t = double(spec.tokens()), e = double(byteWidth(spec.dtype));
  double qk = double(spec.heads + spec.kvHeads) * double(spec.headDim);
  double vo = double(spec.kvHeads + spec.heads) * double(spec.valueDim);
  double forward = t * ((qk + vo) * e + 4.0 * double(spec.heads));
  // dout, dq, dk, dv; the CPU backward's f32 delta and dq sums.
  double grads = t * ((qk + vo) * e + 4.0 * double(spec.heads) *
                                          double(1 + spec.headDim));
  return forward + (backward ? grads : 0.0);
}

std::optional<std::string> checkHostMemory(const AttentionSpec &spec,
                                           bool backward) {
  double physical =
      double(sysconf(_SC_PHYS_PAGES)) * double(sysconf(_SC_PAGE_SIZE));
  double bytes = hostBytes(spec, backward);
  if (physical <= 0 || bytes <= 0.75 * physical) // (unknown: not refused)
    return std::nullopt;
  auto gib = [](double b) {
    char text[32];
    std::snprintf(text, sizeof(text), "%.3g", b / double(1 << 30));
    return std::string(text);
  };
  return "the problem needs about " + gib(bytes) +
         " GiB of host memory for its inputs and outputs, more than 75% of "
         "this machine's " +
         gib(physical) + " GiB";
}

double usefulFlops(const AttentionSpec &spec) {
  const mask::MaskSpec docCausal{true, true, 0};
  if (spec.mask == docCausal && spec.headDim == spec.valueDim) {
    double flops = 0;
    for (int64_t d = 0; d < spec.docs(); ++d) {
      double l = spec.cuSeqlens[d + 1] - spec.cuSeqlens[d];
      flops += 2.0 * spec.headDim * spec.heads * l * l;
    }
    return flops;
  }
  return 2.0 * double(spec.headDim + spec.valueDim) * spec.heads *
         allowedPairs(spec);
}

double allowedPairs(const AttentionSpec &spec) {
  mask::HostCtx<int32_t> ctx = spec.ctx();
  double pairs = 0;
  for (int64_t q = 0; q < spec.tokens(); ++q) {
    auto r = mask::rowInterval(ctx, spec.mask, q);
    pairs += double(std::max<int64_t>(0, r.hi - r.lo));
  }
  return pairs;
}

//===----------------------------------------------------------------------===//
// Element types
//===----------------------------------------------------------------------===//

static uint32_t bitsOf(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  return x;
}
static float floatOf(uint32_t x) {
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

uint16_t floatToBF16(float f) {
  uint32_t x = bitsOf(f);
  if ((x & 0x7fffffff) > 0x7f800000)
    return uint16_t(((x >> 16) & 0x8000) | 0x7fc0);
  x += 0x7fff + ((x >> 16) & 1); // round to nearest even
  return uint16_t(x >> 16);
}

float bf16ToFloat(uint16_t h) { return floatOf(uint32_t(h) << 16); }

uint16_t floatToF16(float f) {
  uint32_t x = bitsOf(f);
  uint32_t sign = (x >> 16) & 0x8000, ax = x & 0x7fffffff;
  if (ax >= 0x7f800000) // inf, nan
    return uint16_t(sign | 0x7c00 | (ax > 0x7f800000 ? 0x200 : 0));
  if (ax >= 0x477ff000) // >= 65520 rounds to inf
    return uint16_t(sign | 0x7c00);
  if (ax < 0x38800000) { // below 2^-14: subnormal half (or 0)
    // m * 2^-24, rounded to nearest even (the default rounding mode).
    uint32_t m = uint32_t(std::nearbyint(floatOf(ax) * 16777216.0f));
    return uint16_t(sign | m);
  }
  uint32_t h = ((((ax >> 23) - 127 + 15) << 10) | ((ax & 0x7fffff) >> 13));
  uint32_t rem = ax & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (h & 1)))
    ++h;
  return uint16_t(sign | h);
}

float f16ToFloat(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16, e = (h >> 10) & 0x1f,
           m = h & 0x3ff;
  if (e == 0) {
    float v = std::ldexp(float(m), -24);
    return sign ? -v : v;
  }
  if (e == 31)
    return floatOf(sign | 0x7f800000 | (m << 13));
  return floatOf(sign | ((e - 15 + 127) << 23) | (m << 13));
}

float roundTo(DType t, float f) {
  switch (t) {
  case DType::F32:
    return f;
  case DType::BF16:
    return bf16ToFloat(floatToBF16(f));
  case DType::F16:
    return f16ToFloat(floatToF16(f));
  }
  return f;
}

float Buffer::get(int64_t i) const {
  if (dtype == DType::F32) {
    float f;
    std::memcpy(&f, bytes.data() + 4 * i, 4);
    return f;
  }
  uint16_t h;
  std::memcpy(&h, bytes.data() + 2 * i, 2);
  return dtype == DType::BF16 ? bf16ToFloat(h) : f16ToFloat(h);
}

void Buffer::set(int64_t i, float v) {
  if (dtype == DType::F32) {
    std::memcpy(bytes.data() + 4 * i, &v, 4);
    return;
  }
  uint16_t h = dtype == DType::BF16 ? floatToBF16(v) : floatToF16(v);
  std::memcpy(bytes.data() + 2 * i, &h, 2);
}

void Buffer::poison() {
  float nan = std::numeric_limits<float>::quiet_NaN();
  for (int64_t i = 0, n = size(); i < n; ++i)
    set(i, nan);
}

void fillRandom(Buffer &b, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (int64_t i = 0, n = b.size(); i < n; ++i)
    b.set(i, u(rng));
}

ProblemData::ProblemData(const AttentionSpec &spec, uint64_t seed)
    : q(spec.dtype, spec.tokens() * spec.heads * spec.headDim),
      k(spec.dtype, spec.tokens() * spec.kvHeads * spec.headDim),
      v(spec.dtype, spec.tokens() * spec.kvHeads * spec.valueDim),
      out(spec.dtype, spec.tokens() * spec.heads * spec.valueDim),
      lse(size_t(spec.heads * spec.tokens())) {
  fillRandom(q, seed * 3 + 0);
  fillRandom(k, seed * 3 + 1);
  fillRandom(v, seed * 3 + 2);
}

} // namespace attn::host
