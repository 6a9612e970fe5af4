//===- CpuRun.h - attn-run's CPU target: run, check, compare, time -*- C++ -*-===//

#ifndef ATTN_TOOLS_ATTN_RUN_CPURUN_H
#define ATTN_TOOLS_ATTN_RUN_CPURUN_H

#include "attn/Host/Host.h"
#include "mlir/IR/MLIRContext.h"

namespace attn::run {

/// attn-run's flags that the CPU run reads.
struct CpuRunOptions {
  int64_t blockQ = 64, blockK = 64;
  bool check = false;
  int64_t checkRows = -1;
  bool compareSeparate = false;
  bool json = false;
  int repeat = 3;
  uint64_t seed = 1;
  /// Also the backward pass (attn.attention_grad) on a fresh random dout.
  bool backward = false;
  /// The backward's dq from a query-major pass instead of atomics.
  bool deterministic = false;
};

/// Prints "attn-run: error: MSG" and exits with status 1.
[[noreturn]] void fail(const std::string &msg);

/// Compiles `spec` for the CPU (with its backward when asked), runs it on
/// fresh random inputs with poisoned outputs, checks it against the float64
/// reference (and its tile counts against a brute-force count), compares
/// the packed run with every document run alone, times it, and prints the
/// report (text or one JSON object). Returns the exit status: 0, or 1 when
/// a check or comparison failed; exits with an error for what cannot run.
int runCpu(mlir::MLIRContext &context, const host::AttentionSpec &spec,
           const CpuRunOptions &options);

} // namespace attn::run

#endif // ATTN_TOOLS_ATTN_RUN_CPURUN_H
