//===- EntryNames.h - the names of compiled entry points ------*- C++ -*-===//
//
// What the frontend names the functions it builds and what a loader looks
// up, in one place for both (no MLIR dependency).
//===----------------------------------------------------------------------===//

#ifndef ATTN_SUPPORT_ENTRYNAMES_H
#define ATTN_SUPPORT_ENTRYNAMES_H

namespace attn {

/// The forward function (attn.attention).
inline constexpr const char *kAttentionEntry = "attn";
/// The backward function (attn.attention_grad).
inline constexpr const char *kAttentionGradEntry = "attn_grad";
/// The sequence helpers (attn.doc_positions, attn.segments_from_separators).
inline constexpr const char *kDocPositionsEntry = "doc_positions";
inline constexpr const char *kSegmentsEntry = "segments_from_separators";
/// The gpu.module holding NVIDIA kernels.
inline constexpr const char *kKernelModule = "attn_kernels";
/// The prefix of a CPU function's C interface (llvm.emit_c_interface).
inline constexpr const char *kCInterfacePrefix = "_mlir_ciface_";
/// The tile counters a CPU kernel compiled with count-tiles keeps.
inline constexpr const char *kTileCounts = "attn_tile_counts";
inline constexpr const char *kGradTileCounts = "attn_grad_tile_counts";

} // namespace attn

#endif // ATTN_SUPPORT_ENTRYNAMES_H
