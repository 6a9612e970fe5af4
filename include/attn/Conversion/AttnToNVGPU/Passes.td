//===- Passes.td - attn -> NVIDIA GPU kernels --------------*- tablegen -*-===//

#ifndef ATTN_CONVERSION_ATTNTONVGPU_PASSES_TD
#define ATTN_CONVERSION_ATTNTONVGPU_PASSES_TD

include "mlir/Pass/PassBase.td"

def AttnGPUTileAttention : Pass<"attn-gpu-tile-attention", "::mlir::ModuleOp"> {
  let summary = "Lower attn.attention in a gpu.func kernel to a tiled, "
                "fused tensor-core kernel (NVIDIA, mma.sync)";
  let description = [{
    The NVIDIA lowering of the tiled, fused form: one thread block per
    (query tile, head), four warps of 32 query rows each (two 16-row MMA
    tiles, so every K/V fragment read from shared memory feeds two MMAs).

    - Query tiles run longest-first (last tile of the sequence first).
    - `attn.key_tile_range` gives the key tiles, split into partial, full,
      partial loops as on every target; a ragged last key tile (T not a
      multiple of the tile) is handled by the masked body.
    - Q is copied once to shared memory and read as `ldmatrix` fragments;
      K and V tiles are staged through shared memory with
      `cp.async` (`nvgpu.device_async_copy`), double-buffered so the next
      tile's copy overlaps this tile's math.
    - S = QK^T and O += PV run on tensor cores (`nvvm.mma.sync`
      m16n8k16, f16/bf16 inputs, f32 accumulation); the row max and sum are
      reduced with warp shuffles; P goes from the S accumulators straight
      into A operands (no shared-memory round trip).
    - Each thread's two rows get their key interval (`attn.row_interval`)
      once; only partial tiles compare keys against it.
    - Outputs: out and lse (0 and -inf for rows with no allowed key).

    The attention must read `bufferization.to_tensor` of kernel arguments
    and its results must be materialized into kernel arguments.
  }];
  let options = [
    Option<"blockK", "block-k", "int64_t", /*default=*/"0",
           "Keys per tile (a multiple of 16; 0: chosen per head dim and "
           "the chip of the gpu.module's #nvvm.target)">,
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::gpu::GPUDialect",
                           "::mlir::LLVM::LLVMDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::NVVM::NVVMDialect",
                           "::mlir::nvgpu::NVGPUDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::vector::VectorDialect"];
}

#endif // ATTN_CONVERSION_ATTNTONVGPU_PASSES_TD
