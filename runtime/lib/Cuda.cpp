//===- Cuda.cpp - a small runtime over the CUDA driver API ----------------===//

#include "attn/Runtime/Cuda.h"

#include <cuda.h>
#include <dlfcn.h>

#include <cstring>
#include <mutex>
#include <vector>

namespace attn::rt {
namespace {

/// The driver entry points this runtime uses, listed once.
#define ATTN_CU_FUNCTIONS(X)                                                   \
  X(cuInit)                                                                    \
  X(cuGetErrorName)                                                            \
  X(cuGetErrorString)                                                          \
  X(cuDeviceGetCount)                                                          \
  X(cuDeviceGet)                                                               \
  X(cuDeviceGetName)                                                           \
  X(cuDevicePrimaryCtxRetain)                                                  \
  X(cuCtxSetCurrent)                                                           \
  X(cuCtxGetCurrent)                                                           \
  X(cuCtxSynchronize)                                                          \
  X(cuCtxGetDevice)                                                            \
  X(cuDeviceGetAttribute)                                                      \
  X(cuOccupancyMaxActiveBlocksPerMultiprocessor)                               \
  X(cuModuleLoadData)                                                          \
  X(cuModuleUnload)                                                            \
  X(cuModuleGetFunction)                                                       \
  X(cuFuncSetAttribute)                                                        \
  X(cuLaunchKernel)                                                            \
  X(cuTensorMapEncodeTiled)                                                    \
  X(cuMemAlloc)                                                                \
  X(cuMemFree)                                                                 \
  X(cuMemcpyHtoD)                                                              \
  X(cuMemcpyDtoH)                                                              \
  X(cuMemsetD8)                                                                \
  X(cuMemsetD32Async)                                                          \
  X(cuEventCreate)                                                             \
  X(cuEventDestroy)                                                            \
  X(cuEventRecord)                                                             \
  X(cuEventSynchronize)                                                        \
  X(cuEventElapsedTime)

/// The driver entry points, resolved from libcuda.so.1 at run time.
struct Driver {
#define ATTN_CU_FN(name) decltype(&::name) name = nullptr;
  ATTN_CU_FUNCTIONS(ATTN_CU_FN)
#undef ATTN_CU_FN
  // Newer drivers' (CUDA 12.4, 13.2), null where the driver lacks them;
  // typed here, as an older cuda.h does not declare them.
  CUresult (*cuFuncGetParamInfo)(CUfunction, size_t, size_t *,
                                 size_t *) = nullptr;
  CUresult (*cuFuncGetParamCount)(CUfunction, size_t *) = nullptr;
  std::string error; // why the driver cannot be used; empty if it can
};

const Driver &driver() {
  static Driver d;
  static std::once_flag once;
  std::call_once(once, [] {
    void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      d.error = std::string("cannot load the CUDA driver (libcuda.so.1): ") +
                dlerror();
      return;
    }
    // cuda.h maps each API name to the versioned symbol its declaration
    // describes (cuMemAlloc -> cuMemAlloc_v2, cuCtxSynchronize -> itself):
    // look up exactly that symbol, the macro-expanded name.
#define ATTN_CU_STR2(x) #x
#define ATTN_CU_STR(x) ATTN_CU_STR2(x)
#define ATTN_CU_LOAD(name)                                                     \
  d.name = reinterpret_cast<decltype(d.name)>(dlsym(lib, ATTN_CU_STR(name)));  \
  if (!d.name) {                                                               \
    d.error = "the CUDA driver lacks " ATTN_CU_STR(name);                      \
    return;                                                                    \
  }
    ATTN_CU_FUNCTIONS(ATTN_CU_LOAD)
#undef ATTN_CU_LOAD
    d.cuFuncGetParamInfo = reinterpret_cast<decltype(d.cuFuncGetParamInfo)>(
        dlsym(lib, "cuFuncGetParamInfo"));
    d.cuFuncGetParamCount = reinterpret_cast<decltype(d.cuFuncGetParamCount)>(
        dlsym(lib, "cuFuncGetParamCount"));
  });
  return d;
}

const Driver &use() {
  const Driver &d = driver();
  if (!d.error.empty())
    throw Error(d.error);
  return d;
}

/// Throws an Error naming `call` unless `r` is CUDA_SUCCESS.
void check(CUresult r, const char *call) {
  if (r == CUDA_SUCCESS)
    return;
  const Driver &d = driver();
  const char *name = nullptr, *text = nullptr;
  if (d.cuGetErrorName)
    d.cuGetErrorName(r, &name);
  if (d.cuGetErrorString)
    d.cuGetErrorString(r, &text);
  throw Error(std::string(call) + " failed: " + (name ? name : "?") + " (" +
              (text ? text : "unknown error") + ")");
}

} // namespace

