//===- FakeCudaDriver.cpp - a recording stand-in for libcuda.so.1 ---------===//
//
// Built as libcuda.so.1 in a directory of its own: a process started with
// that directory on LD_LIBRARY_PATH runs the runtime (which opens
// libcuda.so.1 with dlopen) against it, without a GPU. It implements the
// driver entry points the runtime uses on host memory and writes what the
// runtime asked for, one JSON object per line, to $ATTN_FAKE_CUDA_LOG:
// allocations, memsets, attributes, tensor-map encodings and launches, with
// each kernel parameter's bytes (sizes from the PTX image's .entry, so the
// runtime's parameters can be compared with what the kernel declares, and
// cuFuncGetParamInfo and cuFuncGetParamCount answer from them; with
// $ATTN_FAKE_CUDA_NO_PARAM_COUNT set the latter fails, as for a driver
// before CUDA 13.2; built with ATTN_FAKE_CUDA_BEFORE_12_4, the library
// lacks both, as drivers before CUDA 12.4 do).
// Kernels do not run: a launch writes nothing. One device, 132 SMs;
// $ATTN_FAKE_CUDA_BLOCKS_PER_SM blocks per SM (default 1).
//
// A tensor map is encoded as the bytes "FAKEMAP" and a sequence number,
// which the "encode" record with that number describes.
//===----------------------------------------------------------------------===//

#include <cuda.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct FakeModule {
  std::string ptx;
};

struct FakeFunction {
  std::string name;
  std::vector<size_t> paramBytes, paramOffsets;
};

std::mutex mutex;
std::vector<std::unique_ptr<FakeModule>> modules;
std::vector<std::unique_ptr<FakeFunction>> functions;
uint64_t nextMapId = 1;
int fakeContext, fakeEvent;

void record(const std::string &json) {
  const char *path = std::getenv("ATTN_FAKE_CUDA_LOG");
  if (!path)
    return;
  if (FILE *f = std::fopen(path, "a")) {
    std::fprintf(f, "%s\n", json.c_str());
    std::fclose(f);
  }
}

std::string hex(const void *data, size_t n) {
  static const char *digits = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    unsigned char c = static_cast<const unsigned char *>(data)[i];
    s += digits[c >> 4];
    s += digits[c & 15];
  }
  return s;
}

template <typename T> std::string list(const T *v, int n) {
  std::ostringstream s;
  s << "[";
  for (int i = 0; i < n; ++i)
    s << (i ? ", " : "") << uint64_t(v[i]);
  s << "]";
  return s.str();
}

/// The byte sizes and offsets of the parameters of entry `name` in `ptx`
/// (each at its .align, else its element's size); false if it has no such
/// entry.
bool entryParams(const std::string &ptx, const std::string &name,
                 FakeFunction &fn) {
  size_t at = ptx.find(".entry " + name + "(");
  if (at == std::string::npos)
    return false;
  size_t end = ptx.find(')', at);
  std::string decl = ptx.substr(at, end - at);
  static const std::regex param(
      R"(\.param\s+(?:\.align\s+(\d+)\s+)?\.([busf])(\d+)(?:\s+\.ptr[^,]*?)?\s+[\w$]+(?:\[(\d+)\])?)");
  size_t offset = 0;
  for (std::sregex_iterator it(decl.begin(), decl.end(), param), e; it != e;
       ++it) {
    size_t bytes = std::stoul((*it)[3]) / 8;
    size_t align = (*it)[1].matched ? std::stoul((*it)[1]) : bytes;
    size_t count = (*it)[4].matched ? std::stoul((*it)[4]) : 1;
    offset = (offset + align - 1) / align * align;
    fn.paramOffsets.push_back(offset);
    fn.paramBytes.push_back(bytes * count);
    offset += bytes * count;
  }
  return true;
}

} // namespace

