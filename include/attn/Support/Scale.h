//===- Scale.h - the softmax scales the kernels take ------------*- C++ -*-===//
//
// One rule for the op's verifier, the host's specs, the runtime's manifests
// and the PyTorch op: every kernel multiplies its scores by the f32
// scale·log2(e), which must be a positive, finite, normal f32 (a scale of
// 1e39, finite as a double, is infinite there). No MLIR dependency.
//===----------------------------------------------------------------------===//

#ifndef ATTN_SUPPORT_SCALE_H
#define ATTN_SUPPORT_SCALE_H

#include <cstdio>
#include <string>

namespace attn {

/// The smallest and largest scale: FLT_MIN, and FLT_MAX / log2(e).
inline constexpr double kMinScale = 1.17549435082228750797e-38;
inline constexpr double kMaxScale = 3.40282346638528859812e38 / 1.4426950408889634;

/// Whether the kernels take `scale` (false for NaN).
inline bool isSupportedScale(double scale) {
  return scale >= kMinScale && scale <= kMaxScale;
}

/// "the scale must be positive and finite (... to ...)": why one is not.
inline std::string scaleRule() {
  char text[128];
  std::snprintf(text, sizeof(text),
                "the scale must be positive and finite (%.6g to %.6g, as "
                "the kernels' f32)",
                kMinScale, kMaxScale);
  return text;
}

/// scaleRule() and the scale refused ("%.6g").
inline std::string scaleRule(double refused) {
  char value[32];
  std::snprintf(value, sizeof(value), "%.6g", refused);
  return scaleRule() + ", got " + value;
}

} // namespace attn

#endif // ATTN_SUPPORT_SCALE_H
