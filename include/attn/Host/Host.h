//===- Host.h - host-side problem specs, data and reference ---*- C++ -*-===//
//
// What a driver needs around a compiled attention kernel, for every target:
// the problem spec and its parsing, element-type conversion, random inputs,
// and the float64 reference over the dense mask. No MLIR dependency.
//===----------------------------------------------------------------------===//

#ifndef ATTN_HOST_HOST_H
#define ATTN_HOST_HOST_H

#include "attn/Mask/MaskAlgebra.h"
#include "attn/Support/HeadDims.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace attn::host {

enum class DType { F32, BF16, F16 };
const char *toString(DType t);
std::optional<DType> parseDType(const std::string &s);
inline int64_t byteWidth(DType t) { return t == DType::F32 ? 4 : 2; }

/// One attention problem over a packed sequence.
struct AttentionSpec {
  DType dtype = DType::BF16;
  int64_t heads = 16, kvHeads = 16, headDim = 128, valueDim = 128;
  std::vector<int32_t> cuSeqlens{0};
  mask::MaskSpec mask{true, true, 0};
  std::optional<double> scale;

  int64_t tokens() const { return cuSeqlens.back(); }
  int64_t docs() const { return int64_t(cuSeqlens.size()) - 1; }
  double scaleOrDefault() const;
  mask::HostCtx<int32_t> ctx() const { return {cuSeqlens.data(), docs()}; }
  /// Why the spec cannot run, or nullopt.
  std::optional<std::string> validate() const;
};

/// "document,causal,window=256" (or "none").
std::optional<std::string> parseMask(const std::string &s,
                                     mask::MaskSpec &mask);
/// "1,2,3".
std::optional<std::string> parseIntList(const std::string &s,
                                        std::vector<int64_t> &out);
/// cu_seqlens from document lengths (each >= 0).
std::optional<std::string> cuFromLengths(const std::vector<int64_t> &lengths,
                                         std::vector<int32_t> &cu);
/// Document lengths drawn from `dist`: "lognormal:MEDIAN" (sigma 1),
/// "uniform:MAX" (1..MAX), "uniform:MIN-MAX" or "fixed:L" (as
/// bench/packing.py's parse_docs reads them). Either `tokens` > 0 (lengths sum to
/// it; the last document is cut to fit) or `numDocs` > 0 documents.
std::optional<std::string> sampleDocLengths(const std::string &dist,
                                            int64_t tokens, int64_t numDocs,
                                            uint64_t seed,
                                            std::vector<int64_t> &lengths);

/// The documents of a run, as the drivers' flags give them: exactly one of
/// docLengths ("300,0,1"), cuSeqlens ("0,300,300,301") or docs (a
/// sampleDocLengths distribution, with exactly one of tokens and numDocs).
struct DocumentFlags {
  std::string docLengths, cuSeqlens, docs;
  int64_t tokens = 0, numDocs = 0;
  uint64_t seed = 1;
};
/// cu_seqlens from the flags, or why they are wrong (naming the flag).
/// Does not check cu_seqlens itself (AttentionSpec::validate does).
std::optional<std::string> cuFromFlags(const DocumentFlags &flags,
                                       std::vector<int32_t> &cu);

/// Host memory a run of `spec` holds for its inputs and outputs (with the
/// backward, dout and the gradients too), bytes.
double hostBytes(const AttentionSpec &spec, bool backward);

/// Useful FLOPs: sum over documents of 2 * D * Hq * L^2 for a document +
/// causal mask (FlashAttention's convention), otherwise
/// 2 * (D + Dv) * Hq * (allowed query/key pairs).
double usefulFlops(const AttentionSpec &spec);

//===----------------------------------------------------------------------===//
// Element types
//===----------------------------------------------------------------------===//

uint16_t floatToBF16(float f);
float bf16ToFloat(uint16_t h);
uint16_t floatToF16(float f);
float f16ToFloat(uint16_t h);
/// Rounds `f` to the precision of `t`.
float roundTo(DType t, float f);

/// A host buffer of `t` elements.
struct Buffer {
  DType dtype = DType::F32;
  std::vector<uint8_t> bytes;
  Buffer() = default;
  Buffer(DType t, int64_t n) : dtype(t), bytes(size_t(n * byteWidth(t))) {}
  int64_t size() const { return int64_t(bytes.size()) / byteWidth(dtype); }
  void *data() { return bytes.data(); }
  float get(int64_t i) const;
  void set(int64_t i, float v);
  /// Fills with NaN so unwritten elements show.
  void poison();
};

/// Fresh random values in [-1, 1), already representable in the buffer's
/// type.
void fillRandom(Buffer &b, uint64_t seed);

/// Inputs and outputs of one problem: q, k, v filled with fresh random
/// values from `seed`, out and lse allocated (not yet poisoned).
struct ProblemData {
  Buffer q, k, v, out;
  std::vector<float> lse;
  ProblemData(const AttentionSpec &spec, uint64_t seed);
};

//===----------------------------------------------------------------------===//
// Reference
//===----------------------------------------------------------------------===//

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

/// A number as JSON output prints it ("%.6g"; NaN, Infinity).
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

#endif // ATTN_HOST_HOST_H
