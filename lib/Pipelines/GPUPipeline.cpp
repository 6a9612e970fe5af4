//===- GPUPipeline.cpp - attn -> NVIDIA kernels (PTX / cubin) -------------===//

#include "attn/Conversion/AttnToNVGPU/AttnToNVGPU.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"
#include "attn/Pipelines/Pipelines.h"

#include "mlir/Conversion/AffineToStandard/AffineToStandard.h"
#include "mlir/Conversion/GPUToNVVM/GPUToNVVMPass.h"
#include "mlir/Conversion/NVGPUToNVVM/NVGPUToNVVM.h"
#include "mlir/Conversion/NVVMToLLVM/NVVMToLLVM.h"
#include "mlir/Conversion/ReconcileUnrealizedCasts/ReconcileUnrealizedCasts.h"
#include "mlir/Conversion/SCFToControlFlow/SCFToControlFlow.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

/// attn-gpu-tile-attention's options: `kernel` and the dq reduction.
static std::string
tileAttentionOptions(const mlir::attn::GPUPipelineOptions &options) {
  std::string text = options.kernel;
  if (options.deterministic)
    text += " deterministic=true";
  return text;
}

std::optional<std::string>
mlir::attn::checkGPUPipelineOptions(const GPUPipelineOptions &options) {
  if (!maxSharedBytesPerBlock(options.chip))
    return "unsupported chip '" + options.chip + "' (the NVIDIA kernels " +
           "support " + kSupportedChips.str() + ")";
  StringRef format = options.format;
  if (format != "isa" && format != "bin" && format != "fatbin" &&
      format != "offloading")
    return "unknown format '" + options.format +
           "' (expected isa, bin, fatbin or offloading)";
  std::string error;
  if (!parseAttnGPUTileAttention(tileAttentionOptions(options), error))
    return "kernel: " + error;
  return std::nullopt;
}

void mlir::attn::buildGPUPipeline(OpPassManager &pm,
                                  const GPUPipelineOptions &options) {
  // The target first: the kernel configuration depends on the chip.
  GpuNVVMAttachTargetOptions target;
  target.chip = options.chip;
  target.features = options.features;
  target.optLevel = 3;
  pm.addPass(createGpuNVVMAttachTarget(target));

  // Target-specific: the kernel body on tensor cores.
  std::string error;
  std::unique_ptr<Pass> kernel =
      parseAttnGPUTileAttention(tileAttentionOptions(options), error);
  if (!kernel) // (checkGPUPipelineOptions says so before building)
    llvm::report_fatal_error(llvm::Twine("attn-nvidia-pipeline: ") + error);
  pm.addPass(std::move(kernel));
  pm.addPass(createAttnGPUSequenceOps());
  // Shared with every target: the mask algebra in arith/scf.
  pm.addPass(createAttnLowerTileOps());
  // Bottom-up over the kernels' unrolled bodies: the same PTX as the
  // pass's default top-down traversal (for the kernels compared), in a
  // fifth to a seventeenth of the time (docs/Design.md, "Compile time").
  // The other settings are the pass's defaults (a bare config's region
  // simplification would be aggressive).
  GreedyRewriteConfig bottomUp;
  bottomUp.setUseTopDownTraversal(false).setRegionSimplificationLevel(
      GreedySimplifyRegionLevel::Normal);
  pm.addPass(createCanonicalizerPass(bottomUp));
  pm.addPass(createCSEPass());

  OpPassManager &kernels = pm.nest<gpu::GPUModuleOp>();
  kernels.addPass(createSCFToControlFlowPass());
  kernels.addPass(createConvertNVGPUToNVVMPass());
  kernels.addPass(memref::createExpandStridedMetadataPass());
  kernels.addPass(createLowerAffinePass());
  kernels.addPass(createConvertGpuOpsToNVVMOps());
  // TMA kernels: tensor maps as by-value grid constants.
  kernels.addNestedPass<LLVM::LLVMFuncOp>(createAttnNVVMTensorMapArgs());
  // nvvm.inline_ptx (ex2/lg2.approx) -> llvm.inline_asm.
  kernels.addPass(createConvertNVVMToLLVMPass());
  kernels.addPass(createCanonicalizerPass());
  kernels.addPass(createCSEPass());
  pm.addPass(createReconcileUnrealizedCastsPass());

  if (options.format == "offloading")
    return;
  pm.addPass(createAttnRequireCUDAToolkit());
  GpuModuleToBinaryPassOptions binary;
  binary.toolkitPath = cudaToolkitPath();
  binary.compilationTarget = options.format;
  pm.addPass(createGpuModuleToBinaryPass(binary));
}
