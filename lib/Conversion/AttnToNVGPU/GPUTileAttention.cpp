//===- GPUTileAttention.cpp - attn.attention -> tensor-core kernel --------===//
//
// The NVIDIA lowering of the tiled, fused attention: the kernel
// configuration from the options and the chip, its checks, the entry point
// and the pass. The kernel itself is KernelEmitter (KernelEmitter.h), in
// parts: Scheduler.cpp, Copies.cpp, Pipeline.cpp, MainLoop.cpp,
// Epilogue.cpp, put together by Kernel.cpp; MmaSync.cpp and Wgmma.cpp are
// the tensor-core flavours; PtxInstructions.cpp spells out the PTX they
// emit as inline assembly. The flavour's choices and rules are
// KernelSchedule.cpp's.
//===----------------------------------------------------------------------===//

#include "KernelEmitter.h"
#include "KernelFunction.h"
#include "attn/Dialect/Attn/Transforms/Transforms.h"
#include "attn/Support/HeadDims.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "llvm/ADT/StringSwitch.h"

#include <cmath>
#include <limits>

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNGPUTILEATTENTION
#include "attn/Conversion/AttnToNVGPU/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::nvidia;

//===----------------------------------------------------------------------===//
// Entry point and pass
//===----------------------------------------------------------------------===//

std::optional<int64_t> mlir::attn::maxSharedBytesPerBlock(StringRef chip) {
  // Ampere's and Ada's mma.sync, cp.async and bf16 need sm_80; Hopper's
  // wgmma needs sm_90a. Later chips need a newer PTX than the pipeline's.
  return llvm::StringSwitch<std::optional<int64_t>>(chip)
      .Cases({"sm_80", "sm_87"}, 163 * 1024)
      .Cases({"sm_86", "sm_89"}, 99 * 1024)
      .Cases({"sm_90", "sm_90a"}, 227 * 1024)
      .Default(std::nullopt);
}

/// wgmma needs sm_90a: an error on `op` for any other `chip`.
static LogicalResult checkWgmmaChip(Operation *op, StringRef chip) {
  if (chip == "sm_90a")
    return success();
  return op->emitOpError("wgmma needs sm_90a, the gpu.module targets ")
         << chip;
}

/// The configuration of an attention of head dims `headDim` and
/// `valueDim` on `chip` ("": sm_90a) under `request` (`blockK` 0: chosen per
/// head dim and chip): its flavour and the tile shape shipped for its
/// tensor-core instruction.
static GPUKernelConfig gpuKernelConfig(const KernelScheduleRequest &request,
                                       int64_t blockK, int64_t headDim,
                                       int64_t valueDim, StringRef chip) {
  GPUKernelConfig cfg;
  static_cast<KernelSchedule &>(cfg) =
      request.resolve(chip, headDim, valueDim);
  headDim = std::max(headDim, valueDim); // (the tile shape: the larger)
  if (cfg.mma == TensorCoreOp::Wgmma) {
    // Two warpgroups, one 16-row slice per warp, unpadded swizzled tiles.
    // Measured with ptxas -v (0 spills): 128-key tiles up to D = 128, but
    // 64 where a cp.async producer's threads do not divide a row's 16-byte
    // units (D = 80, 96: it spills at 56 registers); past D = 128 (two
    // stages of 128-key K and V tiles exceed sm_90a's shared memory) 64,
    // or 32 under a consumer's 224 registers (warp specialization).
    cfg.mTiles = 1;
    cfg.numWarps = 8;
    cfg.pad = 0;
    bool unevenProducer = cfg.warpSpecialized() && !cfg.tma() &&
                          cfg.copyThreads() % (headDim / 8) != 0;
    int64_t defaultBlockK = headDim > 128 ? (cfg.warpSpecialized() ? 32 : 64)
                            : unevenProducer ? 64
                                             : 128;
    cfg.blockK = blockK ? blockK : defaultBlockK;
    return cfg;
  }
  // Measured with ptxas -v (0 spills at 255 registers): two 16-row m-tiles
  // per warp up to D = 128, one beyond (O's accumulators of two spill at
  // D = 256); 64-key tiles on sm_90a (128-key tiles spill at D = 64),
  // 32-key tiles past D = 64 on sm_8x (within their shared memory).
  cfg.mTiles = headDim <= 128 ? 2 : 1;
  bool ampere = chip.starts_with("sm_8");
  cfg.blockK = blockK ? blockK : (ampere && headDim > 64 ? 32 : 64);
  return cfg;
}

