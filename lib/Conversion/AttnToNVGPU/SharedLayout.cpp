//===- SharedLayout.cpp - a kernel's shared memory, laid out as data -------===//

#include "attn/Conversion/AttnToNVGPU/SharedLayout.h"
#include "attn/Conversion/AttnToNVGPU/AttnToNVGPU.h"

#include "llvm/Support/MathExtras.h"

#include <cassert>

using namespace mlir::attn;
using namespace mlir::attn::nvidia;

SharedRegion SharedAllocator::allocate(int64_t stageBytes, int64_t stages,
                                       int64_t align) {
  assert(llvm::isPowerOf2_64(align) && align <= baseAlign &&
         "a region cannot be aligned past the base");
  SharedRegion r;
  r.offset = llvm::alignTo(end, align);
  r.bytes = stageBytes * stages;
  r.stages = stages;
  end = r.end();
  return r;
}

int64_t SharedAllocator::requestBytes() const {
  return end + (baseAlign > kWindowAlign ? baseAlign : 0);
}

/// The alignment of a kernel's tiles, and so of its layout's base: wgmma's
/// descriptors and TMA boxes address 128-byte-swizzled tiles that start on
/// a swizzle atom; mma.sync's ldmatrix reads padded rows.
static int64_t tileAlign(const GPUKernelConfig &cfg) {
  return cfg.mma == TensorCoreOp::Wgmma ? GPUKernelConfig::kSwizzleAtomBytes
                                        : SharedAllocator::kWindowAlign;
}

ForwardSharedLayout nvidia::forwardSharedLayout(const GPUKernelConfig &cfg,
                                                int64_t headDim,
                                                int64_t valueDim,
                                                int64_t eltBytes) {
  ForwardSharedLayout l;
  int64_t align = tileAlign(cfg);
  l.baseAlign = align;
  SharedAllocator alloc(align);
  int64_t qRow = cfg.rowElements(headDim) * eltBytes,
          vRow = cfg.rowElements(valueDim) * eltBytes;
  l.q = alloc.allocate(cfg.blockQ() * qRow, 1, align);
  l.k = alloc.allocate(cfg.blockK * qRow, 2, align);
  l.v = alloc.allocate(cfg.blockK * vRow, 2, align);
  if (cfg.tmaStore())
    l.o = alloc.allocate(cfg.blockQ() * vRow, 1, align);
  if (cfg.warpSpecialized()) {
    l.fullK = alloc.allocateMbarriers(2);
    l.fullV = alloc.allocateMbarriers(2);
    l.emptyK = alloc.allocateMbarriers(2);
    l.emptyV = alloc.allocateMbarriers(2);
    l.fullQ = alloc.allocateMbarriers(1);
    if (cfg.persistent())
      l.emptyQ = alloc.allocateMbarriers(1);
    if (cfg.dynamicSchedule()) {
      l.item = alloc.allocateMbarriers(2);
      l.itemSlots = alloc.allocate(4, 2, 4);
    }
  }
  l.requestBytes = alloc.requestBytes();
  return l;
}

BackwardSharedLayout nvidia::backwardSharedLayout(const GPUKernelConfig &cfg,
                                                  int64_t headDim,
                                                  int64_t valueDim,
                                                  int64_t eltBytes,
                                                  bool dsTile) {
  BackwardSharedLayout l;
  int64_t align = tileAlign(cfg);
  l.baseAlign = align;
  SharedAllocator alloc(align);
  auto tile = [&](int64_t rows, int64_t cols) {
    return alloc.allocate(rows * cfg.rowElements(cols) * eltBytes, 1, align);
  };
  l.k = tile(cfg.blockK, headDim);
  l.v = tile(cfg.blockK, valueDim);
  l.q = tile(cfg.blockQ(), headDim);
  l.dout = tile(cfg.blockQ(), valueDim);
  l.delta = alloc.allocate(cfg.blockQ() * 4, 1, 4);
  l.shift = alloc.allocate(cfg.blockQ() * 4, 1, 4);
  if (dsTile)
    l.ds = tile(cfg.blockK, cfg.blockQ());
  l.requestBytes = alloc.requestBytes();
  return l;
}

int64_t GPUKernelConfig::sharedBytes(int64_t headDim, int64_t valueDim,
                                     int64_t eltBytes) const {
  return forwardSharedLayout(*this, headDim, valueDim, eltBytes).requestBytes;
}
