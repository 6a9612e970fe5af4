//===- HeadDims.h - the head dims attn-opt compiles --------------*- C++ -*-===//
//
// One list for the op's verifier, the host's specs and the runtime's
// manifests: the head dims of the models people train (Phi's 80, Gemma's
// 256, ...). A target may support fewer; it refuses the others with its
// own list; and how the NVIDIA backward splits the wide ones. No MLIR
// dependency.
//===----------------------------------------------------------------------===//

#ifndef ATTN_SUPPORT_HEADDIMS_H
#define ATTN_SUPPORT_HEADDIMS_H

#include <array>
#include <cstdint>
#include <string>

namespace attn {

inline constexpr std::array<int64_t, 7> kHeadDims = {32, 64,  80, 96,
                                                     128, 192, 256};

inline bool isSupportedHeadDim(int64_t d) {
  for (int64_t x : kHeadDims)
    if (x == d)
      return true;
  return false;
}

/// "32, 64, 80, 96, 128, 192 and 256".
inline std::string headDimList() {
  std::string s;
  for (size_t i = 0; i < kHeadDims.size(); ++i)
    s += (i == 0 ? "" : i + 1 == kHeadDims.size() ? " and " : ", ") +
         std::to_string(kHeadDims[i]);
  return s;
}

/// The NVIDIA backward kernel's column parts at head dims D and Dv: each
/// work item accumulates one part of dK's and dV's (or dQ's) columns, so
/// that a row's accumulators fit a thread's registers (ptxas -v, 0 spills
/// on sm_90a): 1 up to 128; past it the fewest parts of at most 96 columns
/// (192: 2, 256: 4). 0 when D or Dv does not split into that many parts
/// of whole 16-column steps (e.g. 256 with 96): the kernel does not take
/// the pair.
inline int64_t backwardColumnParts(int64_t d, int64_t dv) {
  int64_t widest = d > dv ? d : dv, parts = 1;
  if (widest > 128)
    for (parts = 2; widest % parts != 0 || widest / parts > 96;)
      ++parts;
  return d % (16 * parts) == 0 && dv % (16 * parts) == 0 ? parts : 0;
}

} // namespace attn

#endif // ATTN_SUPPORT_HEADDIMS_H