/// Adds the launch contract of `func` (the kernel `op` becomes under
/// `cfg`: the forward, or the backward of an attn.attention_grad, whose
/// blocks need `sharedBytes`) to the top-level module's
/// kLaunchContractsAttr.
template <typename AttentionLikeOp>
static void recordLaunchContract(gpu::GPUFuncOp func, AttentionLikeOp op,
                                 const GPUKernelConfig &cfg,
                                 StringRef direction, int64_t sharedBytes,
                                 std::optional<int64_t> columnParts = {},
                                 gpu::GPUFuncOp dqKernel = {}) {
  Builder b(op.getContext());
  StringRef chip = targetChip(op);
  int64_t d = op.getHeadDim(), dv = op.getValueDim();
  Type elt = op.getElementType();
  NamedAttrList fields;
  auto str = [&](StringRef key, StringRef value) {
    fields.append(key, b.getStringAttr(value));
  };
  auto num = [&](StringRef key, int64_t value) {
    fields.append(key, b.getI64IntegerAttr(value));
  };
  str("kernel", func.getName());
  str("direction", direction);
  str("arch", chip);
  str("mma", stringifyTensorCoreOp(cfg.mma));
  str("schedule", stringifyKeyLoop(cfg.keyLoop));
  str("grid", stringifyGridKind(cfg.grid));
  str("loads", stringifyLoadKind(cfg.loads));
  str("stores", stringifyStoreKind(cfg.stores));
  if (cfg.tmaStore())
    num("store_rows", cfg.storeRows());
  str("dtype", elt.isBF16() ? "bf16" : "f16");
  num("heads", op.getNumHeads());
  num("kv_heads", op.getNumKvHeads());
  num("head_dim", d);
  num("value_dim", dv);
  str("mask", ::attn::mask::toString(op.getMask().getSpec()));
  fields.append("scale", b.getF64FloatAttr(op.getScaleOrDefault()));
  num("block_q", cfg.blockQ());
  num("block_k", cfg.blockK);
  if (columnParts) {
    num("column_parts", *columnParts);
    // How dq is reduced: "atomic" (the key items add into an f32
    // accumulator, then dqKernel converts it) or "query-items".
    str("dq", dqKernel ? "atomic" : "query-items");
    if (dqKernel) {
      str("dq_kernel", dqKernel.getName());
      num("dq_threads", nvidia::kDqConvertThreads);
    }
  }
  num("threads", cfg.threads());
  num("shared_bytes", sharedBytes);
  addLaunchContract(func, fields);
}

/// Where an NVIDIA lowering's op stands: its kernel, element type, chip
/// and that chip's shared memory per block.
struct KernelContext {
  gpu::GPUFuncOp func;
  Type elt;
  StringRef chip;
  int64_t maxShared;
};

/// What every NVIDIA lowering checks first: the op in a gpu.func kernel,
/// of f16 or bf16, for a chip the kernels are built for.
template <typename AttentionLikeOp>
static FailureOr<KernelContext> kernelContext(AttentionLikeOp op) {
  FailureOr<gpu::GPUFuncOp> func = kernelFunction(op);
  if (failed(func))
    return failure();
  Type elt = op.getElementType();
  if (!elt.isBF16() && !elt.isF16())
    return op.emitOpError("the NVIDIA lowering supports f16 and bf16, got ")
           << elt;
  StringRef chip = targetChip(op);
  std::optional<int64_t> maxShared = maxSharedBytesPerBlock(chip);
  if (!maxShared)
    return op.emitOpError("the NVIDIA kernels support ")
           << kSupportedChips << ", the gpu.module targets " << chip;
  return KernelContext{*func, elt, chip, *maxShared};
}

