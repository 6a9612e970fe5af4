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
  PassOptions::Option<int64_t> blockK{*this, "block-k",
                                      llvm::cl::desc("Keys per tile"),
                                      llvm::cl::init(64)};
  PassOptions::Option<bool> countTiles{
      *this, "count-tiles",
      llvm::cl::desc("Count visited/partial/full tiles in @attn_tile_counts"),
      llvm::cl::init(false)};
};

/// attn ops -> tiled, fused loops -> LLVM dialect for the host CPU.
void buildCPUPipeline(OpPassManager &pm, const CPUPipelineOptions &options);

/// Registers attn-cpu-pipeline.
void registerAttnPipelines();

} // namespace mlir::attn

#endif // ATTN_PIPELINES_PIPELINES_H
