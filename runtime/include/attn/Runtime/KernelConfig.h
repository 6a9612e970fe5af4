//===- KernelConfig.h - what one compiled kernel is for -------*- C++ -*-===//
//
// A kernel is compiled once per configuration: element type, heads, head
// dims, mask, scale, target (the host CPU or an NVIDIA chip), direction
// (forward or backward) and, for the backward, how dq is reduced; and for
// NVIDIA the kernel flavour. It serves every packing and every token count.
// A sequence helper's kernel has a target and which helper it is (and its
// separator) instead.
// The configuration has one canonical JSON form (the cache's key and index)
// and one command-line form (attn-opt-aot's flags). No MLIR.
//===----------------------------------------------------------------------===//

#ifndef ATTN_RUNTIME_KERNELCONFIG_H
#define ATTN_RUNTIME_KERNELCONFIG_H

#include "attn/Host/Host.h"
#include "attn/Support/EntryNames.h"

#include <optional>
#include <string>

namespace attn::rt {

enum class Direction { Forward, Backward };

/// A sequence helper's kernel instead of attention (Sequence, EntryNames.h):
/// doc_positions (cu_seqlens -> position ids) or segments_from_separators
/// (token ids -> cu_seqlens padded to T + 1 entries), attn.doc_positions
/// and attn.segments_from_separators {padded} compiled. Such a
/// configuration has only a target and, for the second, the separator.
using ::attn::Sequence;

struct KernelConfig {
  /// Element type, heads, head dims, mask and scale (cuSeqlens unused).
  host::AttentionSpec shape;
  /// "cpu" (this host) or an NVIDIA chip ("sm_80", ..., "sm_90a").
  std::string target = "cpu";
  Direction direction = Direction::Forward;
  /// Backward only: dq from a query-major pass (the same bits on every run)
  /// instead of f32 atomics.
  bool deterministic = false;
  /// NVIDIA only: attn-gpu-tile-attention's options ("" = the chip's
  /// default), e.g. "mma=mma-sync".
  std::string kernelOptions;
  /// Not None: a sequence helper's kernel (the fields above unused).
  Sequence sequence = Sequence::None;
  /// segments_from_separators: the end-of-document token id.
  int64_t separator = 0;

  bool cpu() const { return target == "cpu"; }
  bool isSequence() const { return sequence != Sequence::None; }
  /// Why the configuration cannot be compiled (shapes, a flag the target
  /// does not take), or nullopt. The compiler may still refuse a shape a
  /// target does not support, with its own message.
  std::optional<std::string> validate() const;
  /// The canonical JSON text: every field, keys sorted, no spaces.
  std::string canonical() const;
  /// "bf16, Hq=16 Hkv=4 D=128 Dv=128, mask document,causal, forward, sm_90a"
  std::string describe() const;
  /// attn-opt-aot's flags that compile exactly this configuration.
  std::string aotFlags() const;
};

/// Parses canonical() text back; why it is not one, or nullopt.
std::optional<std::string> parseKernelConfig(const std::string &json,
                                             KernelConfig &config);

} // namespace attn::rt

#endif // ATTN_RUNTIME_KERNELCONFIG_H