/// Fails (reported on `op`) when a kernel needing `bytes` of shared memory
/// per block, `kernel` of `shape` (e.g. "head dims 64/64"), does not fit
/// the chip of `context`; `hint` ends the message.
static LogicalResult checkSharedMemory(Operation *op,
                                       const KernelContext &context,
                                       int64_t bytes, StringRef kernel,
                                       const Twine &shape, StringRef hint) {
  if (bytes <= context.maxShared)
    return success();
  return op->emitOpError("the ")
         << kernel << " needs " << bytes << " bytes of shared memory per block ("
         << shape << "), more than the " << context.maxShared << " "
         << context.chip << " allows" << hint;
}

LogicalResult mlir::attn::gpuTileAttention(RewriterBase &rewriter,
                                           AttentionOp op,
                                           const GPUKernelConfig &config) {
  FailureOr<KernelContext> context = kernelContext(op);
  if (failed(context))
    return failure();
  gpu::GPUFuncOp func = context->func;
  StringRef chip = context->chip;
  if (std::optional<std::string> why = config.whyInvalid())
    return op.emitOpError(*why) << " (" << config.optionString() << ")";
  if (config.blockK % 16 != 0 || config.blockK < 16)
    return op.emitOpError("block_k must be a positive multiple of 16");
  // Each warp holds its rows' scores of a key tile in registers: past 128
  // keys (mma.sync) or 256 (wgmma) they spill, and compiling takes minutes.
  int64_t maxBlockK = config.mma == TensorCoreOp::Wgmma ? 256 : 128;
  if (config.blockK > maxBlockK)
    return op.emitOpError("")
           << stringifyTensorCoreOp(config.mma) << " needs block_k <= "
           << maxBlockK << ", got " << config.blockK;
  // (Every head dim the op's verifier takes: attn/Support/HeadDims.h.)
  int64_t headDim = op.getHeadDim(), valueDim = op.getValueDim();
  if (config.mma == TensorCoreOp::Wgmma && config.warpSpecialized() &&
      std::max(headDim, valueDim) > kMaxWarpSpecializedHeadDim)
    return op.emitOpError("the warp-specialized wgmma kernels take head dims "
                          "up to ")
           << kMaxWarpSpecializedHeadDim << ", got D = " << headDim
           << " and Dv = " << valueDim
           << " (at 256 they spill: O's accumulators under a consumer's "
           << GPUKernelConfig::kConsumerRegisters
           << " registers, a cp.async producer's copies under its "
           << GPUKernelConfig::kProducerRegisters
           << "); use schedule=plain or softmax-overlap, or mma=mma-sync";
  // Every copying thread issues the same number of 16-byte copies.
  auto splits = [&](int64_t rows, int64_t cols) {
    return (rows * cols / 8) % config.tileCopiers(rows, cols) == 0;
  };
  if (!splits(config.blockQ(), headDim) || !splits(config.blockK, headDim) ||
      !splits(config.blockK, valueDim))
    return op.emitOpError("the tiles (block_q ")
           << config.blockQ() << ", block_k " << config.blockK
           << ") do not split into 16-byte copies over " << config.copyThreads()
           << " threads for head dims " << headDim << "/" << valueDim;
  // The turns go between two consumer warpgroups (wgmma's eight warps).
  assert(!config.pingPong() || config.numWarps == 8);
  if (config.mma == TensorCoreOp::Wgmma && failed(checkWgmmaChip(op, chip)))
    return failure();
  int64_t shared = config.sharedBytes(
      headDim, valueDim, context->elt.getIntOrFloatBitWidth() / 8);
  SmallVector<Value> inputs, outputs; // (q, k, v, cu; out, lse)
  if (failed(checkSharedMemory(op, *context, shared, "kernel",
                               "block_k " + Twine(config.blockK) +
                                   ", head dims " + Twine(headDim) + "/" +
                                   Twine(valueDim),
                               "; use a smaller block-k")) ||
      failed(kernelBuffers(op, inputs, outputs)))
    return failure();
  if ((config.dynamicSchedule() && func->hasAttr(kTileCounterArgAttr)) ||
      (config.tma() && func->hasAttr(kTensorMapArgsAttr)))
    return op.emitOpError("a kernel with a tile counter or tensor maps holds "
                          "one attention; @")
           << func.getName() << " has one already";
  auto appendArgument = [&](Type type) {
    unsigned at = func.getNumArguments();
    [[maybe_unused]] bool added =
        succeeded(func.insertArgument(at, type, DictionaryAttr(), op.getLoc()));
    assert(added && "a gpu.func takes trailing arguments");
    return func.getArgument(at);
  };
  // A dynamic schedule: the tile counter (global i32), then ...
  Value tileCounter;
  if (config.dynamicSchedule()) {
    tileCounter = appendArgument(
        LLVM::LLVMPointerType::get(rewriter.getContext(), /*global*/ 1));
    func->setAttr(kTileCounterArgAttr, rewriter.getUnitAttr());
  }
  // ... TMA: the tensor maps of Q, K and V (and O) as the kernel's last
  // arguments.
  SmallVector<Value> tensorMaps;
  if (config.tma()) {
    auto ptr = LLVM::LLVMPointerType::get(rewriter.getContext());
    for (int64_t i = 0; i < config.tensorMaps(); ++i)
      tensorMaps.push_back(appendArgument(ptr));
    func->setAttr(kTensorMapArgsAttr,
                  rewriter.getI64IntegerAttr(config.tensorMaps()));
  }
  recordLaunchContract(func, op, config, "forward", shared);
  rewriter.setInsertionPoint(op);
  std::unique_ptr<KernelEmitter> emitter =
      config.mma == TensorCoreOp::Wgmma
          ? createWgmmaEmitter(rewriter, op.getLoc(), op, config)
          : createMmaSyncEmitter(rewriter, op.getLoc(), op, config);
  emitter->emit(inputs[0], inputs[1], inputs[2], inputs[3], outputs[0],
                outputs[1], tileCounter, tensorMaps);
  finishKernel(rewriter, op, func, config.threads());
  // setmaxnreg needs a known register count at entry: one block per SM
  // (.minnctapersm 1) gives every thread 65536 / threads registers.
  if (config.warpSpecialized())
    func->setAttr(NVVM::NVVMDialect::getMinctasmAttrName(),
                  rewriter.getI32IntegerAttr(1));
  return success();
}

