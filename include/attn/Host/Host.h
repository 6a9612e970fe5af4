//===- Host.h - host-side problem specs and data ----------------*- C++ -*-===//
//
// What a driver needs around a compiled attention kernel, for every target:
// the problem spec and its parsing, element-type conversion and random
// inputs (the float64 reference is Reference.h). No MLIR dependency.
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

/// "1 token in 1 document", "541 tokens in 5 documents".
inline std::string tokensInDocuments(int64_t tokens, int64_t docs) {
  return std::to_string(tokens) + (tokens == 1 ? " token in " : " tokens in ") +
         std::to_string(docs) + (docs == 1 ? " document" : " documents");
}

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

/// The timing and check flags both drivers take: --repeat (at least 1) and
/// --check-rows (if given: at least 0, and only with a check that reads
/// it, `checked`; `checks` names those flags). Why they are wrong, or
/// nullopt.
std::optional<std::string> checkRunFlags(int64_t repeat,
                                         std::optional<int64_t> checkRows,
                                         bool checked, const char *checks);

/// Host memory a run of `spec` holds for its inputs and outputs (with the
/// backward, dout and the gradients too), bytes.
double hostBytes(const AttentionSpec &spec, bool backward);

/// Why this machine cannot hold a run of `spec` (hostBytes over 75% of its
/// physical memory), or nullopt.
std::optional<std::string> checkHostMemory(const AttentionSpec &spec,
                                           bool backward);

/// The (query, key) pairs the mask allows, from each row's interval.
double allowedPairs(const AttentionSpec &spec);

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

} // namespace attn::host

#endif // ATTN_HOST_HOST_H