extern "C" {

CUresult cuInit(unsigned int) { return CUDA_SUCCESS; }

CUresult cuGetErrorName(CUresult r, const char **s) {
  *s = r == CUDA_SUCCESS ? "CUDA_SUCCESS" : "CUDA_ERROR_FAKE";
  return CUDA_SUCCESS;
}

CUresult cuGetErrorString(CUresult, const char **s) {
  *s = "an error of the fake driver";
  return CUDA_SUCCESS;
}

CUresult cuDeviceGetCount(int *n) {
  *n = 1;
  return CUDA_SUCCESS;
}

CUresult cuDeviceGet(CUdevice *d, int ordinal) {
  if (ordinal != 0)
    return CUDA_ERROR_INVALID_DEVICE;
  *d = 0;
  return CUDA_SUCCESS;
}

CUresult cuDeviceGetName(char *name, int len, CUdevice) {
  std::snprintf(name, size_t(len), "fake CUDA driver (no GPU)");
  return CUDA_SUCCESS;
}

CUresult cuDevicePrimaryCtxRetain(CUcontext *ctx, CUdevice) {
  *ctx = reinterpret_cast<CUcontext>(&fakeContext);
  return CUDA_SUCCESS;
}

/// The thread's current context: none until one is set.
static thread_local CUcontext currentContext = nullptr;

CUresult cuCtxSetCurrent(CUcontext ctx) {
  currentContext = ctx;
  return CUDA_SUCCESS;
}
CUresult cuCtxGetCurrent(CUcontext *ctx) {
  *ctx = currentContext;
  return CUDA_SUCCESS;
}
CUresult cuCtxSynchronize(void) { return CUDA_SUCCESS; }

CUresult cuCtxGetDevice(CUdevice *d) {
  *d = 0;
  return CUDA_SUCCESS;
}

CUresult cuDeviceGetAttribute(int *v, CUdevice_attribute attr, CUdevice) {
  *v = attr == CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT ? 132 : 0;
  return CUDA_SUCCESS;
}

CUresult cuOccupancyMaxActiveBlocksPerMultiprocessor(int *n, CUfunction, int,
                                                     size_t) {
  const char *env = std::getenv("ATTN_FAKE_CUDA_BLOCKS_PER_SM");
  *n = env ? std::atoi(env) : 1;
  return CUDA_SUCCESS;
}

CUresult cuModuleLoadData(CUmodule *m, const void *image) {
  const char *text = static_cast<const char *>(image);
  // PTX only: a cubin's parameter sizes are not read here.
  if (!std::strstr(text, ".entry"))
    return CUDA_ERROR_INVALID_IMAGE;
  std::lock_guard<std::mutex> lock(mutex);
  modules.push_back(std::make_unique<FakeModule>(FakeModule{text}));
  *m = reinterpret_cast<CUmodule>(modules.back().get());
  return CUDA_SUCCESS;
}

CUresult cuModuleUnload(CUmodule) { return CUDA_SUCCESS; }

CUresult cuModuleGetFunction(CUfunction *f, CUmodule m, const char *name) {
  auto *module = reinterpret_cast<FakeModule *>(m);
  auto fn = std::make_unique<FakeFunction>();
  fn->name = name;
  if (!entryParams(module->ptx, name, *fn))
    return CUDA_ERROR_NOT_FOUND;
  std::lock_guard<std::mutex> lock(mutex);
  functions.push_back(std::move(fn));
  *f = reinterpret_cast<CUfunction>(functions.back().get());
  return CUDA_SUCCESS;
}

#ifndef ATTN_FAKE_CUDA_BEFORE_12_4
CUresult cuFuncGetParamInfo(CUfunction f, size_t index, size_t *offset,
                            size_t *size) {
  auto *fn = reinterpret_cast<FakeFunction *>(f);
  if (!offset || index >= fn->paramBytes.size())
    return CUDA_ERROR_INVALID_VALUE;
  *offset = fn->paramOffsets[index];
  if (size)
    *size = fn->paramBytes[index];
  return CUDA_SUCCESS;
}

// (CUDA 13.2's: this cuda.h may not declare it.)
CUresult cuFuncGetParamCount(CUfunction f, size_t *count) {
  if (!count || std::getenv("ATTN_FAKE_CUDA_NO_PARAM_COUNT"))
    return CUDA_ERROR_NOT_SUPPORTED;
  *count = reinterpret_cast<FakeFunction *>(f)->paramBytes.size();
  return CUDA_SUCCESS;
}
#endif

CUresult cuFuncSetAttribute(CUfunction f, CUfunction_attribute attr,
                            int value) {
  std::ostringstream s;
  s << R"({"call": "set_attribute", "kernel": ")"
    << reinterpret_cast<FakeFunction *>(f)->name << R"(", "attribute": )"
    << int(attr) << R"(, "value": )" << value << "}";
  record(s.str());
  return CUDA_SUCCESS;
}

CUresult cuLaunchKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz,
                        unsigned bx, unsigned by, unsigned bz, unsigned smem,
                        CUstream stream, void **params, void **extra) {
  auto *fn = reinterpret_cast<FakeFunction *>(f);
  if (extra)
    return CUDA_ERROR_INVALID_VALUE;
  std::ostringstream s;
  s << R"({"call": "launch", "kernel": ")" << fn->name << R"(", "grid": [)"
    << gx << ", " << gy << ", " << gz << "], \"block\": [" << bx << ", " << by
    << ", " << bz << "], \"shared\": " << smem
    << ", \"stream\": " << reinterpret_cast<uintptr_t>(stream)
    << ", \"params\": [";
  for (size_t i = 0; i < fn->paramBytes.size(); ++i)
    s << (i ? ", " : "") << '"' << hex(params[i], fn->paramBytes[i]) << '"';
  s << "]}";
  record(s.str());
  return CUDA_SUCCESS;
}