GPUKernelConfig mlir::attn::backwardKernelConfig(TensorCoreOp mma) {
  GPUKernelConfig cfg;
  cfg.mma = mma;
  cfg.mTiles = 1;
  cfg.numWarps = 4;
  cfg.blockK = 64;
  if (mma == TensorCoreOp::Wgmma)
    cfg.pad = 0; // (swizzled rows)
  return cfg;
}

LogicalResult
mlir::attn::gpuTileAttentionGrad(RewriterBase &rewriter, AttentionGradOp op,
                                 std::optional<TensorCoreOp> requestedMma,
                                 bool deterministic) {
  FailureOr<KernelContext> context = kernelContext(op);
  if (failed(context))
    return failure();
  int64_t headDim = op.getHeadDim(), valueDim = op.getValueDim();
  int64_t parts = ::attn::backwardColumnParts(headDim, valueDim);
  if (parts == 0)
    return op.emitOpError("the NVIDIA backward kernel splits head dims past "
                          "128 into parts of at most 96 columns in whole "
                          "16-column steps, which D = ")
           << headDim << " and Dv = " << valueDim
           << " together do not allow (the CPU target takes every head dim "
              "of the op)";
  // mma=auto: wgmma on sm_90a where it takes the head dims, else mma.sync.
  bool hopper = context->chip == "sm_90a";
  TensorCoreOp mma = requestedMma.value_or(
      hopper && parts == 1 ? TensorCoreOp::Wgmma : TensorCoreOp::MmaSync);
  if (mma == TensorCoreOp::Wgmma && failed(checkWgmmaChip(op, context->chip)))
    return failure();
  if (mma == TensorCoreOp::Wgmma && parts != 1)
    return op.emitOpError("the wgmma backward kernel takes head dims up to "
                          "128, got D = ")
           << headDim << " and Dv = " << valueDim
           << " (its dK and dV of whole rows); use mma=mma-sync";
  GPUKernelConfig config = backwardKernelConfig(mma);
  int64_t shared =
      nvidia::backwardSharedLayout(config, headDim, valueDim,
                                   context->elt.getIntOrFloatBitWidth() / 8,
                                   /*dsTile=*/!deterministic)
          .requestBytes;
  SmallVector<Value> in, out; // (q, k, v, out, dout, lse, cu; dq, dk, dv)
  if (failed(checkSharedMemory(op, *context, shared, "backward kernel",
                               "head dims " + Twine(headDim) + "/" +
                                   Twine(valueDim),
                               "")) ||
      failed(kernelBuffers(op, in, out)))
    return failure();
  nvidia::BackwardBuffers buffers{in[0], in[1], in[2],  in[6],  in[3],
                                  in[5], in[4], out[0], out[1], out[2]};
  gpu::GPUFuncOp func = context->func, dqKernel;
  if (!deterministic) {
    // Atomic dq: the accumulator, the kernel's last argument, and the
    // kernel that converts it into dq.
    auto dqType = cast<MemRefType>(buffers.dq.getType());
    auto accType = MemRefType::get(dqType.getShape(), rewriter.getF32Type(),
                                   MemRefLayoutAttrInterface(),
                                   dqType.getMemorySpace());
    unsigned at = func.getNumArguments();
    if (failed(func.insertArgument(at, accType, DictionaryAttr(), op.getLoc())))
      return op.emitOpError("cannot add the dq accumulator argument");
    buffers.dqAccumulator = func.getArgument(at);
    dqKernel = createKernel(rewriter, func, (func.getName() + "_dq").str(),
                            {accType, dqType});
    nvidia::emitDqConvertKernel(rewriter, op.getLoc(), dqKernel,
                                op.getScaleOrDefault());
  }
  recordLaunchContract(func, op, config, "backward", shared, parts, dqKernel);
  rewriter.setInsertionPoint(op);
  nvidia::emitBackwardKernel(rewriter, op.getLoc(), op, config, buffers);
  finishKernel(rewriter, op, context->func, config.threads());
  return success();
}