bool driverAvailable(std::string *why) {
  const Driver &d = driver();
  std::string reason = d.error;
  if (reason.empty()) {
    int count = 0;
    CUresult r = d.cuInit(0);
    if (r == CUDA_SUCCESS)
      r = d.cuDeviceGetCount(&count);
    if (r != CUDA_SUCCESS) {
      const char *name = nullptr;
      d.cuGetErrorName(r, &name);
      reason =
          std::string("cuInit/cuDeviceGetCount failed: ") + (name ? name : "?");
    } else if (count == 0)
      reason = "no CUDA device";
  }
  if (why)
    *why = reason;
  return reason.empty();
}

void *initDevice(std::string *deviceName, int ordinal) {
  const Driver &d = use();
  check(d.cuInit(0), "cuInit");
  CUdevice dev;
  check(d.cuDeviceGet(&dev, ordinal), "cuDeviceGet");
  // Each device's primary context, retained once per process.
  static std::mutex mutex;
  static std::vector<CUcontext> primary;
  CUcontext ctx;
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (primary.size() <= size_t(ordinal))
      primary.resize(size_t(ordinal) + 1, nullptr);
    if (!primary[size_t(ordinal)])
      check(d.cuDevicePrimaryCtxRetain(&primary[size_t(ordinal)], dev),
            "cuDevicePrimaryCtxRetain");
    ctx = primary[size_t(ordinal)];
  }
  CUcontext current = nullptr;
  check(d.cuCtxGetCurrent(&current), "cuCtxGetCurrent");
  if (current != ctx)
    check(d.cuCtxSetCurrent(ctx), "cuCtxSetCurrent");
  if (deviceName) {
    char name[256] = {0};
    check(d.cuDeviceGetName(name, sizeof(name) - 1, dev), "cuDeviceGetName");
    *deviceName = name;
  }
  return current;
}

DeviceScope::DeviceScope(int ordinal)
    : previous(initDevice(nullptr, ordinal)) {}

DeviceScope::~DeviceScope() {
  const Driver &d = driver();
  CUcontext now = nullptr;
  if (d.cuCtxGetCurrent(&now) == CUDA_SUCCESS && now != previous)
    d.cuCtxSetCurrent(static_cast<CUcontext>(previous));
}

Module::Module(const std::string &image) {
  CUmodule m;
  check(use().cuModuleLoadData(&m, image.c_str()), "cuModuleLoadData");
  module = m;
}

Module::~Module() {
  if (module)
    driver().cuModuleUnload(static_cast<CUmodule>(module));
}

Function Module::function(const std::string &name) const {
  CUfunction f;
  check(use().cuModuleGetFunction(&f, static_cast<CUmodule>(module),
                                  name.c_str()),
        ("cuModuleGetFunction(" + name + ")").c_str());
  return f;
}

