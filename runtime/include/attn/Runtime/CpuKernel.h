//===- CpuKernel.h - calling compiled CPU kernels --------------*- C++ -*-===//
//
// A CPU kernel is a function with MLIR's C interface (llvm.emit_c_interface:
// one pointer to a memref descriptor per argument) over
//   forward:  (q [T,Hq,D], k [T,Hkv,D], v [T,Hkv,Dv], cu_seqlens [N+1] i32,
//              out [T,Hq,Dv], lse [Hq,T] f32)
//   backward: (q, k, v, cu_seqlens, out, lse, dout [T,Hq,Dv],
//              dq [T,Hq,D], dk [T,Hkv,D], dv [T,Hkv,Dv])
//   doc_positions: (cu_seqlens [N+1] i32, positions [T] i32)
//   segments_from_separators: (tokens [T] i64, cu_seqlens [T+1] i32)
// all contiguous, in the kernel's element type but for cu_seqlens and lse.
// The calls below are the one place that builds those descriptors, for the
// in-process JIT (mlir::attn::CPUKernel) and for kernels loaded from a
// shared object (CpuKernel). No MLIR.
//===----------------------------------------------------------------------===//

#ifndef ATTN_RUNTIME_CPUKERNEL_H
#define ATTN_RUNTIME_CPUKERNEL_H

#include "attn/Runtime/Files.h"
#include "attn/Runtime/KernelConfig.h"

#include <array>
#include <cstdint>
#include <string>

namespace attn::rt {

/// The tensors of one call; the backward's only for the backward.
struct CpuTensors {
  int64_t tokens = 0;
  const int32_t *cu = nullptr;
  int64_t cuEntries = 0;
  const void *q = nullptr, *k = nullptr, *v = nullptr;
  /// The forward writes out and lse; the backward reads them.
  void *out = nullptr;
  float *lse = nullptr;
  const void *dout = nullptr;
  void *dq = nullptr, *dk = nullptr, *dv = nullptr;
};

/// Calls a forward entry for `shape`'s heads and dims. cu_seqlens must be
/// valid (the caller checks them).
void callCpuForward(void *entry, const host::AttentionSpec &shape,
                    const CpuTensors &t);
/// Calls a backward entry.
void callCpuBackward(void *entry, const host::AttentionSpec &shape,
                     const CpuTensors &t);

/// The checks of a sequence helper's call: the vectors' sizes, and with a
/// host copy of doc_positions' input (`in` not null) its cu_seqlens;
/// throws InvalidInput. Returns the token count T.
int64_t checkSequenceSizes(Sequence sequence, const void *in,
                           int64_t inEntries, int64_t outEntries);
/// The checks of a check_cu_seqlens call's sizes (at least one entry, T in
/// [0, 2^31)); throws InvalidInput.
void checkCuSeqlensSizes(int64_t entries, int64_t tokens);

/// A kernel compiled for this CPU into a shared object (the kernel cache's
/// .so), opened with dlopen; its function is the configuration's direction.
class CpuKernel {
public:
  /// Throws Error if the object cannot be opened or lacks the entry.
  CpuKernel(const std::string &path, KernelConfig config);
  ~CpuKernel();
  CpuKernel(const CpuKernel &) = delete;
  CpuKernel &operator=(const CpuKernel &) = delete;
  const KernelConfig &config() const { return kernelConfig; }

  /// Checks cu_seqlens (starts at 0, never decreases, ends at t.tokens;
  /// throws Error naming the problem, computing nothing), then runs the
  /// configuration's direction.
  void run(const CpuTensors &t) const;
  /// A sequence helper's kernel (config().isSequence()): doc_positions
  /// reads cu_seqlens (`in`, int32, `inEntries`) and writes the positions
  /// (`out`, int32, `outEntries` = T), after checking cu_seqlens;
  /// segments_from_separators reads T token ids (`in`, int64) and writes
  /// T + 1 = `outEntries` cu_seqlens (int32). Throws InvalidInput for bad
  /// sizes or cu_seqlens, computing nothing.
  void runSequence(const void *in, int64_t inEntries, void *out,
                   int64_t outEntries) const;
  /// check_cu_seqlens' kernel: sets errors[0] to 1 if the `entries`
  /// cu_seqlens `cu` are not a packing of `tokens` tokens, else leaves it.
  void runCheckCuSeqlens(const int32_t *cu, int64_t entries, int64_t tokens,
                         int32_t *errors) const;

private:
  KernelConfig kernelConfig;
  void *handle = nullptr, *entry = nullptr;
};

} // namespace attn::rt

#endif // ATTN_RUNTIME_CPUKERNEL_H