namespace {
struct AttnGPUTileAttentionPass
    : public mlir::attn::impl::AttnGPUTileAttentionBase<
          AttnGPUTileAttentionPass> {
  using Base::Base;
  /// The schedule the options ask for, or an error saying why not.
  FailureOr<KernelScheduleRequest> request(std::string &error) const {
    return KernelScheduleRequest::parse(mma, schedule, grid, loads, stores,
                                        error);
  }
  // A bad option is an error naming the pass (MLIR's own is empty).
  LogicalResult initializeOptions(
      StringRef options,
      function_ref<LogicalResult(const Twine &)> errorHandler) override {
    // (MLIR's parser passes on an empty message when llvm::cl has printed
    // what was wrong with a value.)
    if (failed(Base::initializeOptions(options, [&](const Twine &msg) {
          return msg.isTriviallyEmpty() || msg.str().empty()
                     ? failure()
                     : errorHandler(msg);
        })))
      return errorHandler(getArgument() + ": bad options '" + options + "'");
    std::string error;
    if (failed(request(error)))
      return errorHandler(getArgument() + ": " + error);
    return success();
  }
  void runOnOperation() override {
    std::string error;
    FailureOr<KernelScheduleRequest> schedule = request(error);
    if (failed(schedule)) {
      getOperation().emitError(error);
      return signalPassFailure();
    }
    SmallVector<AttentionOp> found;
    SmallVector<AttentionGradOp> grads;
    getOperation().walk([&](Operation *op) {
      if (auto a = dyn_cast<AttentionOp>(op))
        found.push_back(a);
      else if (auto g = dyn_cast<AttentionGradOp>(op))
        grads.push_back(g);
    });
    IRRewriter rewriter(&getContext());
    // The backward takes the tensor core and a dq reduction; the other
    // options choose the forward's.
    for (AttentionGradOp op : grads)
      if (failed(gpuTileAttentionGrad(rewriter, op, schedule->mma,
                                      deterministic)))
        return signalPassFailure();
    for (AttentionOp op : found) {
      GPUKernelConfig config =
          gpuKernelConfig(*schedule, blockK, op.getHeadDim(),
                          op.getValueDim(), targetChip(op));
      if (failed(gpuTileAttention(rewriter, op, config)))
        return signalPassFailure();
    }
  }
};
} // namespace

std::unique_ptr<Pass>
mlir::attn::parseAttnGPUTileAttention(StringRef options, std::string &error) {
  std::unique_ptr<Pass> pass = createAttnGPUTileAttention();
  if (failed(pass->initializeOptions(options, [&](const Twine &msg) {
        error = msg.str();
        return failure();
      })))
    return nullptr;
  return pass;
}