void requireParameters(Function f, const std::string &name,
                       const std::vector<size_t> &sizes) {
  const Driver &d = use();
  if (!d.cuFuncGetParamInfo)
    return;
  auto fn = static_cast<CUfunction>(f);
  auto refuse = [&](const std::string &what) {
    throw Error("kernel " + name +
                " does not take the parameters its manifest describes (" +
                what + "): is the manifest another image's?");
  };
  auto declares = [&](size_t count) {
    return "the image declares " + std::to_string(count) +
           " parameters, the manifest's launch passes " +
           std::to_string(sizes.size());
  };
  // How many the image declares, where the driver says (CUDA 13.2). Else
  // only the manifest's ones are asked for: asking past the last is an
  // error call, which compute-sanitizer would report on every good load.
  size_t count = 0;
  if (d.cuFuncGetParamCount &&
      d.cuFuncGetParamCount(fn, &count) == CUDA_SUCCESS &&
      count != sizes.size())
    refuse(declares(count));
  for (size_t i = 0; i < sizes.size(); ++i) {
    size_t offset = 0, size = 0;
    if (d.cuFuncGetParamInfo(fn, i, &offset, &size) != CUDA_SUCCESS) {
      if (i == 0)
        return; // (every kernel here takes parameters: the driver cannot say)
      refuse(declares(i));
    }
    if (size != sizes[i])
      refuse("parameter " + std::to_string(i) + " has " + std::to_string(size) +
             " bytes in the image, " + std::to_string(sizes[i]) +
             " in the manifest's launch");
  }
}

void setMaxDynamicSharedMemory(Function f, int64_t bytes) {
  if (bytes <= 48 * 1024)
    return;
  check(use().cuFuncSetAttribute(
            static_cast<CUfunction>(f),
            CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, int(bytes)),
        "cuFuncSetAttribute(MAX_DYNAMIC_SHARED_SIZE_BYTES)");
}

int64_t residentBlocks(Function f, int blockThreads, int64_t sharedBytes) {
  const Driver &d = use();
  int perSM = 0;
  check(d.cuOccupancyMaxActiveBlocksPerMultiprocessor(
            &perSM, static_cast<CUfunction>(f), blockThreads,
            size_t(sharedBytes)),
        "cuOccupancyMaxActiveBlocksPerMultiprocessor");
  if (perSM < 1)
    throw Error("a block of " + std::to_string(blockThreads) + " threads and " +
                std::to_string(sharedBytes) +
                " shared bytes does not fit on an SM");
  CUdevice dev;
  check(d.cuCtxGetDevice(&dev), "cuCtxGetDevice");
  int sms = 0;
  check(d.cuDeviceGetAttribute(&sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT,
                               dev),
        "cuDeviceGetAttribute(MULTIPROCESSOR_COUNT)");
  return int64_t(perSM) * sms;
}

void encodeTensorMap(void *map, const TensorMapSpec &spec, void *global) {
  static_assert(sizeof(CUtensorMap) == kTensorMapBytes);
  CUtensorMap m;
  cuuint64_t dims[3], strides[2];
  cuuint32_t box[3], elementStrides[3] = {1, 1, 1};
  for (int i = 0; i < 3; ++i) {
    dims[i] = spec.dims[i];
    box[i] = spec.box[i];
  }
  strides[0] = spec.strides[0];
  strides[1] = spec.strides[1];
  check(use().cuTensorMapEncodeTiled(
            &m,
            spec.bf16 ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16
                      : CU_TENSOR_MAP_DATA_TYPE_FLOAT16,
            3, global, dims, strides, box, elementStrides,
            CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
            CU_TENSOR_MAP_L2_PROMOTION_L2_128B,
            CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE),
        "cuTensorMapEncodeTiled");
  std::memcpy(map, &m, sizeof(m));
}

void launch(Function f, Dim3 grid, Dim3 block, int64_t sharedBytes,
            Stream stream, std::vector<void *> &params) {
  if (grid.x == 0 || grid.y == 0 || grid.z == 0)
    return; // nothing to do (e.g. no tokens)
  check(use().cuLaunchKernel(static_cast<CUfunction>(f), grid.x, grid.y, grid.z,
                             block.x, block.y, block.z, unsigned(sharedBytes),
                             static_cast<CUstream>(stream), params.data(),
                             nullptr),
        "cuLaunchKernel");
}

DeviceBuffer::DeviceBuffer(size_t n) : bytes(n) {
  CUdeviceptr p = 0;
  check(use().cuMemAlloc(&p, n ? n : 1), "cuMemAlloc");
  ptr = p;
}

DeviceBuffer::~DeviceBuffer() {
  if (ptr)
    driver().cuMemFree(CUdeviceptr(ptr));
}

