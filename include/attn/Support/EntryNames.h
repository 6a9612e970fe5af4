//===- EntryNames.h - the names of compiled entry points ------*- C++ -*-===//
//
// What the frontend names the functions it builds and what a loader looks
// up, in one place for both (no MLIR dependency).
//===----------------------------------------------------------------------===//

#ifndef ATTN_SUPPORT_ENTRYNAMES_H
#define ATTN_SUPPORT_ENTRYNAMES_H

#include <optional>
#include <string>
#include <string_view>

namespace attn {

/// The forward function (attn.attention).
inline constexpr const char *kAttentionEntry = "attn";
/// The backward function (attn.attention_grad).
inline constexpr const char *kAttentionGradEntry = "attn_grad";
/// The sequence helpers (attn.doc_positions, attn.segments_from_separators,
/// attn.check_cu_seqlens).
inline constexpr const char *kDocPositionsEntry = "doc_positions";
inline constexpr const char *kSegmentsEntry = "segments_from_separators";
inline constexpr const char *kCheckCuSeqlensEntry = "check_cu_seqlens";

/// Which sequence helper a kernel is (None: not one, an attention kernel).
enum class Sequence {
  None,
  DocPositions,
  SegmentsFromSeparators,
  CheckCuSeqlens
};
/// Every sequence helper.
inline constexpr Sequence kSequences[] = {Sequence::DocPositions,
                                          Sequence::SegmentsFromSeparators,
                                          Sequence::CheckCuSeqlens};
/// Its entry's name ("" for None), and back (nullopt for another name).
inline const char *sequenceEntry(Sequence s) {
  return s == Sequence::DocPositions             ? kDocPositionsEntry
         : s == Sequence::SegmentsFromSeparators ? kSegmentsEntry
         : s == Sequence::CheckCuSeqlens         ? kCheckCuSeqlensEntry
                                                 : "";
}
inline std::optional<Sequence> parseSequence(std::string_view name) {
  if (name == kDocPositionsEntry)
    return Sequence::DocPositions;
  if (name == kSegmentsEntry)
    return Sequence::SegmentsFromSeparators;
  if (name == kCheckCuSeqlensEntry)
    return Sequence::CheckCuSeqlens;
  return std::nullopt;
}
/// The tools' `--sequence NAME` (`nameGiven`, `name`) and `--separator`
/// (`separatorGiven`) flags: sets `sequence` to the helper they name (None
/// without --sequence), or says why they do not go together.
inline std::optional<std::string> sequenceFromFlags(bool nameGiven,
                                                    std::string_view name,
                                                    bool separatorGiven,
                                                    Sequence &sequence) {
  sequence = Sequence::None;
  std::optional<Sequence> s;
  if (nameGiven) {
    s = parseSequence(name);
    if (!s)
      return "unknown --sequence '" + std::string(name) +
             "' (expected doc_positions, segments_from_separators or "
             "check_cu_seqlens)";
    if (*s == Sequence::SegmentsFromSeparators && !separatorGiven)
      return std::string("--sequence segments_from_separators needs "
                         "--separator ID (the end-of-document token id)");
  }
  if (separatorGiven && s != Sequence::SegmentsFromSeparators)
    return std::string("--separator applies to --sequence "
                       "segments_from_separators only");
  sequence = s.value_or(Sequence::None);
  return std::nullopt;
}

/// The gpu.module holding NVIDIA kernels.
inline constexpr const char *kKernelModule = "attn_kernels";
/// The prefix of a CPU function's C interface (llvm.emit_c_interface).
inline constexpr const char *kCInterfacePrefix = "_mlir_ciface_";
/// The tile counters a CPU kernel compiled with count-tiles keeps.
inline constexpr const char *kTileCounts = "attn_tile_counts";
inline constexpr const char *kGradTileCounts = "attn_grad_tile_counts";

} // namespace attn

#endif // ATTN_SUPPORT_ENTRYNAMES_H
