//===- Attention.h - launching compiled attention kernels -----*- C++ -*-===//
//
// The launch contract of the kernels `attn-run --target cuda --emit cubin`
// writes: the image, and beside it FILE.json with the kernel's name, types,
// heads, head dims, mask, tile sizes, threads and dynamic shared memory.
// Kernel parameters follow MLIR's memref convention for
//   (q [T,Hq,D], k [T,Hkv,D], v [T,Hkv,Dv], cu_seqlens [N+1] i32,
//    out [T,Hq,Dv], lse [Hq,T] f32),
// for the grid "dynamic" followed by a pointer to the tile counter (a
// device i32, zero at launch and left zero), for "loads": "tma" then by the
// tensor maps of q, k and v (tensorMapSpecs, by value), for "stores":
// "tma" then by out's;
// blocks of `threads`: one per (query tile of block_q rows, head) for the
// grid "tiles", at most as many as the GPU runs at once for "persistent"
// and "dynamic" (each then loops over those work items, in static rounds
// or claiming them from the counter); launchGrid says how many.
//===----------------------------------------------------------------------===//

#ifndef ATTN_RUNTIME_ATTENTION_H
#define ATTN_RUNTIME_ATTENTION_H

#include "attn/Runtime/Cuda.h"

#include <algorithm>
#include <array>
#include <map>
#include <memory>
#include <mutex>

namespace attn::rt {

struct KernelInfo {
  std::string kernel, arch, dtype, mask;
  /// "forward" (also for manifests without the field) or "backward": the
  /// kernel of attn.attention_grad, whose parameters are the memrefs of
  /// (q, k, v, cu_seqlens, out, lse, dout, dq, dk, dv) and whose grid is
  /// one block per (key tile, kv head) then one per (query tile, head).
  std::string direction = "forward";
  /// The image's backward kernel, when the manifest describes one beside
  /// the forward (its member "backward").
  std::shared_ptr<const KernelInfo> backward;
  /// The tensor-core flavour: "mma-sync" (also for manifests without the
  /// field) or "wgmma".
  std::string mma = "mma-sync";
  /// The key loop: "plain" (also for manifests without the field) or
  /// "softmax-overlap" (wgmma, software-pipelined), "warp-specialized"
  /// (that loop fed by a producer warpgroup) or "warp-specialized-pingpong"
  /// (its compute warpgroups taking turns). Same launch for all of them.
  std::string schedule = "plain";
  /// The launch grid: "tiles" (also for manifests without the field),
  /// "persistent" or "dynamic" (persistent, with a tile counter).
  std::string grid = "tiles";
  /// Whether the grid has at most as many blocks as run at once.
  bool persistentGrid() const { return grid != "tiles"; }
  /// How the kernel loads its tiles: "cp.async" (also for manifests
  /// without the field) or "tma" (it takes tensor maps).
  std::string loads = "cp.async";
  /// How the kernel stores O: "st.global" (also for manifests without the
  /// field) or "tma" (it takes out's tensor map, boxes of storeRows rows).
  std::string stores = "st.global";
  int64_t storeRows = 0;
  int64_t heads = 0, kvHeads = 0, headDim = 0, valueDim = 0;
  int64_t blockQ = 0, blockK = 0, threads = 0, sharedBytes = 0;
  /// A backward kernel's column parts: each work item takes one part of
  /// its dK and dV (or dQ) columns, and the grid has that many items per
  /// tile (1 for a forward kernel).
  int64_t columnParts = 1;
  /// A backward kernel's dq reduction: "query-items" (also for manifests
  /// without the field: query items after the key items compute dq) or
  /// "atomic" (key items only, adding dq into an f32 accumulator, an extra
  /// memref parameter [T, Hq, D] zero at launch; then kernel dqKernel, of
  /// memref parameters (accumulator, dq) and blocks of dqThreads threads,
  /// one thread per pair of dq's columns, writes dq).
  std::string dq = "query-items";
  std::string dqKernel;
  int64_t dqThreads = 0;
  bool atomicDq() const { return dq == "atomic"; }
  double scale = 0;
};

/// The most heads a manifest may name.
constexpr int64_t kMaxHeads = 4096;

/// Parses the JSON manifest; throws Error naming a missing or bad field.
KernelInfo parseManifest(const std::string &json);

/// The launch grid for `tokens` tokens: (query tiles, heads), or for a
/// persistent or dynamic kernel min(query tiles x heads, residentBlocks)
/// blocks in x, or for a backward kernel (key tiles x kv heads + query
/// tiles x heads) x column parts in x (key tiles x kv heads x column parts
/// for atomic dq; nothing to launch for 0 tokens).
Dim3 launchGrid(const KernelInfo &info, int64_t tokens, int64_t residentBlocks);

/// The tensor maps of a "tma" kernel's q, k and v (and out for "stores":
/// "tma") for `tokens` (> 0) tokens: (column, head, token) tensors, boxes
/// of 64 columns (one 128-byte swizzle row) by 1 head by block_q (q),
/// block_k (k, v) or store_rows (out) rows.
std::vector<TensorMapSpec> tensorMapSpecs(const KernelInfo &info,
                                          int64_t tokens);

/// The grid of an atomic backward's dq kernel for `tokens` tokens.
Dim3 dqConvertGrid(const KernelInfo &info, int64_t tokens);

/// Bytes of an atomic backward's dq accumulator (f32 [T, Hq, D]).
inline int64_t dqAccumulatorBytes(const KernelInfo &info, int64_t tokens) {
  return info.atomicDq() ? tokens * info.heads * info.headDim * 4 : 0;
}

/// The device tensors of a backward launch, in the layouts of the
/// backward's parameters (KernelInfo::direction); for atomic dq also the
/// accumulator, dqAccumulatorBytes, 8-byte aligned (the caller's, so that
/// nothing is allocated in a launch, e.g. while a CUDA graph is captured;
/// the launch zeroes it).
struct GradTensors {
  void *q = nullptr, *k = nullptr, *v = nullptr, *out = nullptr,
       *lse = nullptr, *dout = nullptr, *dq = nullptr, *dk = nullptr,
       *dv = nullptr, *dqAccumulator = nullptr;
};

class AttentionKernel {
public:
  AttentionKernel(const std::string &image, KernelInfo info);
  const KernelInfo &info() const { return kernelInfo; }
  /// Persistent and dynamic grids: launch at most `blocks` blocks (a test's
  /// way to give each block several items); no effect on other grids.
  void limitResidentBlocks(int64_t blocks) {
    resident = std::min(resident, std::max<int64_t>(blocks, 1));
  }

