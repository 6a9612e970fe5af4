//===- Run.h - run and check a compiled attention kernel ------*- C++ -*-===//
//
// The GPU half of `attn-run --target cuda` and of `attn-cuda-run`: fresh
// random inputs, outputs poisoned (NaN) before the checked run, a check
// against the float64 reference over the dense mask (lib/Host; bf16/f16
// within 2x of a naive computation in that type, no element unwritten),
// CUDA-event timing (median after warm-up), one JSON object. No MLIR.
// Also the files through which another executor (the PTX emulator) runs a
// kernel on the same inputs and is checked the same way.
//===----------------------------------------------------------------------===//

#ifndef ATTN_RUNTIME_RUN_H
#define ATTN_RUNTIME_RUN_H

#include "attn/Host/Reference.h"
#include "attn/Runtime/Attention.h"

#include <optional>
#include <ostream>

namespace attn::rt {

struct RunOptions {
  uint64_t seed = 1;
  bool check = false;
  /// Rows to check (see host::rowsToCheck): -1 all up to 4096 tokens,
  /// else 256; 0 all.
  int64_t checkRows = -1;
  int repeat = 20;
  /// Persistent grids: at most this many blocks (0: as many as the device
  /// runs at once), so a small problem still gives each block several
  /// work items.
  int64_t residentBlocks = 0;
};

/// The problem a kernel manifest describes, without its documents.
host::AttentionSpec specFromManifest(const KernelInfo &info);

/// Runs `image` (described by `info`) on device 0 for `spec` and writes one
/// JSON object and a newline to `os`. Returns false if the check failed;
/// throws Error for CUDA errors and invalid input (nothing launched).
bool runAttention(const std::string &image, const KernelInfo &info,
                  const host::AttentionSpec &spec, const RunOptions &opts,
                  std::ostream &os);

/// The image's backward kernel (info.backward) on device 0: the forward
/// (info) on fresh random inputs, then the backward on its out and lse
/// and a fresh random dout (dq, dk and dv poisoned), timed like
/// runAttention ("bwd_time_ms", "bwd_useful_tflops": FlashAttention's
/// 2.5 x the forward's FLOPs); with opts.check, dq, dk and dv against the
/// float64 reference gradients (host::checkGradients; refused past 3e10
/// multiply-adds) and a rerun that must give the same bits (dq only for
/// query-item dq: atomic adds may sum it in another order). One JSON
/// object; false if the check failed.
bool runAttentionBackward(const std::string &image, const KernelInfo &info,
                          const host::AttentionSpec &spec,
                          const RunOptions &opts, std::ostream &os);

/// Another executor of the same kernel (the PTX emulator, utils/ptxemu):
/// saveInputs writes the inputs runAttention would make for `spec` and
/// `seed` to `dir` (q.bin, k.bin, v.bin in the kernel's dtype, [T, H, D]
/// row-major; cu_seqlens.bin, int32); that executor writes out.bin
/// ([T, Hq, Dv]) and lse.bin ([Hq, T], f32) beside them, from outputs it
/// poisoned; checkSavedOutputs checks those as runAttention's check does
/// and writes one JSON object. Neither needs a GPU; both throw Error for
/// invalid input, unreadable or wrongly sized files.
void saveInputs(const host::AttentionSpec &spec, uint64_t seed,
                const std::string &dir);
bool checkSavedOutputs(const KernelInfo &info, const host::AttentionSpec &spec,
                       const RunOptions &opts, const std::string &dir,
                       std::ostream &os);

/// The same for a backward kernel: saveGradInputs also writes the
/// forward's out.bin and lse.bin (the float64 reference, out rounded to the
/// kernel's type) and dout.bin (fresh random values from `seed`, as
/// host::GradientData draws them); the executor writes dq.bin, dk.bin and
/// dv.bin, which checkSavedGradients compares with the float64 reference
/// gradients (host::checkGradients).
void saveGradInputs(const host::AttentionSpec &spec, uint64_t seed,
                    const std::string &dir);
bool checkSavedGradients(const KernelInfo &info,
                         const host::AttentionSpec &spec,
                         const RunOptions &opts, const std::string &dir,
                         std::ostream &os);

/// runAttention for callers built without exceptions (like LLVM tools):
/// the error message instead of a throw; `ok` as runAttention's result.
std::optional<std::string> runAttentionNoThrow(const std::string &image,
                                               const KernelInfo &info,
                                               const host::AttentionSpec &spec,
                                               const RunOptions &opts,
                                               std::ostream &os, bool &ok);

} // namespace attn::rt

#endif // ATTN_RUNTIME_RUN_H
