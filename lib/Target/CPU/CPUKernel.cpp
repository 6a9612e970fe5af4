//===- CPUKernel.cpp - JIT-compiled attention for the host CPU ------------===//

#include "attn/Target/CPU/CPUKernel.h"
#include "attn/Frontend/AttentionModule.h"

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

namespace {
/// The memref descriptor of the C interface (see CRunnerUtils.h).
template <int N> struct Descriptor {
  void *allocated;
  void *aligned;
  int64_t offset;
  int64_t sizes[N];
  int64_t strides[N];
};

template <int N>
Descriptor<N> describe(void *data, std::array<int64_t, N> sizes) {
  Descriptor<N> d{data, data, 0, {}, {}};
  int64_t stride = 1;
  for (int i = N - 1; i >= 0; --i) {
    d.sizes[i] = sizes[i];
    d.strides[i] = stride;
    stride *= sizes[i];
  }
  return d;
}
} // namespace

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
  auto entry = kernel->engine->lookup(std::string("_mlir_ciface_") +
                                      kAttentionEntry);
  if (!entry)
    return entry.takeError();
  kernel->entry = reinterpret_cast<void *>(*entry);
  bool withGradient =
      module.lookupSymbol(std::string("_mlir_ciface_") + kAttentionGradEntry);
  if (withGradient) {
    auto grad = kernel->engine->lookup(std::string("_mlir_ciface_") +
                                       kAttentionGradEntry);
    if (!grad)
      return grad.takeError();
    kernel->gradEntry = reinterpret_cast<void *>(*grad);
  }
  if (options.countTiles) {
    auto counts = kernel->engine->lookup("attn_tile_counts");
    if (!counts)
      return counts.takeError();
    kernel->counts = reinterpret_cast<int64_t *>(*counts);
    if (withGradient) {
      auto grad = kernel->engine->lookup("attn_grad_tile_counts");
      if (!grad)
        return grad.takeError();
      kernel->gradCounts = reinterpret_cast<int64_t *>(*grad);
    }
  }
  return kernel;
}

void CPUKernel::run(const AttentionSpec &spec, Buffer &q, Buffer &k,
                    Buffer &v, std::vector<int32_t> &cu, Buffer &out,
                    std::vector<float> &lse) {
  int64_t t = spec.tokens();
  auto dq = describe<3>(q.data(), {t, spec.heads, spec.headDim});
  auto dk = describe<3>(k.data(), {t, spec.kvHeads, spec.headDim});
  auto dv = describe<3>(v.data(), {t, spec.kvHeads, spec.valueDim});
  auto dcu = describe<1>(cu.data(), {int64_t(cu.size())});
  auto dout = describe<3>(out.data(), {t, spec.heads, spec.valueDim});
  auto dlse = describe<2>(lse.data(), {spec.heads, t});
  // The C interface takes one pointer to a descriptor per memref.
  using Fn = void (*)(void *, void *, void *, void *, void *, void *);
  reinterpret_cast<Fn>(entry)(&dq, &dk, &dv, &dcu, &dout, &dlse);
}

void CPUKernel::runGradient(const AttentionSpec &spec, Buffer &q, Buffer &k,
                            Buffer &v, std::vector<int32_t> &cu, Buffer &out,
                            std::vector<float> &lse, Buffer &dout, Buffer &dq,
                            Buffer &dk, Buffer &dv) {
  assert(gradEntry && "compiled without the gradient function");
  int64_t t = spec.tokens();
  auto dQ = describe<3>(q.data(), {t, spec.heads, spec.headDim});
  auto dK = describe<3>(k.data(), {t, spec.kvHeads, spec.headDim});
  auto dV = describe<3>(v.data(), {t, spec.kvHeads, spec.valueDim});
  auto dCu = describe<1>(cu.data(), {int64_t(cu.size())});
  auto dOut = describe<3>(out.data(), {t, spec.heads, spec.valueDim});
  auto dLse = describe<2>(lse.data(), {spec.heads, t});
  auto dDout = describe<3>(dout.data(), {t, spec.heads, spec.valueDim});
  auto dDq = describe<3>(dq.data(), {t, spec.heads, spec.headDim});
  auto dDk = describe<3>(dk.data(), {t, spec.kvHeads, spec.headDim});
  auto dDv = describe<3>(dv.data(), {t, spec.kvHeads, spec.valueDim});
  using Fn = void (*)(void *, void *, void *, void *, void *, void *, void *,
                      void *, void *, void *);
  reinterpret_cast<Fn>(gradEntry)(&dQ, &dK, &dV, &dCu, &dOut, &dLse, &dDout,
                                  &dDq, &dDk, &dDv);
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
