//===- CPUKernel.cpp - JIT-compiled attention for the host CPU ------------===//

#include "attn/Target/CPU/CPUKernel.h"
#include "attn/Frontend/AttentionModule.h"
#include "attn/Runtime/CpuKernel.h"

#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/TargetSelect.h"

#include <cassert>
#include <cstring>

using namespace mlir;
using namespace mlir::attn;
using ::attn::host::AttentionSpec;
using ::attn::host::Buffer;

CPUKernel::~CPUKernel() = default;

llvm::Expected<std::unique_ptr<CPUKernel>>
CPUKernel::compile(ModuleOp module, const CPUPipelineOptions &options) {
  PassManager pm(module->getContext());
  buildCPUPipeline(pm, options);
  if (failed(pm.run(module)))
    return llvm::createStringError("lowering the attention module failed");

  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  auto transformer = makeOptimizingTransformer(
      /*optLevel=*/3, /*sizeLevel=*/0, /*targetMachine=*/nullptr);
  ExecutionEngineOptions engineOptions;
  engineOptions.transformer = transformer;
  engineOptions.jitCodeGenOptLevel = llvm::CodeGenOptLevel::Aggressive;
  auto engine = ExecutionEngine::create(module, engineOptions);
  if (!engine)
    return engine.takeError();

  std::unique_ptr<CPUKernel> kernel(new CPUKernel());
  kernel->engine = std::move(*engine);
  // The C interface of each function the module has.
  for (auto [name, slot] : {std::pair{kAttentionEntry, &kernel->entry},
                            {kAttentionGradEntry, &kernel->gradEntry}}) {
    std::string symbol = std::string(::attn::kCInterfacePrefix) + name;
    if (!module.lookupSymbol(symbol))
      continue;
    auto address = kernel->engine->lookup(symbol);
    if (!address)
      return address.takeError();
    *slot = reinterpret_cast<void *>(*address);
  }
  if (options.countTiles) {
    if (kernel->entry) {
      auto counts = kernel->engine->lookup(::attn::kTileCounts);
      if (!counts)
        return counts.takeError();
      kernel->counts = reinterpret_cast<int64_t *>(*counts);
    }
    if (kernel->gradEntry) {
      auto grad = kernel->engine->lookup(::attn::kGradTileCounts);
      if (!grad)
        return grad.takeError();
      kernel->gradCounts = reinterpret_cast<int64_t *>(*grad);
    }
  }
  return kernel;
}

/// The forward's tensors of a run on host buffers.
static ::attn::rt::CpuTensors tensorsOf(const AttentionSpec &spec, Buffer &q,
                                        Buffer &k, Buffer &v,
                                        std::vector<int32_t> &cu, Buffer &out,
                                        std::vector<float> &lse) {
  ::attn::rt::CpuTensors t;
  t.tokens = spec.tokens();
  t.cu = cu.data();
  t.cuEntries = int64_t(cu.size());
  t.q = q.data(), t.k = k.data(), t.v = v.data();
  t.out = out.data();
  t.lse = lse.data();
  return t;
}

void CPUKernel::run(const AttentionSpec &spec, Buffer &q, Buffer &k,
                    Buffer &v, std::vector<int32_t> &cu, Buffer &out,
                    std::vector<float> &lse) {
  assert(entry && "compiled without the forward function");
  ::attn::rt::callCpuForward(entry, spec, tensorsOf(spec, q, k, v, cu, out, lse));
}

void CPUKernel::runGradient(const AttentionSpec &spec, Buffer &q, Buffer &k,
                            Buffer &v, std::vector<int32_t> &cu, Buffer &out,
                            std::vector<float> &lse, Buffer &dout, Buffer &dq,
                            Buffer &dk, Buffer &dv) {
  assert(gradEntry && "compiled without the gradient function");
  ::attn::rt::CpuTensors t = tensorsOf(spec, q, k, v, cu, out, lse);
  t.dout = dout.data();
  t.dq = dq.data(), t.dk = dk.data(), t.dv = dv.data();
  ::attn::rt::callCpuBackward(gradEntry, spec, t);
}

/// The three counts at `counts`, or zeros.
static std::array<int64_t, 3> readCounts(const int64_t *counts) {
  if (!counts)
    return {0, 0, 0};
  return {counts[0], counts[1], counts[2]};
}

std::array<int64_t, 3> CPUKernel::tileCounts() const {
  return readCounts(counts);
}

std::array<int64_t, 3> CPUKernel::gradTileCounts() const {
  return readCounts(gradCounts);
}

void CPUKernel::resetTileCounts() {
  for (int64_t *c : {counts, gradCounts})
    if (c)
      std::memset(c, 0, 3 * sizeof(int64_t));
}
