//===- Pipelines.h - attn compilation pipelines ---------------*- C++ -*-===//

#ifndef ATTN_PIPELINES_PIPELINES_H
#define ATTN_PIPELINES_PIPELINES_H

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"

namespace mlir::attn {

/// Options of the CPU pipeline (attn-cpu-pipeline).
struct CPUPipelineOptions : public PassPipelineOptions<CPUPipelineOptions> {
  PassOptions::Option<int64_t> blockQ{*this, "block-q",
                                      llvm::cl::desc("Query rows per tile"),
                                      llvm::cl::init(64)};
  PassOptions::Option<int64_t> blockK{
      *this, "block-k", llvm::cl::desc("Keys per tile"), llvm::cl::init(64)};
  PassOptions::Option<bool> countTiles{
      *this, "count-tiles",
      llvm::cl::desc("Count visited/partial/full tiles in @attn_tile_counts"),
      llvm::cl::init(false)};
  PassOptions::Option<bool> deterministic{
      *this, "deterministic",
      llvm::cl::desc("attn.attention_grad: dq from a query-major pass "
                     "instead of f32 atomics"),
      llvm::cl::init(false)};
};

/// attn ops -> tiled, fused loops -> LLVM dialect for the host CPU.
void buildCPUPipeline(OpPassManager &pm, const CPUPipelineOptions &options);

/// Options of the NVIDIA pipeline (attn-nvidia-pipeline).
struct GPUPipelineOptions : public PassPipelineOptions<GPUPipelineOptions> {
  PassOptions::Option<std::string> chip{
      *this, "chip", llvm::cl::desc("GPU architecture (sm_80, sm_90a, ...)"),
      llvm::cl::init("sm_90a")};
  PassOptions::Option<std::string> features{*this, "features",
                                            llvm::cl::desc("PTX features"),
                                            llvm::cl::init("+ptx80")};
  PassOptions::Option<std::string> format{
      *this, "format",
      llvm::cl::desc("gpu-module-to-binary format: isa (PTX), bin (cubin), "
                     "fatbin, offloading (stop at the NVVM dialect)"),
      llvm::cl::init("bin")};
  PassOptions::Option<std::string> kernel{
      *this, "kernel",
      llvm::cl::desc("attn-gpu-tile-attention's options, the kernel flavour "
                     "(e.g. kernel={mma=wgmma schedule=plain}; default: "
                     "mma=auto, the chip's measured default)"),
      llvm::cl::init("")};
  PassOptions::Option<bool> deterministic{
      *this, "deterministic",
      llvm::cl::desc("attn.attention_grad: dq from query items (the same "
                     "bits on every run) instead of f32 atomics"),
      llvm::cl::init(false)};
};

/// Why `options` cannot build a pipeline (an unknown chip or format, bad
/// kernel options), or nullopt: checked before anything runs, by the
/// registered pipeline.
std::optional<std::string> checkGPUPipelineOptions(
    const GPUPipelineOptions &options);

/// attn.attention in gpu.func kernels -> tensor-core kernels -> NVVM ->
/// PTX/cubin (gpu.binary). PTX and cubin need the CUDA toolkit's libdevice
/// (attn-require-cuda-toolkit says where it looked), cubin its ptxas
/// (CUDA_ROOT or PATH).
void buildGPUPipeline(OpPassManager &pm, const GPUPipelineOptions &options);

/// Registers attn-cpu-pipeline and attn-nvidia-pipeline.
void registerAttnPipelines();

} // namespace mlir::attn

#endif // ATTN_PIPELINES_PIPELINES_H
