//===- CPUKernel.h - JIT-compiled attention for the host CPU ---*- C++ -*-===//

#ifndef ATTN_TARGET_CPU_CPUKERNEL_H
#define ATTN_TARGET_CPU_CPUKERNEL_H

#include "attn/Host/Host.h"
#include "attn/Pipelines/Pipelines.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/Error.h"

#include <array>
#include <memory>

namespace mlir {
class ExecutionEngine;
} // namespace mlir

namespace mlir::attn {

/// A module from buildAttentionModule, lowered with the CPU pipeline and
/// JIT-compiled for this host.
class CPUKernel {
public:
  /// Lowers `module` (from buildAttentionModule) in place and compiles it.
  static llvm::Expected<std::unique_ptr<CPUKernel>>
  compile(ModuleOp module, const CPUPipelineOptions &options);
  ~CPUKernel();

  /// Runs on host buffers shaped for `spec` (any token count T with
  /// matching cu_seqlens). The caller validates cu_seqlens first.
  void run(const ::attn::host::AttentionSpec &spec,
           ::attn::host::Buffer &q, ::attn::host::Buffer &k,
           ::attn::host::Buffer &v, std::vector<int32_t> &cu,
           ::attn::host::Buffer &out, std::vector<float> &lse);

  /// Whether the module had the gradient function (buildAttentionModule's
  /// withGradient).
  bool hasGradient() const { return gradEntry != nullptr; }
  /// The backward pass (hasGradient()): dq, dk, dv from the inputs, the
  /// forward's out and lse, and dout, on host buffers shaped for `spec`.
  void runGradient(const ::attn::host::AttentionSpec &spec,
                   ::attn::host::Buffer &q, ::attn::host::Buffer &k,
                   ::attn::host::Buffer &v, std::vector<int32_t> &cu,
                   ::attn::host::Buffer &out, std::vector<float> &lse,
                   ::attn::host::Buffer &dout, ::attn::host::Buffer &dq,
                   ::attn::host::Buffer &dk, ::attn::host::Buffer &dv);

  /// Visited, partial and full tiles (head 0) counted by the generated code
  /// since the last reset; all zero unless compiled with count-tiles.
  std::array<int64_t, 3> tileCounts() const;
  /// The same for the backward (the key tiles' query tiles, kv head 0).
  std::array<int64_t, 3> gradTileCounts() const;
  void resetTileCounts();

private:
  CPUKernel() = default;
  std::unique_ptr<ExecutionEngine> engine;
  void *entry = nullptr, *gradEntry = nullptr;
  int64_t *counts = nullptr, *gradCounts = nullptr;
};

} // namespace mlir::attn

#endif // ATTN_TARGET_CPU_CPUKERNEL_H
