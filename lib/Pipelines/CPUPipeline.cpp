//===- CPUPipeline.cpp - attn -> LLVM for the host ------------------------===//

#include "attn/Dialect/Attn/Transforms/Passes.h"
#include "attn/Dialect/Attn/Transforms/Transforms.h"
#include "attn/Pipelines/Pipelines.h"

#include "mlir/Conversion/AffineToStandard/AffineToStandard.h"
#include "mlir/Conversion/ArithToLLVM/ArithToLLVM.h"
#include "mlir/Conversion/ControlFlowToLLVM/ControlFlowToLLVM.h"
#include "mlir/Conversion/FuncToLLVM/ConvertFuncToLLVMPass.h"
#include "mlir/Conversion/IndexToLLVM/IndexToLLVM.h"
#include "mlir/Conversion/MathToLLVM/MathToLLVM.h"
#include "mlir/Conversion/MemRefToLLVM/MemRefToLLVM.h"
#include "mlir/Conversion/ReconcileUnrealizedCasts/ReconcileUnrealizedCasts.h"
#include "mlir/Conversion/SCFToControlFlow/SCFToControlFlow.h"
#include "mlir/Conversion/VectorToLLVM/ConvertVectorToLLVMPass.h"
#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

void mlir::attn::buildCPUPipeline(OpPassManager &pm,
                                  const CPUPipelineOptions &options) {
  // attn -> tiled loops over buffers.
  pm.addPass(createAttnLowerSequenceOps());
  AttnTileAttentionOptions tile;
  tile.blockQ = options.blockQ;
  tile.blockK = options.blockK;
  tile.countTiles = options.countTiles;
  tile.deterministic = options.deterministic;
  pm.addPass(createAttnTileAttention(tile));
  pm.addPass(createAttnLowerTileOps());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  pm.addPass(createLoopInvariantCodeMotionPass());

  // Remaining tensors -> buffers.
  bufferization::OneShotBufferizePassOptions bufferize;
  bufferize.bufferizeFunctionBoundaries = true;
  bufferize.functionBoundaryTypeConversion =
      bufferization::LayoutMapOption::IdentityLayoutMap;
  pm.addPass(bufferization::createOneShotBufferizePass(bufferize));
  bufferization::buildBufferDeallocationPipeline(pm);
  // tensor.generate (the sequence helpers) bufferizes to linalg.map.
  pm.addPass(createConvertLinalgToLoopsPass());

  // Loops and vectors -> LLVM.
  pm.addPass(createSCFToControlFlowPass());
  arith::ArithExpandOpsPassOptions expand;
  expand.includeBf16 = true;
  pm.addPass(arith::createArithExpandOpsPass(expand));
  pm.addPass(createConvertVectorToLLVMPass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(createFinalizeMemRefToLLVMConversionPass());
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createConvertIndexToLLVMPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  pm.addPass(createConvertFuncToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
  pm.addPass(createCanonicalizerPass());
}

/// Registers a pipeline whose options are parsed, and checked by `check`,
/// before it is built: a bad option is an error that names the pipeline
/// (MLIR's plain registration reports an empty one).
template <typename Options>
static void registerChecked(
    StringRef arg, StringRef description,
    std::optional<std::string> (*check)(const Options &),
    void (*build)(OpPassManager &, const Options &)) {
  std::string name = arg.str();
  registerPassPipeline(
      arg, description,
      [=](OpPassManager &pm, StringRef text,
          function_ref<LogicalResult(const Twine &)> errorHandler) {
        Options options;
        if (failed(options.parseFromString(text)))
          return errorHandler(name + ": bad options '" + text + "'");
        if (std::optional<std::string> why = check(options))
          return errorHandler(name + ": " + *why);
        build(pm, options);
        return success();
      },
      [](function_ref<void(const detail::PassOptions &)> optHandler) {
        optHandler(Options());
      });
}

/// The CPU pipeline's options: tile sizes the schedule takes.
static std::optional<std::string>
checkCPUPipelineOptions(const mlir::attn::CPUPipelineOptions &options) {
  if (!mlir::attn::areCpuTileSizes(options.blockQ, options.blockK))
    return "block-q and block-k must be 1 to " +
           std::to_string(mlir::attn::kMaxCpuTileSize);
  return std::nullopt;
}

void mlir::attn::registerAttnPipelines() {
  registerChecked<CPUPipelineOptions>(
      "attn-cpu-pipeline",
      "Lower attn ops to tiled, fused loops and on to LLVM for the host CPU",
      checkCPUPipelineOptions, buildCPUPipeline);
  registerChecked<GPUPipelineOptions>(
      "attn-nvidia-pipeline",
      "Lower attn.attention in gpu.func kernels to tensor-core kernels and "
      "on to PTX/cubin",
      checkGPUPipelineOptions, buildGPUPipeline);
}