void DeviceBuffer::copyFromHost(const void *src, size_t n) {
  if (n > bytes)
    throw Error("copyFromHost: " + std::to_string(n) + " bytes into a " +
                std::to_string(bytes) + "-byte buffer");
  if (n)
    check(use().cuMemcpyHtoD(CUdeviceptr(ptr), src, n), "cuMemcpyHtoD");
}

void DeviceBuffer::copyToHost(void *dst, size_t n) const {
  if (n > bytes)
    throw Error("copyToHost: " + std::to_string(n) + " bytes from a " +
                std::to_string(bytes) + "-byte buffer");
  if (n)
    check(use().cuMemcpyDtoH(dst, CUdeviceptr(ptr), n), "cuMemcpyDtoH");
}

void DeviceBuffer::fill(uint8_t value) {
  check(use().cuMemsetD8(CUdeviceptr(ptr), value, bytes), "cuMemsetD8");
}

void zeroAsync(void *words32, size_t words, Stream stream) {
  if (words)
    check(use().cuMemsetD32Async(CUdeviceptr(reinterpret_cast<uintptr_t>(
                                     words32)),
                                 0, words, static_cast<CUstream>(stream)),
          "cuMemsetD32Async");
}

void synchronize() { check(use().cuCtxSynchronize(), "cuCtxSynchronize"); }

void *createEvent() {
  CUevent e;
  check(use().cuEventCreate(&e, CU_EVENT_DEFAULT), "cuEventCreate");
  return e;
}
void destroyEvent(void *e) { driver().cuEventDestroy(static_cast<CUevent>(e)); }
void recordEvent(void *e, Stream s) {
  check(use().cuEventRecord(static_cast<CUevent>(e), static_cast<CUstream>(s)),
        "cuEventRecord");
}
float elapsedMs(void *start, void *stop) {
  check(use().cuEventSynchronize(static_cast<CUevent>(stop)),
        "cuEventSynchronize");
  float ms = 0;
  check(use().cuEventElapsedTime(&ms, static_cast<CUevent>(start),
                                 static_cast<CUevent>(stop)),
        "cuEventElapsedTime");
  return ms;
}

void requireAligned(std::initializer_list<Aligned> pointers) {
  for (Aligned a : pointers)
    if (reinterpret_cast<uintptr_t>(a.p) % a.bytes)
      throw InvalidInput(std::string("the kernel needs ") + a.name + " " +
                         std::to_string(a.bytes) + "-byte aligned");
}

void KernelArgs::addMemRef(void *ptr, const std::vector<int64_t> &sizes) {
  std::vector<int64_t> desc;
  int64_t p = int64_t(reinterpret_cast<intptr_t>(ptr));
  desc.push_back(p); // allocated
  desc.push_back(p); // aligned
  desc.push_back(0); // offset
  for (int64_t s : sizes)
    desc.push_back(s);
  std::vector<int64_t> strides(sizes.size());
  int64_t stride = 1;
  for (size_t i = sizes.size(); i-- > 0;) {
    strides[i] = stride;
    stride *= sizes[i];
  }
  desc.insert(desc.end(), strides.begin(), strides.end());
  storage.push_back(Entry{std::move(desc), /*whole=*/false});
  pointers.clear(); // rebuilt by params()
}

void KernelArgs::addBytes(const void *data, size_t n) {
  if (n % sizeof(int64_t))
    throw Error("addBytes: " + std::to_string(n) +
                " bytes is not a multiple of 8");
  std::vector<int64_t> words(n / sizeof(int64_t));
  std::memcpy(words.data(), data, n);
  storage.push_back(Entry{std::move(words), /*whole=*/true});
  pointers.clear();
}

std::vector<size_t> KernelArgs::sizes() const {
  std::vector<size_t> bytes;
  for (const Entry &e : storage) {
    if (e.whole)
      bytes.push_back(e.words.size() * sizeof(int64_t));
    else
      bytes.insert(bytes.end(), e.words.size(), sizeof(int64_t));
  }
  return bytes;
}

std::vector<void *> &KernelArgs::params() {
  pointers.clear();
  for (Entry &e : storage) {
    if (e.whole) {
      pointers.push_back(e.words.data());
      continue;
    }
    for (int64_t &v : e.words)
      pointers.push_back(&v);
  }
  return pointers;
}

} // namespace attn::rt
