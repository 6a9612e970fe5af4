//===- HeadDims.h - the head dims attn-opt compiles --------------*- C++ -*-===//
//
// One list for the op's verifier, the host's specs and the runtime's
// manifests: the head dims of the models people train (Phi's 80, Gemma's
// 256, ...). A target may support fewer; it refuses the others with its
// own list. No MLIR dependency.
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

} // namespace attn

#endif // ATTN_SUPPORT_HEADDIMS_H
