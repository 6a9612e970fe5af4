//===- Gradient.h - the backward pass's data and reference ----*- C++ -*-===//
//
// What a driver needs around a compiled backward pass: dout and the
// gradient buffers, the float64 reference gradients over the dense mask,
// and the check that compares a run with them. No MLIR dependency.
//===----------------------------------------------------------------------===//

#ifndef ATTN_HOST_GRADIENT_H
#define ATTN_HOST_GRADIENT_H

#include "attn/Host/Reference.h"

namespace attn::host {

/// The backward's buffers: dout (fresh random values from `seed`) and the
/// gradients dq [T, Hq, D], dk [T, Hkv, D], dv [T, Hkv, Dv] (not poisoned).
struct GradientData {
  Buffer dout, dq, dk, dv;
  GradientData(const AttentionSpec &spec, uint64_t seed);
  /// Fills dq, dk and dv with NaN so unwritten elements show.
  void poison();
};

/// Gradients of the whole problem, every element: dq [T, Hq, D], dk
/// [T, Hkv, D], dv [T, Hkv, Dv].
struct ReferenceGradients {
  std::vector<double> dq, dk, dv;
};

/// The gradients of attention over the dense mask (DenseMask, not the
/// mask algebra), with the forward recomputed the same way: in float64
/// (RefMode::Exact), or as a naive implementation in the input type would
/// (NaiveLowPrecision: scores, P, dP, dS and the outputs rounded to it,
/// sums accumulated in f32).
ReferenceGradients referenceGradients(const AttentionSpec &spec,
                                      const Buffer &q, const Buffer &k,
                                      const Buffer &v, const Buffer &dout,
                                      RefMode mode);

/// Multiply-adds checkGradients's references take (allowed pairs x heads x
/// the products' widths; twice for bf16/f16), to refuse a check that would
/// take too long.
double referenceGradientCost(const AttentionSpec &spec);

/// The references' budget (multiply-adds): about a minute on one core.
constexpr double kMaxGradientReferenceCost = 3e10;

/// Why a gradient check of `spec` would take too long ("`what`: the
/// float64 gradient reference would take ..."), or nullopt.
std::optional<std::string>
checkGradientReferenceCost(const AttentionSpec &spec, const std::string &what);

/// A comparison of computed gradients with the float64 reference.
struct GradCheckResult {
  size_t unwritten = 0;            // NaN left in dq, dk or dv (poisoned)
  double errDq = 0, errDk = 0, errDv = 0;        // vs float64
  double naiveDq = 0, naiveDk = 0, naiveDv = 0;  // a naive run's, bf16/f16
  /// Keys no query may see whose dk or dv is not exactly 0.
  size_t unseenNonZero = 0;
  bool lowPrecision = false;
  bool ok = false;
};

/// Compares dq, dk and dv with the reference, every element (one relative
/// error ||a - ref|| / ||ref|| per tensor). Passes when nothing is
/// unwritten, unseen keys have dk = dv = 0 exactly (defensive: under every
/// supported mask each key is seen, by its own query) and, for f32, every
/// relative error is <= 1e-4; for bf16/f16, each is <= 2x the naive
/// computation's.
GradCheckResult checkGradients(const AttentionSpec &spec, const Buffer &q,
                               const Buffer &k, const Buffer &v,
                               const Buffer &dout, const GradientData &grads);

/// The check's fields of a JSON object, without braces: "unwritten_grads",
/// "rel_err_dq", "rel_err_dk", "rel_err_dv", "unseen_keys_nonzero" and, for
/// bf16/f16, "naive_rel_err_dq", "naive_rel_err_dk", "naive_rel_err_dv".
std::string gradCheckJsonFields(const GradCheckResult &c);

} // namespace attn::host

#endif // ATTN_HOST_GRADIENT_H