CUresult cuTensorMapEncodeTiled(
    CUtensorMap *map, CUtensorMapDataType type, cuuint32_t rank, void *global,
    const cuuint64_t *dims, const cuuint64_t *strides, const cuuint32_t *box,
    const cuuint32_t *elementStrides, CUtensorMapInterleave interleave,
    CUtensorMapSwizzle swizzle, CUtensorMapL2promotion l2,
    CUtensorMapFloatOOBfill fill) {
  if (rank < 1 || rank > 5)
    return CUDA_ERROR_INVALID_VALUE;
  uint64_t id;
  {
    std::lock_guard<std::mutex> lock(mutex);
    id = nextMapId++;
  }
  std::memset(map, 0, sizeof(*map));
  std::memcpy(map, "FAKEMAP", 8);
  std::memcpy(reinterpret_cast<char *>(map) + 8, &id, sizeof(id));
  std::ostringstream s;
  s << R"({"call": "encode", "id": )" << id << R"(, "type": )" << int(type)
    << R"(, "global": )" << reinterpret_cast<uintptr_t>(global)
    << R"(, "dims": )" << list(dims, int(rank)) << R"(, "strides": )"
    << list(strides, int(rank) - 1) << R"(, "box": )" << list(box, int(rank))
    << R"(, "element_strides": )" << list(elementStrides, int(rank))
    << R"(, "interleave": )" << int(interleave) << R"(, "swizzle": )"
    << int(swizzle) << R"(, "l2": )" << int(l2) << R"(, "fill": )" << int(fill)
    << "}";
  record(s.str());
  return CUDA_SUCCESS;
}

CUresult cuMemAlloc(CUdeviceptr *p, size_t n) {
  void *mem = std::malloc(n);
  if (!mem)
    return CUDA_ERROR_OUT_OF_MEMORY;
  *p = CUdeviceptr(reinterpret_cast<uintptr_t>(mem));
  record(R"({"call": "alloc", "ptr": )" + std::to_string(*p) +
         R"(, "bytes": )" + std::to_string(n) + "}");
  return CUDA_SUCCESS;
}

CUresult cuMemFree(CUdeviceptr p) {
  std::free(reinterpret_cast<void *>(uintptr_t(p)));
  return CUDA_SUCCESS;
}

CUresult cuMemcpyHtoD(CUdeviceptr dst, const void *src, size_t n) {
  std::memcpy(reinterpret_cast<void *>(uintptr_t(dst)), src, n);
  return CUDA_SUCCESS;
}

CUresult cuMemcpyDtoH(void *dst, CUdeviceptr src, size_t n) {
  std::memcpy(dst, reinterpret_cast<const void *>(uintptr_t(src)), n);
  return CUDA_SUCCESS;
}

CUresult cuMemsetD8(CUdeviceptr p, unsigned char value, size_t n) {
  std::memset(reinterpret_cast<void *>(uintptr_t(p)), value, n);
  record(R"({"call": "memset", "ptr": )" + std::to_string(p) +
         R"(, "value": )" + std::to_string(value) + R"(, "bytes": )" +
         std::to_string(n) + "}");
  return CUDA_SUCCESS;
}

CUresult cuMemsetD32Async(CUdeviceptr p, unsigned int value, size_t n,
                          CUstream stream) {
  auto *words = reinterpret_cast<unsigned int *>(uintptr_t(p));
  std::fill(words, words + n, value);
  record(R"({"call": "memset32", "ptr": )" + std::to_string(p) +
         R"(, "value": )" + std::to_string(value) + R"(, "words": )" +
         std::to_string(n) + R"(, "stream": )" +
         std::to_string(reinterpret_cast<uintptr_t>(stream)) + "}");
  return CUDA_SUCCESS;
}

CUresult cuEventCreate(CUevent *e, unsigned int) {
  *e = reinterpret_cast<CUevent>(&fakeEvent);
  return CUDA_SUCCESS;
}

CUresult cuEventDestroy(CUevent) { return CUDA_SUCCESS; }
CUresult cuEventRecord(CUevent, CUstream) { return CUDA_SUCCESS; }
CUresult cuEventSynchronize(CUevent) { return CUDA_SUCCESS; }

CUresult cuEventElapsedTime(float *ms, CUevent, CUevent) {
  *ms = 1.0f;
  return CUDA_SUCCESS;
}

} // extern "C"
