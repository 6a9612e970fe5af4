//===- Attention.cpp - launching compiled attention kernels ---------------===//

#include "attn/Runtime/Attention.h"
#include "attn/Mask/MaskAlgebra.h"
#include "attn/Support/HeadDims.h"
#include "attn/Support/Scale.h"
#include "Manifest.h"

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <limits>

namespace attn::rt {

KernelInfo parseManifest(const std::string &text) {
  Manifest m(text);
  if (m.has("sequence"))
    throw Error("kernel manifest: a sequence helper's kernel (\"sequence\": " +
                m.string("sequence") + "), not an attention kernel");
  KernelInfo i;
  i.kernel = m.string("kernel");
  i.direction = m.choice("direction", {"forward", "backward"});
  i.arch = m.string("arch");
  i.mma = m.choice("mma", {"mma-sync", "wgmma"});
  i.schedule = m.choice("schedule", {"plain", "softmax-overlap",
                                     "warp-specialized",
                                     "warp-specialized-pingpong"});
  i.grid = m.choice("grid", {"tiles", "persistent", "dynamic"});
  i.loads = m.choice("loads", {"cp.async", "tma"});
  i.stores = m.choice("stores", {"st.global", "tma"});
  if (i.stores == "tma") {
    if (i.loads != "tma")
      throw Error("kernel manifest: \"stores\": \"tma\" needs \"loads\": "
                  "\"tma\"");
    i.storeRows = m.integer("store_rows");
    if (i.storeRows < 1 || i.storeRows > 256)
      throw Error("kernel manifest: bad store_rows");
  }
  i.dtype = m.string("dtype");
  if (i.dtype != "bf16" && i.dtype != "f16")
    throw Error("kernel manifest: unknown \"dtype\" '" + i.dtype +
                "' (the NVIDIA kernels take bf16 or f16)");
  i.mask = m.string("mask");
  i.heads = m.integer("heads");
  i.kvHeads = m.integer("kv_heads");
  i.headDim = m.integer("head_dim");
  i.valueDim = m.integer("value_dim");
  i.blockQ = m.integer("block_q");
  i.blockK = m.integer("block_k");
  i.threads = m.integer("threads");
  i.sharedBytes = sharedBytesOf(m);
  i.scale = m.number("scale");
  if (i.heads < 1 || i.kvHeads < 1 || i.heads % i.kvHeads != 0)
    throw Error("kernel manifest: heads (" + std::to_string(i.heads) +
                ") must be a positive multiple of kv_heads (" +
                std::to_string(i.kvHeads) + ")");
  // (Bounds that keep the grid arithmetic in range: a grid's y is at most
  // 65535, and tiles x heads must fit in 64 bits for any int32 token count.)
  if (i.heads > kMaxHeads)
    throw Error("kernel manifest: more than " + std::to_string(kMaxHeads) +
                " heads");
  for (int64_t d : {i.headDim, i.valueDim})
    if (!attn::isSupportedHeadDim(d))
      throw Error("kernel manifest: head dims must be " + attn::headDimList() +
                  ", got " + std::to_string(d));
  if (i.blockQ < 1 || i.blockQ > 1024 || i.blockK < 1 || i.blockK > 1024 ||
      i.threads < 1 || i.threads > 1024)
    throw Error("kernel manifest: bad block_q, block_k or threads");
  if (!attn::isSupportedScale(i.scale))
    throw Error("kernel manifest: " + attn::scaleRule());
  if (i.direction == "backward" &&
      (i.grid != "tiles" || i.loads != "cp.async"))
    throw Error("kernel manifest: a backward kernel has grid tiles and "
                "cp.async loads");
  if (i.direction == "backward") {
    // (Caches from before column parts: 1 part, which their head dims got.)
    i.columnParts = m.has("column_parts") ? m.integer("column_parts") : 1;
    if (i.columnParts < 1 ||
        i.columnParts != attn::backwardColumnParts(i.headDim, i.valueDim))
      throw Error("kernel manifest: column_parts " +
                  std::to_string(i.columnParts) + " is not the backward's " +
                  std::to_string(attn::backwardColumnParts(i.headDim,
                                                           i.valueDim)) +
                  " at head dims " + std::to_string(i.headDim) + "/" +
                  std::to_string(i.valueDim));
    i.dq = m.choice("dq", {"query-items", "atomic"});
    if (i.atomicDq()) {
      i.dqKernel = m.string("dq_kernel");
      i.dqThreads = m.integer("dq_threads");
      if (i.dqKernel.empty() || i.dqKernel == i.kernel)
        throw Error("kernel manifest: an atomic backward needs its own "
                    "\"dq_kernel\"");
      if (i.dqThreads < 32 || i.dqThreads > 1024 || i.dqThreads % 32)
        throw Error("kernel manifest: bad dq_threads");
    }
  }
  std::string backward = m.object("backward");
  if (!backward.empty()) {
    if (i.direction != "forward")
      throw Error("kernel manifest: a backward kernel has no \"backward\"");
    auto b = std::make_shared<KernelInfo>(parseManifest(backward));
    if (b->direction != "backward")
      throw Error("kernel manifest: \"backward\" is not a backward kernel");
    i.backward = std::move(b);
  }
  return i;
}

Dim3 launchGrid(const KernelInfo &info, int64_t tokens,
                int64_t residentBlocks) {
  int64_t tiles = (tokens + info.blockQ - 1) / info.blockQ;
  if (info.direction == "backward") {
    int64_t keyTiles = (tokens + info.blockK - 1) / info.blockK;
    int64_t items =
        (keyTiles * info.kvHeads + (info.atomicDq() ? 0 : tiles * info.heads)) *
        info.columnParts;
    if (items > std::numeric_limits<int32_t>::max())
      throw Error("the backward's " + std::to_string(items) +
                  " work items exceed one launch's grid");
    return Dim3{unsigned(items), 1, 1};
  }
  if (!info.persistentGrid())
    return Dim3{unsigned(tiles), unsigned(info.heads), 1};
  int64_t items = tiles * info.heads;
  return Dim3{unsigned(std::min(items, residentBlocks)), 1, 1};
}

Dim3 dqConvertGrid(const KernelInfo &info, int64_t tokens) {
  int64_t pairs = tokens * info.heads * (info.headDim / 2);
  int64_t blocks = (pairs + info.dqThreads - 1) / info.dqThreads;
  if (blocks > std::numeric_limits<int32_t>::max())
    throw Error("dq's " + std::to_string(pairs) +
                " column pairs exceed one launch's grid");
  return Dim3{unsigned(blocks), 1, 1};
}

std::vector<TensorMapSpec> tensorMapSpecs(const KernelInfo &info,
                                          int64_t tokens) {
  if (info.dtype != "bf16" && info.dtype != "f16")
    throw Error("TMA loads need bf16 or f16, the kernel has " + info.dtype);
  if (tokens < 1)
    throw Error("a tensor map needs at least one token");
  auto spec = [&](int64_t heads, int64_t cols, int64_t rows) {
    TensorMapSpec s;
    s.bf16 = info.dtype == "bf16";
    s.dims[0] = uint64_t(cols);
    s.dims[1] = uint64_t(heads);
    s.dims[2] = uint64_t(tokens);
    s.strides[0] = uint64_t(cols) * 2;
    s.strides[1] = uint64_t(heads * cols) * 2;
    s.box[0] = 64;
    s.box[1] = 1;
    s.box[2] = uint32_t(rows);
    return s;
  };
  std::vector<TensorMapSpec> specs = {
      spec(info.heads, info.headDim, info.blockQ),
      spec(info.kvHeads, info.headDim, info.blockK),
      spec(info.kvHeads, info.valueDim, info.blockK)};
  if (info.stores == "tma")
    specs.push_back(spec(info.heads, info.valueDim, info.storeRows));
  return specs;
}

namespace {
/// A map's bytes, aligned as the kernel parameter it becomes.
struct alignas(64) EncodedMap {
  unsigned char bytes[kTensorMapBytes];
};

/// The forward's parameters, in the kernel's order (Attention.h): the
/// memrefs of q, k, v, cu_seqlens, out and lse; a dynamic grid's counter;
/// the tensor maps.
KernelArgs forwardArgs(const KernelInfo &i, int64_t tokens, int64_t cuEntries,
                       void *cuDevice, void *q, void *k, void *v, void *out,
                       void *lse, void *counter,
                       const std::vector<EncodedMap> &maps) {
  KernelArgs args;
  args.addMemRef(q, {tokens, i.heads, i.headDim});
  args.addMemRef(k, {tokens, i.kvHeads, i.headDim});
  args.addMemRef(v, {tokens, i.kvHeads, i.valueDim});
  args.addMemRef(cuDevice, {cuEntries});
  args.addMemRef(out, {tokens, i.heads, i.valueDim});
  args.addMemRef(lse, {i.heads, tokens});
  if (i.grid == "dynamic")
    args.addBytes(&counter, sizeof(counter));
  for (const EncodedMap &map : maps)
    args.addBytes(map.bytes, sizeof(map.bytes));
  return args;
}

/// The backward's parameters: the memrefs of q, k, v, cu_seqlens, out,
/// lse, dout, dq, dk and dv, then atomic dq's accumulator.
KernelArgs backwardArgs(const KernelInfo &i, int64_t tokens, int64_t cuEntries,
                        void *cuDevice, const GradTensors &t) {
  KernelArgs args;
  args.addMemRef(t.q, {tokens, i.heads, i.headDim});
  args.addMemRef(t.k, {tokens, i.kvHeads, i.headDim});
  args.addMemRef(t.v, {tokens, i.kvHeads, i.valueDim});
  args.addMemRef(cuDevice, {cuEntries});
  args.addMemRef(t.out, {tokens, i.heads, i.valueDim});
  args.addMemRef(t.lse, {i.heads, tokens});
  args.addMemRef(t.dout, {tokens, i.heads, i.valueDim});
  args.addMemRef(t.dq, {tokens, i.heads, i.headDim});
  args.addMemRef(t.dk, {tokens, i.kvHeads, i.headDim});
  args.addMemRef(t.dv, {tokens, i.kvHeads, i.valueDim});
  if (i.atomicDq())
    args.addMemRef(t.dqAccumulator, {tokens, i.heads, i.headDim});
  return args;
}

/// Atomic dq's second kernel's parameters: the memrefs of the accumulator
/// and dq.
KernelArgs dqConvertArgs(const KernelInfo &i, int64_t tokens,
                         const GradTensors &t) {
  KernelArgs args;
  args.addMemRef(t.dqAccumulator, {tokens, i.heads, i.headDim});
  args.addMemRef(t.dq, {tokens, i.heads, i.headDim});
  return args;
}
} // namespace

AttentionKernel::AttentionKernel(const std::string &image, KernelInfo info)
    : kernelInfo(std::move(info)), module(std::make_unique<Module>(image)) {
  const KernelInfo &i = kernelInfo;
  function = module->function(i.kernel);
  // The parameters a launch passes (any tokens: only the sizes count).
  if (i.direction == "forward") {
    size_t maps = i.loads == "tma" ? tensorMapSpecs(i, 1).size() : 0;
    requireParameters(function, i.kernel,
                      forwardArgs(i, 1, 2, nullptr, nullptr, nullptr, nullptr,
                                  nullptr, nullptr, nullptr,
                                  std::vector<EncodedMap>(maps))
                          .sizes());
  } else {
    requireParameters(function, i.kernel,
                      backwardArgs(i, 1, 2, nullptr, GradTensors{}).sizes());
  }
  setMaxDynamicSharedMemory(function, i.sharedBytes);
  if (i.atomicDq()) {
    dqFunction = module->function(i.dqKernel);
    requireParameters(dqFunction, i.dqKernel,
                      dqConvertArgs(i, 1, GradTensors{}).sizes());
  }
  if (kernelInfo.persistentGrid())
    resident = residentBlocks(function, int(kernelInfo.threads),
                              kernelInfo.sharedBytes);
}

void *AttentionKernel::tileCounter(Stream stream) const {
  std::lock_guard<std::mutex> lock(countersMutex);
  std::unique_ptr<DeviceBuffer> &counter = counters[stream];
  if (!counter) {
    counter = std::make_unique<DeviceBuffer>(sizeof(int32_t));
    counter->fill(0);
    // (The memset runs on the legacy default stream, which a non-blocking
    // `stream` does not wait for.)
    synchronize();
  }
  return counter->data();
}

namespace {
/// Throws Error for cu_seqlens no launch may take: what the kernels cannot
/// survive, known without reading them, and (with a host copy) anything
/// invalid.
void requireValidCuSeqlens(const int32_t *cuHost, int64_t cuEntries,
                           int64_t tokens) {
  if (cuEntries < 1 || (tokens > 0 && cuEntries < 2))
    throw InvalidInput("invalid cu_seqlens: " + std::to_string(cuEntries) +
                " entries cannot hold " + std::to_string(tokens) + " tokens");
  if (cuHost)
    if (auto why = mask::validateCuSeqlens(cuHost, cuEntries, tokens))
      throw InvalidInput("invalid cu_seqlens: " + *why);
  if (tokens > std::numeric_limits<int32_t>::max())
    throw Error("too many tokens for int32 cu_seqlens");
}
} // namespace

void AttentionKernel::launchBackward(const int32_t *cuHost, int64_t cuEntries,
                                     int64_t tokens, void *cuDevice,
                                     const GradTensors &t,
                                     Stream stream) const {
  const KernelInfo &i = kernelInfo;
  if (i.direction != "backward")
    throw Error("kernel " + i.kernel + " is not a backward kernel");
  requireValidCuSeqlens(cuHost, cuEntries, tokens);
  Dim3 grid = launchGrid(i, tokens, 0);
  if (grid.x == 0)
    return; // no tokens: nothing to compute
  // Copied in 16-byte pieces; lse, cu_seqlens and the gradients' pairs in
  // 4-byte ones.
  requireAligned({{"q", t.q, 16}, {"k", t.k, 16}, {"v", t.v, 16},
                  {"out", t.out, 16}, {"dout", t.dout, 16}, {"lse", t.lse, 4},
                  {"cu_seqlens", cuDevice, 4}, {"dq", t.dq, 4},
                  {"dk", t.dk, 4}, {"dv", t.dv, 4}});
  Dim3 dqGrid;
  if (i.atomicDq()) {
    if (!t.dqAccumulator)
      throw Error("kernel " + i.kernel + " adds dq atomically: it needs a "
                  "dq accumulator (dqAccumulatorBytes)");
    requireAligned({{"the dq accumulator", t.dqAccumulator, 8}});
    dqGrid = dqConvertGrid(i, tokens);
  }
  KernelArgs args = backwardArgs(i, tokens, cuEntries, cuDevice, t);
  // Atomic dq: the accumulator zeroed, the kernel adding into it, then the
  // dq kernel reading it.
  if (i.atomicDq())
    zeroAsync(t.dqAccumulator, size_t(dqAccumulatorBytes(i, tokens) / 4),
              stream);
  rt::launch(function, grid, Dim3{unsigned(i.threads), 1, 1}, i.sharedBytes,
             stream, args.params());
  if (i.atomicDq()) {
    KernelArgs convert = dqConvertArgs(i, tokens, t);
    rt::launch(dqFunction, dqGrid, Dim3{unsigned(i.dqThreads), 1, 1}, 0,
               stream, convert.params());
  }
}

void AttentionKernel::launch(const int32_t *cuHost, int64_t cuEntries,
                             int64_t tokens, void *cuDevice, void *q, void *k,
                             void *v, void *out, void *lse, Stream stream,
                             void *callerCounter) const {
  const KernelInfo &i = kernelInfo;
  if (i.direction != "forward")
    throw Error("kernel " + i.kernel + " is a backward kernel "
                "(launchBackward)");
  requireValidCuSeqlens(cuHost, cuEntries, tokens);
  Dim3 grid = launchGrid(i, tokens, resident);
  if (grid.x == 0)
    return; // no tokens: nothing to compute
  // The tensor maps' tensors (their specs: none without TMA).
  std::vector<TensorMapSpec> specs;
  if (i.loads == "tma")
    specs = tensorMapSpecs(i, tokens);
  void *bases[4] = {q, k, v, out};
  const char *names[4] = {"q", "k", "v", "out"};
  for (size_t t = 0; t < specs.size(); ++t)
    if (reinterpret_cast<uintptr_t>(bases[t]) % 16)
      throw Error(std::string("TMA needs ") + names[t] + " 16-byte aligned");
  // Every kernel copies q, k and v in 16-byte pieces and stores out and lse
  // in 4-byte ones (pairs of 16-bit values, floats).
  requireAligned({{"q", q, 16}, {"k", k, 16}, {"v", v, 16}, {"out", out, 4},
                  {"lse", lse, 4}, {"cu_seqlens", cuDevice, 4}});
  // After every check (a launch that throws allocates nothing): the
  // counter, then the maps.
  void *counter = nullptr;
  if (i.grid == "dynamic")
    counter = callerCounter ? callerCounter : tileCounter(stream);
  std::vector<EncodedMap> maps(specs.size());
  for (size_t t = 0; t < specs.size(); ++t)
    encodeTensorMap(maps[t].bytes, specs[t], bases[t]);
  KernelArgs args = forwardArgs(i, tokens, cuEntries, cuDevice, q, k, v, out,
                                lse, counter, maps);
  Dim3 block{unsigned(i.threads), 1, 1};
  rt::launch(function, grid, block, i.sharedBytes, stream, args.params());
}

} // namespace attn::rt
