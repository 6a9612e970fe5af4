//===- Reference.h - the float64 reference and its checks ------*- C++ -*-===//
//
// Attention over the dense mask, computed naively in float64 (or as a naive
// low-precision implementation would), and the comparisons of a kernel's
// outputs with it. No MLIR dependency.
//===----------------------------------------------------------------------===//

#ifndef ATTN_HOST_REFERENCE_H
#define ATTN_HOST_REFERENCE_H

#include "attn/Host/Host.h"

namespace attn::host {

/// The dense mask, naively: whether query q may see key k, from each
/// token's document id and the mask's terms (not from the mask algebra).
class DenseMask {
public:
  explicit DenseMask(const AttentionSpec &spec);
  bool allowed(int64_t q, int64_t k) const {
    if (m.document && doc[size_t(q)] != doc[size_t(k)])
      return false;
    if (m.causal && k > q)
      return false;
    return m.window == 0 || q - k < m.window;
  }

private:
  mask::MaskSpec m;
  std::vector<int64_t> doc; // per token
};

/// Result rows of a reference: out[row][h][dv], lse[row][h].
struct ReferenceRows {
  std::vector<int64_t> rows;
  /// The one head computed for each row, or empty: every head (the others'
  /// out and lse stay 0 and -inf, and comparisons skip them).
  std::vector<int64_t> heads;
  std::vector<double> out; // rows.size() x Hq x Dv
  std::vector<double> lse; // rows.size() x Hq
  bool has(size_t ri, int64_t h) const {
    return heads.empty() || heads[ri] == h;
  }
};

/// How the reference computes.
enum class RefMode {
  /// Float64 everywhere.
  Exact,
  /// As a naive low-precision implementation would: scores rounded to the
  /// input type, P rounded to the input type before P*V, f32 accumulation,
  /// the output rounded to the input type.
  NaiveLowPrecision
};

/// Rows a check compares: all of them when `requested` is 0 (or covers T),
/// -1 meaning "all up to 4096 tokens, else 256"; otherwise the first and
/// last row of documents (up to half) and random rows from `seed`.
std::vector<int64_t> rowsToCheck(const AttentionSpec &spec, int64_t requested,
                                 uint64_t seed);

/// Attention for the given query rows over the dense mask, computed naively
/// from each token's document id (not from the mask algebra); with `heads`
/// (one per row), only that head of each row.
ReferenceRows reference(const AttentionSpec &spec, const Buffer &q,
                        const Buffer &k, const Buffer &v,
                        const std::vector<int64_t> &rows, RefMode mode,
                        const std::vector<int64_t> &heads = {});

/// The heads a check compares for `rows`: every head when the rows are all
/// of them, else one per row (row r: head r mod Hq), so that a sampled check
/// of a long document costs one head's work per row.
std::vector<int64_t> headsToCheck(const AttentionSpec &spec,
                                  const std::vector<int64_t> &rows);

/// Relative error ||a - ref|| / ||ref|| (||a - ref|| when ref is 0),
/// accumulated element by element; a NaN on either side, or an infinity
/// not matched exactly, makes it NaN.
struct RelErr {
  double num = 0, den = 0;
  bool bad = false;
  void add(double a, double ref);
  double result() const;
};

/// ||a - ref|| / ||ref|| over the rows of `ref`, for an output [T, Hq, Dv]
/// buffer; NaN if any compared element is NaN.
double relErrOut(const AttentionSpec &spec, const Buffer &out,
                 const ReferenceRows &ref);
/// The same for lse [Hq, T] (f32); -inf must match -inf exactly.
double relErrLse(const AttentionSpec &spec, const std::vector<float> &lse,
                 const ReferenceRows &ref);
/// The same for a reference computed another way.
double relErrRows(const ReferenceRows &a, const ReferenceRows &ref, bool lse);

/// A comparison of computed outputs with the float64 reference.
struct CheckResult {
  size_t rows = 0;      // rows compared
  size_t unwritten = 0; // NaN left anywhere in out or lse (they are poisoned)
  double errOut = 0, errLse = 0;     // relative errors vs float64
  double naiveOut = 0, naiveLse = 0; // the same for a naive computation in
                                     // the input type (bf16/f16 only)
  /// Where it went wrong, for diagnosis (set only when the check fails):
  /// the checked out element farthest from the reference,
  /// "out[row, head, col] = got (reference want)", and the first unwritten
  /// element of out ("" if none).
  std::string worstOut, firstUnwritten;
  bool lowPrecision = false; // bf16/f16: the naive errors are meaningful
  bool ok = false;
};

/// Compares out [T,Hq,Dv] and lse [Hq,T] with the float64 reference on
/// `rows` (and headsToCheck's heads of them). Passes when nothing is unwritten and, for f32, both relative
/// errors are <= 1e-5; for bf16/f16, the out error is <= 2x the naive
/// computation's and the lse error <= max(2x naive, 1e-5).
CheckResult checkAgainstReference(const AttentionSpec &spec, const Buffer &q,
                                  const Buffer &k, const Buffer &v,
                                  const Buffer &out,
                                  const std::vector<float> &lse,
                                  const std::vector<int64_t> &rows);

/// A number as the text reports print it ("%.6g": nan, inf too).
std::string textNumber(double v);
/// A number as JSON output prints it (textNumber; null for NaN and
/// infinities, which JSON has no numbers for).
std::string jsonNumber(double v);
/// The check's fields of a JSON object, without braces:
/// "checked_rows", "unwritten", "rel_err_out", "rel_err_lse" and, for
/// bf16/f16, "naive_rel_err_out", "naive_rel_err_lse".
std::string checkJsonFields(const CheckResult &c);
/// ", \"worst_out\": ..., \"first_unwritten\": ..." for a failed check, ""
/// otherwise.
std::string checkFailureJsonFields(const CheckResult &c);

/// Tile counts of one head, by classifying every element of every tile
/// against the naive dense mask (independent of the mask algebra).
mask::TileCounts bruteForceTileCounts(const AttentionSpec &spec, int64_t blockQ,
                                      int64_t blockK);

} // namespace attn::host

#endif // ATTN_HOST_REFERENCE_H
