//===- SequenceKernel.h - the sequence helpers' kernels -------*- C++ -*-===//
//
// The kernels of attn.doc_positions, attn.segments_from_separators
// {padded} and attn.check_cu_seqlens (attn-run --sequence KIND --target
// cuda --emit cubin, or the JIT): an image and its manifest (kernel,
// sequence, arch, grid, threads, shared_bytes). Their parameters follow
// MLIR's memref convention for vectors:
//   doc_positions:            (cu_seqlens [N+1] i32, positions [T] i32)
//   segments_from_separators: (tokens [T] i64, cu_seqlens [T+1] i32)
//   check_cu_seqlens:         (cu_seqlens [N+1] i32, T i64, errors [1] i32)
// with blocks of `threads`: ceil(T / threads) of them for the grid "tokens",
// ceil((N + 1) / threads) for "entries", one for "one". No MLIR dependency.
//===----------------------------------------------------------------------===//

#ifndef ATTN_RUNTIME_SEQUENCEKERNEL_H
#define ATTN_RUNTIME_SEQUENCEKERNEL_H

#include "attn/Runtime/Cuda.h"
#include "attn/Runtime/KernelConfig.h"

#include <memory>

namespace attn::rt {

struct SequenceInfo {
  std::string kernel, arch;
  Sequence sequence = Sequence::None;
  /// "tokens" (one thread per token), "entries" (one per entry of the
  /// input) or "one" (one block).
  std::string grid;
  int64_t threads = 0, sharedBytes = 0;
};

/// Parses a sequence kernel's manifest; throws Error naming a missing or
/// bad field.
SequenceInfo parseSequenceManifest(const std::string &json);

/// The blocks of a launch over `tokens` tokens and `entries` input
/// entries (0: nothing to launch).
Dim3 sequenceGrid(const SequenceInfo &info, int64_t tokens, int64_t entries);

class SequenceKernel {
public:
  SequenceKernel(const std::string &image, SequenceInfo info);
  const SequenceInfo &info() const { return kernelInfo; }

  /// Launches on `stream` over device vectors `in` (`inEntries`) and `out`
  /// (`outEntries`): doc_positions reads cu_seqlens and writes the T =
  /// `outEntries` positions; segments_from_separators reads T =
  /// `inEntries` token ids and writes T + 1 cu_seqlens. Throws
  /// InvalidInput, launching nothing, for sizes that do not fit (the
  /// values of cu_seqlens are the caller's to check: invalid ones give
  /// undefined positions, never an access outside the vectors).
  void launch(const void *in, int64_t inEntries, void *out, int64_t outEntries,
              Stream stream = nullptr) const;
  /// check_cu_seqlens on `stream`: sets device `errors[0]` to 1 if the
  /// `entries` device cu_seqlens `cu` are not a packing of `tokens` tokens
  /// (else leaves it), with no synchronization. Throws InvalidInput,
  /// launching nothing, for sizes that do not fit.
  void checkCuSeqlens(const int32_t *cu, int64_t entries, int64_t tokens,
                      int32_t *errors, Stream stream = nullptr) const;

private:
  SequenceInfo kernelInfo;
  std::unique_ptr<Module> module;
  Function function = nullptr;
};

} // namespace attn::rt

#endif // ATTN_RUNTIME_SEQUENCEKERNEL_H
