//===- SharedLayout.h - a kernel's shared memory, laid out as data -*- C++ -*-===//
//
// A thread block's dynamic shared memory as named regions: tiles, pipeline
// stages, mbarriers and slots, each placed by a small allocator at the next
// offset its alignment allows. The launch contract's shared_bytes and the
// kernel emitter's views and addresses come from the same layout.
//===----------------------------------------------------------------------===//

#ifndef ATTN_CONVERSION_ATTNTONVGPU_SHAREDLAYOUT_H
#define ATTN_CONVERSION_ATTNTONVGPU_SHAREDLAYOUT_H

#include <cstdint>

namespace mlir::attn {

struct GPUKernelConfig;

namespace nvidia {

/// `bytes` at byte `offset` from the layout's (aligned) base; `stages`
/// equal parts of `stageBytes` each (one for a single tile).
struct SharedRegion {
  int64_t offset = 0, bytes = 0, stages = 0;
  int64_t stageBytes() const { return stages ? bytes / stages : 0; }
  bool allocated() const { return stages != 0; }
  int64_t end() const { return offset + bytes; }
};

/// Lays out shared memory: each region at the next offset aligned to what
/// it asks for, in the order asked. The base itself is aligned to
/// `baseAlign` (the kernel rounds the dynamic shared window's start up to it
/// at run time: the launch reserves that much more).
class SharedAllocator {
public:
  explicit SharedAllocator(int64_t baseAlign) : baseAlign(baseAlign) {}
  /// `stages` parts of `stageBytes` each, at an `align`-byte boundary
  /// (a power of two, at most baseAlign).
  SharedRegion allocate(int64_t stageBytes, int64_t stages, int64_t align);
  /// `count` mbarriers (8 bytes each, 8-byte aligned), one per stage.
  SharedRegion allocateMbarriers(int64_t count) {
    return allocate(kMbarrierBytes, count, kMbarrierBytes);
  }
  /// The bytes a launch must request: every region, and the room aligning
  /// the base may skip (none when the window's own 16-byte alignment
  /// suffices).
  int64_t requestBytes() const;

  static constexpr int64_t kMbarrierBytes = 8;
  /// The alignment of the dynamic shared window's start.
  static constexpr int64_t kWindowAlign = 16;

private:
  int64_t baseAlign, end = 0;
};

/// The forward kernel's shared memory, in allocation order: the Q tile, two
/// K and two V stages (mma.sync: rows padded by cfg.pad elements; wgmma:
/// 128-byte-swizzled rows on swizzle-atom boundaries), the O tile of a TMA
/// store, and with warp specialization the pipeline's mbarriers (each K and
/// V stage's full and empty one, Q's full one, with persistent blocks Q's
/// empty one) and, with a dynamic schedule, the two claimed-item slots
/// (i32) with their mbarriers.
struct ForwardSharedLayout {
  int64_t baseAlign = SharedAllocator::kWindowAlign;
  SharedRegion q, k, v, o;
  SharedRegion fullK, fullV, emptyK, emptyV, fullQ, emptyQ, item, itemSlots;
  int64_t requestBytes = 0;
};

/// The layout of `cfg`'s forward kernel for head dims `headDim` and
/// `valueDim` of `eltBytes`-byte elements.
ForwardSharedLayout forwardSharedLayout(const GPUKernelConfig &cfg,
                                        int64_t headDim, int64_t valueDim,
                                        int64_t eltBytes);

/// The backward kernel's shared memory (one stage): the K and V tiles of a
/// key tile, the Q and dO tiles of a query tile (mma.sync: rows padded by
/// cfg.pad elements; wgmma: 128-byte-swizzled rows on swizzle-atom
/// boundaries), and per row of the query tile its delta = rowsum(dO o O)
/// (O read from global memory) and its scores' shift (lse in the log2
/// domain), f32; with atomic dq (`dsTile`), the key tile's dS^T (key rows,
/// query columns).
struct BackwardSharedLayout {
  int64_t baseAlign = SharedAllocator::kWindowAlign;
  SharedRegion q, k, v, dout, delta, shift, ds;
  int64_t requestBytes = 0;
};
BackwardSharedLayout backwardSharedLayout(const GPUKernelConfig &cfg,
                                          int64_t headDim, int64_t valueDim,
                                          int64_t eltBytes, bool dsTile);

} // namespace nvidia
} // namespace mlir::attn

#endif // ATTN_CONVERSION_ATTNTONVGPU_SHAREDLAYOUT_H
