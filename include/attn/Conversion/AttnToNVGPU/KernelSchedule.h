//===- KernelSchedule.h - what makes an NVIDIA kernel flavour --*- C++ -*-===//
//
// A kernel flavour is a tensor-core instruction and four schedule choices
// (KernelSchedule.td declares each once): the key loop, the launch grid,
// how tiles are loaded and how O is stored. Here are the rules that combine
// them, checked in one place, and how attn-gpu-tile-attention's options
// (each may be "auto") become a schedule for a chip.
//===----------------------------------------------------------------------===//

#ifndef ATTN_CONVERSION_ATTNTONVGPU_KERNELSCHEDULE_H
#define ATTN_CONVERSION_ATTNTONVGPU_KERNELSCHEDULE_H

#include "mlir/IR/DialectImplementation.h"
#include "mlir/Support/LLVM.h"

#include <optional>
#include <string>

#include "attn/Conversion/AttnToNVGPU/KernelSchedule.h.inc"

namespace mlir::attn {

/// A kernel flavour. The key loop:
/// - plain: each key tile's S, softmax and P V one after another;
/// - softmax-overlap (wgmma): the P V product of tile j - 1 runs on the
///   tensor cores while the warpgroup computes the softmax of tile j;
/// - warp-specialized: softmax-overlap with a producer warpgroup that
///   copies Q, K and V into the stages and signals mbarriers, the compute
///   warps waiting for the stage they read and releasing it, no block
///   barrier in the key loop, and setmaxnreg moving registers from the
///   producer to the consumers;
/// - warp-specialized-pingpong: the two compute warpgroups also take turns
///   issuing their products (named barriers), one's softmax running while
///   the other's products keep the tensor cores busy.
/// The grid (persistent and dynamic need a warp-specialized key loop):
/// - tiles: one block per (query tile, head);
/// - persistent: at most as many blocks as fit at once, each looping over
///   those work items in static rounds, so the producer copies the next
///   item's tiles while the compute warpgroups finish this one;
/// - dynamic (with TMA loads): the same grid, each block claiming its next
///   item from a tile counter in global memory (a kernel argument before
///   the tensor maps, zero at launch and set back to zero by the launch's
///   last claim), so the blocks that finish first take the next longest.
/// Loads: cp.async (16-byte copies by every copying thread) or tma (with a
/// warp-specialized key loop: one producer thread copies boxes of 64
/// columns through tensor maps the runtime encodes, the hardware writing
/// the 128-byte swizzle, zero-filling rows past T and completing the
/// stage's mbarrier by its bytes).
/// Stores: st.global (bounds-checked 4-byte stores) or tma (with TMA loads:
/// each compute warpgroup writes its rows of O into a shared tile and one
/// thread stores them through O's tensor map, which clips rows past T).
struct KernelSchedule {
  TensorCoreOp mma = TensorCoreOp::MmaSync;
  KeyLoop keyLoop = KeyLoop::Plain;
  GridKind grid = GridKind::Tiles;
  LoadKind loads = LoadKind::CpAsync;
  StoreKind stores = StoreKind::StGlobal;

  bool softmaxOverlap() const { return keyLoop != KeyLoop::Plain; }
  bool warpSpecialized() const {
    return keyLoop == KeyLoop::WarpSpecialized || keyLoop == KeyLoop::PingPong;
  }
  bool pingPong() const { return keyLoop == KeyLoop::PingPong; }
  bool persistent() const { return grid != GridKind::Tiles; }
  bool dynamicSchedule() const { return grid == GridKind::Dynamic; }
  bool tma() const { return loads == LoadKind::Tma; }
  bool tmaStore() const { return stores == StoreKind::Tma; }

  /// Why the combination cannot be built, one message per rule (the first
  /// broken one, from the tensor core down), or nullopt.
  std::optional<std::string> whyInvalid() const;
  /// The options that select it ("mma=wgmma schedule=... ...").
  std::string optionString() const;
};

/// The option value that leaves a choice to the compiler.
constexpr StringLiteral kAutoChoice = "auto";

/// A schedule as attn-gpu-tile-attention's options ask for it: a choice
/// left "auto" is nullopt.
struct KernelScheduleRequest {
  std::optional<TensorCoreOp> mma;
  std::optional<KeyLoop> keyLoop;
  std::optional<GridKind> grid;
  std::optional<LoadKind> loads;
  std::optional<StoreKind> stores;

  /// Parses the options' values; an unknown one is an error naming the
  /// option and every value it takes. With mma given, the resolved
  /// combination is checked too (mma=auto's depends on the chip and head
  /// dim: it is checked per attention).
  static FailureOr<KernelScheduleRequest>
  parse(StringRef mma, StringRef keyLoop, StringRef grid, StringRef loads,
        StringRef stores, std::string &error);

  /// The schedule for an attention of head dims `headDim` and `valueDim`
  /// on `chip` ("": sm_90a). mma=auto is the chip's measured default: on
  /// sm_90a at the head dims it was measured at (64 and 128), wgmma with
  /// the flavour measured fastest on an H200 (warp-specialized-pingpong,
  /// dynamic, tma, tma) for every choice left auto; elsewhere mma-sync. A
  /// choice left auto under a named mma is the simplest (plain, tiles,
  /// cp.async, st.global).
  KernelSchedule resolve(StringRef chip, int64_t headDim,
                         int64_t valueDim) const;
};

} // namespace mlir::attn

#endif // ATTN_CONVERSION_ATTNTONVGPU_KERNELSCHEDULE_H