  /// Checks cu_seqlens (host copy of `cuEntries` entries: starts at 0,
  /// never decreases, ends at `tokens`) and launches on `stream`; throws Error,
  /// launching nothing, if it is invalid. A null `cuHost` skips that check,
  /// for callers that check cu_seqlens on the device (the PyTorch op: no
  /// host synchronization). An empty sequence (tokens == 0) has
  /// nothing to compute and launches nothing. Device pointers hold the layouts
  /// above (for a "tma" kernel, q, k and v 16-byte aligned, and out for
  /// "stores": "tma"). A "dynamic" kernel uses a tile counter of this object's
  /// per stream, allocated zeroed on the stream's first launch (the kernel
  /// leaves it zero), so launches on different streams may overlap.
  /// `tileCounter`, if not null, is the caller's for a "dynamic" kernel: a
  /// device i32, zero, used by one stream at a time (so that nothing is
  /// allocated or synchronized here, e.g. while a CUDA graph is captured).
  void launch(const int32_t *cuHost, int64_t cuEntries, int64_t tokens,
              void *cuDevice, void *q, void *k, void *v, void *out, void *lse,
              Stream stream = nullptr, void *tileCounter = nullptr) const;
  void launch(const std::vector<int32_t> &cuHost, int64_t tokens,
              void *cuDevice, void *q, void *k, void *v, void *out, void *lse,
              Stream stream = nullptr) const {
    launch(cuHost.data(), int64_t(cuHost.size()), tokens, cuDevice, q, k, v,
           out, lse, stream);
  }

  /// A backward kernel's launch (info().direction == "backward"): the
  /// same cu_seqlens checks (a null `cuHost` skips the host one), the grid
  /// of its key and query items, nothing launched for 0 tokens; q, k, v,
  /// out and dout 16-byte aligned. dq, dk and dv are written whole. For
  /// atomic dq: the accumulator zeroed, the kernel, then the dq kernel, all
  /// on `stream`.
  void launchBackward(const int32_t *cuHost, int64_t cuEntries,
                      int64_t tokens, void *cuDevice, const GradTensors &t,
                      Stream stream = nullptr) const;

private:
  KernelInfo kernelInfo;
  std::unique_ptr<Module> module;
  Function function = nullptr;
  /// An atomic backward's dq kernel.
  Function dqFunction = nullptr;
  /// Blocks the device runs at once (persistent grids only).
  int64_t resident = 0;
  /// The tile counters of a "dynamic" kernel, one per stream.
  mutable std::mutex countersMutex;
  mutable std::map<Stream, std::unique_ptr<DeviceBuffer>> counters;
  void *tileCounter(Stream stream) const;
};

} // namespace attn::rt

#endif // ATTN_RUNTIME_ATTENTION_H
