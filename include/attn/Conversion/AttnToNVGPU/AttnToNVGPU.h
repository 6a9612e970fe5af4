//===- AttnToNVGPU.h - attn -> NVIDIA GPU kernels -------------*- C++ -*-===//

#ifndef ATTN_CONVERSION_ATTNTONVGPU_ATTNTONVGPU_H
#define ATTN_CONVERSION_ATTNTONVGPU_ATTNTONVGPU_H

#include "attn/Conversion/AttnToNVGPU/KernelSchedule.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Pass/Pass.h"

#include "llvm/Support/MathExtras.h"

#include <array>
#include <optional>
#include <string>

namespace mlir::attn {

#define GEN_PASS_DECL
#include "attn/Conversion/AttnToNVGPU/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "attn/Conversion/AttnToNVGPU/Passes.h.inc"

/// The chips the NVIDIA kernels are built for, as a reader would list them.
constexpr StringLiteral kSupportedChips =
    "sm_80, sm_86, sm_87, sm_89, sm_90 and sm_90a";
/// The CUDA toolkit the NVIDIA kernels link libdevice from and assemble
/// cubins with: MLIR's NVVM::getCUDAToolkitPath() (CUDA_ROOT, CUDA_HOME or
/// CUDA_PATH, else the path MLIR was built with), else /usr/local/cuda
/// (Debian's MLIR is built with none).
std::string cudaToolkitPath();

/// The most dynamic shared memory one block of `chip` may use (the opt-in
/// maximum, bytes; the CUDA programming guide's table), or nullopt for a chip
/// the kernels are not built for (and for "": a target names its chip).
std::optional<int64_t> maxSharedBytesPerBlock(StringRef chip);

/// The largest head dim (D or Dv) of the warp-specialized wgmma kernels:
/// at 256 they spill (ptxas -v): Dv, a consumer's 128 registers of O; D,
/// a cp.async producer's copies (the TMA ones would not).
constexpr int64_t kMaxWarpSpecializedHeadDim = 192;

/// Launch shape of the kernels this lowering emits: a flavour and its tiles.
struct GPUKernelConfig : KernelSchedule {
  /// wgmma's 128-byte-swizzle atom (8 rows x 128 bytes): its tiles start on
  /// this boundary.
  static constexpr int64_t kSwizzleAtomBytes = 1024;
  int64_t mTiles = 2;  // 16-row MMA tiles per warp
  int64_t blockK = 64; // keys per tile
  int64_t numWarps = 4;
  int64_t pad = 8; // elements of padding per shared-memory row
  /// The tensor maps the kernel takes as its last arguments: Q's, K's and
  /// V's with tma, then O's with tmaStore.
  int64_t tensorMaps() const { return tma() ? (tmaStore() ? 4 : 3) : 0; }
  /// Rows of O one compute warpgroup stores (its m-tiles' rows): the O
  /// tensor map's box.
  int64_t storeRows() const { return 16 * mTiles * 4; }
  /// Named barriers of the TMA store's epilogue: compute warpgroup w's 128
  /// threads meet at kEpilogueBarrier + w (after the ping-pong's).
  static constexpr int64_t kEpilogueBarrier = 3;
  /// Columns (16-bit elements) of one TMA box: one 128-byte swizzle row.
  static constexpr int64_t kBoxColumns = 64;
  /// The TMA boxes across a row of `cols` columns (past them zero-filled on
  /// a load, clipped on a store).
  static int64_t boxesPerRow(int64_t cols) {
    return llvm::divideCeil(cols, kBoxColumns);
  }
  /// Named barriers of the ping-pong: consumer warpgroup w waits on
  /// kPingPongBarrier + w (barrier 0 is the block's).
  static constexpr int64_t kPingPongBarrier = 1;
  /// Registers per thread after setmaxnreg (warpSpecialized()): the producer
  /// warpgroup gives up what the consumers take (launch: at most 65536 /
  /// threads() per thread).
  static constexpr int64_t kProducerRegisters = 56, kConsumerRegisters = 224;
  /// The threads of a block: the compute warps, and the producer warpgroup.
  int64_t threads() const {
    return 32 * numWarps + (warpSpecialized() ? 128 : 0);
  }
  /// The threads that issue the copies: all of them, or the producer's.
  int64_t copyThreads() const { return warpSpecialized() ? 128 : threads(); }
  /// The threads that copy a tile of `rows` rows of `cols` 16-bit elements
  /// in 16-byte units, each pass of them covering whole rows: all
  /// copyThreads() when a row's units divide them, else the most that also
  /// share the tile's units evenly (D = 80: 80 of 128).
  int64_t tileCopiers(int64_t rows, int64_t cols) const {
    int64_t threads = copyThreads(), unitsPerRow = cols / 8;
    if (threads % unitsPerRow == 0)
      return threads;
    int64_t copiers = threads - threads % unitsPerRow;
    while ((rows * unitsPerRow) % copiers != 0)
      copiers -= unitsPerRow;
    return copiers;
  }
  /// Query rows per thread block.
  int64_t blockQ() const { return 16 * mTiles * numWarps; }
  /// Elements per shared-memory row of a tile of head dim `d`: wgmma's
  /// whole 64-column swizzle blocks (D = 80, 96: the last block part
  /// filled), mma.sync's padded rows.
  int64_t rowElements(int64_t d) const {
    return mma == TensorCoreOp::Wgmma ? llvm::alignTo(d, kBoxColumns)
                                      : d + pad;
  }
  /// The n of O += P V, and of O's accumulators: Dv, or with wgmma whole
  /// 64-column blocks of V (an MN-major operand's swizzle atom is 64
  /// columns wide; the columns past Dv are computed and never stored).
  int64_t outputColumns(int64_t dv) const {
    return mma == TensorCoreOp::Wgmma ? llvm::alignTo(dv, kBoxColumns) : dv;
  }
  /// The dynamic shared memory a block requests
  /// (nvidia::forwardSharedLayout's, SharedLayout.h).
  int64_t sharedBytes(int64_t headDim, int64_t valueDim,
                      int64_t eltBytes) const;
};

/// The launch contracts of the kernels attn-gpu-tile-attention emitted: a
/// dictionary on the top-level module from launchContractName (the
/// gpu.module and the kernel in it) to what a runtime
/// needs to launch it (kernel, arch, mma, schedule, grid, loads, stores,
/// store_rows with a TMA store, dtype, heads, kv_heads, head_dim,
/// value_dim, mask, scale, block_q, block_k, threads, shared_bytes; for
/// the sequence kernels of attn-gpu-sequence-ops: kernel, sequence, arch,
/// grid, threads, shared_bytes), as
/// Triton keeps launch metadata on the module. It survives the rest of the
/// pipeline; attn-run writes it out as the kernel's JSON manifest.
constexpr StringLiteral kLaunchContractsAttr = "attn.launch";

/// The kLaunchContractsAttr entry of kernel @`kernel` in gpu.module
/// @`module`: "module::kernel".
inline std::string launchContractName(StringRef module, StringRef kernel) {
  return (module + "::" + kernel).str();
}

/// The manifest keys in the order the JSON manifest lists them.
/// ("format", cubin or ptx, is the writer's to add.)
constexpr std::array<StringLiteral, 27> kLaunchContractKeys = {
    "kernel",     "direction",    "sequence", "separator", "arch",
    "mma",        "schedule",     "grid",     "loads",     "stores",
    "store_rows", "format",       "dtype",    "heads",     "kv_heads",
    "head_dim",   "value_dim",    "mask",     "scale",     "block_q",
    "block_k",    "column_parts", "dq",       "dq_kernel", "dq_threads",
    "threads",    "shared_bytes"};

/// The attribute (an i64: how many) on a kernel whose trailing arguments
/// are tensor maps, for attn-nvvm-tensor-map-args.
constexpr StringLiteral kTensorMapArgsAttr = "attn.tensor_map_args";

/// The attribute (a unit) on a kernel with a dynamic schedule's tile
/// counter argument (`!llvm.ptr<1>`, before any tensor maps).
constexpr StringLiteral kTileCounterArgAttr = "attn.tile_counter_arg";

/// The backward kernel's configuration on tensor core `mma`: four warps of
/// one 16-row slice each (wgmma: one warpgroup), 64-row query and key
/// tiles, one stage per tile.
GPUKernelConfig backwardKernelConfig(TensorCoreOp mma);
/// Rewrites `op` (in a gpu.func kernel) into the backward kernel's body on
/// `mma` (nullopt: wgmma on sm_90a up to head dim 128, else mma.sync): dq
/// from query items (`deterministic`) or added with f32 atomics into an
/// accumulator (the kernel's last argument) that a second kernel, added
/// after it (named "<kernel>_dq"), converts into dq.
LogicalResult gpuTileAttentionGrad(RewriterBase &rewriter, AttentionGradOp op,
                                   std::optional<TensorCoreOp> mma,
                                   bool deterministic);

/// attn-gpu-tile-attention with the options `options` ("mma=wgmma
/// schedule=plain ..."), parsed and checked as on the command line; null
/// with `error` set (naming the pass) for a bad one.
std::unique_ptr<Pass> parseAttnGPUTileAttention(StringRef options,
                                                std::string &error);

/// Rewrites `op` (in a gpu.func kernel) into the warp-level kernel body.
LogicalResult gpuTileAttention(RewriterBase &rewriter, AttentionOp op,
                               const GPUKernelConfig &config);

} // namespace mlir::attn

#endif // ATTN_CONVERSION_ATTNTONVGPU_ATTNTONVGPU_H
