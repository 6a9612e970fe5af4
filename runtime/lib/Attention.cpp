//===- Attention.cpp - launching compiled attention kernels ---------------===//

#include "attn/Runtime/Attention.h"
#include "attn/Mask/MaskAlgebra.h"

#include <algorithm>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <regex>
#include <sstream>

namespace attn::rt {

std::string readFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw Error("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// The value of "key" in a flat JSON object (string or number).
static std::string field(const std::string &json, const std::string &key) {
  std::regex re("\"" + key + "\"\\s*:\\s*(\"([^\"]*)\"|[-+0-9.eE]+)");
  std::smatch m;
  if (!std::regex_search(json, m, re))
    throw Error("kernel manifest lacks \"" + key + "\"");
  return m[2].matched ? m[2].str() : m[1].str();
}

static int64_t intField(const std::string &json, const std::string &key) {
  std::string v = field(json, key);
  char *end = nullptr;
  long long x = std::strtoll(v.c_str(), &end, 10);
  if (*end != '\0')
    throw Error("kernel manifest: \"" + key + "\" is not an integer");
  return x;
}

/// The string "key" of `json`, one of `allowed`; the first of them if the
/// manifest (an older one) lacks the field.
static std::string choiceField(const std::string &json, const std::string &key,
                               std::initializer_list<const char *> allowed) {
  if (json.find("\"" + key + "\"") == std::string::npos)
    return *allowed.begin();
  std::string v = field(json, key);
  for (const char *a : allowed)
    if (v == a)
      return v;
  throw Error("kernel manifest: unknown \"" + key + "\" '" + v + "'");
}

KernelInfo parseManifest(const std::string &json) {
  KernelInfo i;
  i.kernel = field(json, "kernel");
  i.arch = field(json, "arch");
  i.mma = choiceField(json, "mma", {"mma-sync", "wgmma"});
  i.schedule = choiceField(json, "schedule",
                           {"plain", "softmax-overlap", "warp-specialized",
                            "warp-specialized-pingpong"});
  i.grid = choiceField(json, "grid", {"tiles", "persistent", "dynamic"});
  i.loads = choiceField(json, "loads", {"cp.async", "tma"});
  i.stores = choiceField(json, "stores", {"st.global", "tma"});
  if (i.stores == "tma") {
    if (i.loads != "tma")
      throw Error("kernel manifest: \"stores\": \"tma\" needs \"loads\": "
                  "\"tma\"");
    i.storeRows = intField(json, "store_rows");
    if (i.storeRows < 1 || i.storeRows > 256)
      throw Error("kernel manifest: bad store_rows");
  }
  i.dtype = field(json, "dtype");
  i.mask = field(json, "mask");
  i.heads = intField(json, "heads");
  i.kvHeads = intField(json, "kv_heads");
  i.headDim = intField(json, "head_dim");
  i.valueDim = intField(json, "value_dim");
  i.blockQ = intField(json, "block_q");
  i.blockK = intField(json, "block_k");
  i.threads = intField(json, "threads");
  i.sharedBytes = intField(json, "shared_bytes");
  i.scale = std::stod(field(json, "scale"));
  if (i.heads < 1 || i.kvHeads < 1 || i.blockQ < 1 || i.threads < 1)
    throw Error("kernel manifest: bad heads, block_q or threads");
  return i;
}

Dim3 launchGrid(const KernelInfo &info, int64_t tokens,
                int64_t residentBlocks) {
  int64_t tiles = (tokens + info.blockQ - 1) / info.blockQ;
  if (!info.persistentGrid())
    return Dim3{unsigned(tiles), unsigned(info.heads), 1};
  int64_t items = tiles * info.heads;
  return Dim3{unsigned(std::min(items, residentBlocks)), 1, 1};
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

AttentionKernel::AttentionKernel(const std::string &image, KernelInfo info)
    : kernelInfo(std::move(info)), module(std::make_unique<Module>(image)) {
  function = module->function(kernelInfo.kernel);
  setMaxDynamicSharedMemory(function, kernelInfo.sharedBytes);
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

void AttentionKernel::launch(const int32_t *cuHost, int64_t cuEntries,
                             int64_t tokens, void *cuDevice, void *q, void *k,
                             void *v, void *out, void *lse,
                             Stream stream) const {
  if (auto why = mask::validateCuSeqlens(cuHost, cuEntries, tokens))
    throw Error("invalid cu_seqlens: " + *why);
  if (tokens > std::numeric_limits<int32_t>::max())
    throw Error("too many tokens for int32 cu_seqlens");
  const KernelInfo &i = kernelInfo;
  KernelArgs args;
  args.addMemRef(q, {tokens, i.heads, i.headDim});
  args.addMemRef(k, {tokens, i.kvHeads, i.headDim});
  args.addMemRef(v, {tokens, i.kvHeads, i.valueDim});
  args.addMemRef(cuDevice, {cuEntries});
  args.addMemRef(out, {tokens, i.heads, i.valueDim});
  args.addMemRef(lse, {i.heads, tokens});
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
  // After every check (a launch that throws allocates nothing): the
  // counter, then the maps.
  if (i.grid == "dynamic") {
    void *counter = tileCounter(stream);
    args.addBytes(&counter, sizeof(counter));
  }
  for (size_t t = 0; t < specs.size(); ++t) {
    alignas(64) unsigned char map[kTensorMapBytes];
    encodeTensorMap(map, specs[t], bases[t]);
    args.addBytes(map, sizeof(map));
  }
  Dim3 block{unsigned(i.threads), 1, 1};
  rt::launch(function, grid, block, i.sharedBytes, stream, args.params());
}

} // namespace attn::rt
