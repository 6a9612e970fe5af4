//===- IRFuzzer.cpp - attn IR through the parser, verifier and pipelines --===//
//
// libFuzzer target: the input is MLIR text. It is parsed and verified with
// every dialect attn-opt knows; a module that verifies and holds attn ops is
// lowered (a copy each) through the CPU pipeline and the NVIDIA pipeline (to
// the NVVM dialect: no ptxas). Errors are expected; a crash, an assertion,
// an LLVM fatal error or a sanitizer report is a bug. Seed corpus: the
// .mlir tests, split at `// -----` (scripts/fuzz.sh).
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Pipelines/Pipelines.h"
#include "attn/Registration/Registration.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"

#include <cstddef>
#include <cstdint>
#include <string>

using namespace mlir;

namespace {
MLIRContext &context() {
  static MLIRContext *ctx = [] {
    DialectRegistry registry;
    mlir::attn::registerAttnDialects(registry);
    auto *c = new MLIRContext(registry);
    c->loadAllAvailableDialects();
    c->disableMultithreading();
    return c;
  }();
  return *ctx;
}

/// Runs `build`'s pipeline on a copy of `module`; failure is fine.
template <typename Build> void lower(ModuleOp module, Build build) {
  OwningOpRef<ModuleOp> copy = module.clone();
  PassManager pm(module.getContext());
  build(pm);
  (void)pm.run(*copy);
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  // Large inputs only slow the fuzzer down: the interesting IR is small.
  if (size > 16384)
    return 0;
  MLIRContext &ctx = context();
  ScopedDiagnosticHandler quiet(&ctx, [](Diagnostic &) { return success(); });
  std::string text(reinterpret_cast<const char *>(data), size);
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(text, &ctx);
  if (!module)
    return 0;
  bool hasAttn = false;
  module->walk([&](Operation *op) {
    hasAttn |= isa<mlir::attn::AttnDialect>(op->getDialect());
  });
  if (!hasAttn)
    return 0;
  lower(*module, [](OpPassManager &pm) {
    mlir::attn::buildCPUPipeline(pm, mlir::attn::CPUPipelineOptions());
  });
  lower(*module, [](OpPassManager &pm) {
    mlir::attn::GPUPipelineOptions options;
    options.format = "offloading";
    mlir::attn::buildGPUPipeline(pm, options);
  });
  return 0;
}
