//===- Compiler.cpp - kernels compiled on demand --------------------------===//

#include "attn/JIT/Compiler.h"
#include "attn/Frontend/AttentionModule.h"
#include "attn/JIT/Version.inc"
#include "attn/Pipelines/Pipelines.h"
#include "attn/Registration/Registration.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/TargetParser/Host.h"

using namespace attn;
using rt::KernelConfig;

const char *jit::compilerVersion() { return ATTN_OPT_VERSION; }

namespace {

/// The compiler's refusal of `config`, and why.
bool refuse(const KernelConfig &config, const std::string &why,
            std::string &error) {
  error = "cannot compile a kernel for " + config.describe() + ": " + why;
  return false;
}

/// The pipeline of a configuration: its options as the text the pipeline
/// parses (part of the key), and, given `pm`, the pipeline built into it;
/// nullopt, or why the options are refused.
std::optional<std::string> pipeline(const KernelConfig &config,
                                    std::string &text,
                                    mlir::OpPassManager *pm = nullptr) {
  llvm::raw_string_ostream os(text);
  if (config.cpu()) {
    mlir::attn::CPUPipelineOptions options;
    options.deterministic = config.deterministic;
    options.print(os);
    // The shared object is code for this host's CPU.
    os << " host-cpu=" << llvm::sys::getHostCPUName();
    for (const auto &feature : llvm::sys::getHostCPUFeatures())
      if (feature.second)
        os << " +" << feature.first();
    if (pm)
      mlir::attn::buildCPUPipeline(*pm, options);
    return std::nullopt;
  }
  mlir::attn::GPUPipelineOptions options;
  options.chip = config.target;
  options.kernel = config.kernelOptions;
  options.deterministic = config.deterministic;
  options.format = "bin";
  options.print(os);
  if (auto why = mlir::attn::checkGPUPipelineOptions(options))
    return why;
  if (pm)
    mlir::attn::buildGPUPipeline(*pm, options);
  return std::nullopt;
}

class MlirCompiler : public rt::Compiler {
public:
  MlirCompiler() { mlir::attn::registerAttnDialects(registry); }

  std::string version() const override { return jit::compilerVersion(); }

  bool key(const KernelConfig &config, std::string &key,
           std::string &error) override {
    std::string text, options;
    if (auto why = pipeline(config, options))
      return refuse(config, *why, error);
    {
      auto module = build(keyContext(), config);
      llvm::raw_string_ostream os(text);
      module->print(os, mlir::OpPrintingFlags().printGenericOpForm());
    }
    key = rt::hash128(std::string(version()) + '\0' + text + '\0' + options +
                      '\0' + config.target);
    return true;
  }

  bool compile(const KernelConfig &config, rt::CompiledBinary &compiled,
               std::string &error) override {
    mlir::MLIRContext context(registry, mlir::MLIRContext::Threading::DISABLED);
    auto module = build(context, config);
    std::string diagnostics;
    mlir::ScopedDiagnosticHandler handler(&context, [&](mlir::Diagnostic &d) {
      diagnostics += (diagnostics.empty() ? "" : "; ") + d.str();
      return mlir::success();
    });
    mlir::PassManager pm(&context);
    std::string options;
    if (auto why = pipeline(config, options, &pm))
      return refuse(config, *why, error);
    if (mlir::failed(pm.run(*module)))
      return refuse(config,
                    diagnostics.empty() ? std::string("lowering failed")
                                        : diagnostics,
                    error);
    llvm::Expected<std::string> binary =
        config.cpu() ? jit::emitSharedObject(*module)
                     : mlir::attn::getKernelBinary(*module);
    if (!binary)
      return refuse(config, llvm::toString(binary.takeError()), error);
    compiled.binary = std::move(*binary);
    if (!config.cpu()) {
      auto launch = jit::launchManifest(*module, "cubin");
      if (!launch)
        return refuse(config, llvm::toString(launch.takeError()), error);
      compiled.launch = std::move(*launch);
    }
    return true;
  }

private:
  mlir::DialectRegistry registry;

  /// The context in which keys print the attn module: one per thread (no
  /// lock, which a forked child could inherit held), without the
  /// pipeline's dialect extensions (the generic form does not depend on
  /// them), so a disk-cache hit costs no context of its own
  /// (docs/Design.md, "The JIT library and the PyTorch op").
  static mlir::MLIRContext &keyContext() {
    thread_local mlir::MLIRContext context(
        mlir::MLIRContext::Threading::DISABLED);
    return context;
  }

  /// The attn module of `config`.
  static mlir::OwningOpRef<mlir::ModuleOp>
  build(mlir::MLIRContext &context, const KernelConfig &config) {
    using mlir::attn::Functions;
    auto target =
        config.cpu() ? mlir::attn::Target::CPU : mlir::attn::Target::NVIDIA;
    if (config.isSequence())
      return mlir::attn::buildSequenceModule(context, config.sequence,
                                             config.separator, target);
    return mlir::attn::buildAttentionModule(
        context, config.shape, target,
        config.direction == rt::Direction::Forward ? Functions::Forward
                                                   : Functions::Backward);
  }
};

} // namespace

std::shared_ptr<rt::Compiler> jit::makeCompiler() {
  return std::make_shared<MlirCompiler>();
}
