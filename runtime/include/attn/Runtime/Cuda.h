//===- Cuda.h - a small runtime over the CUDA driver API ------*- C++ -*-===//
//
// Loads PTX or cubin images, looks up kernels, raises their dynamic shared
// memory limit, launches them on a caller's stream, and turns every CUDA
// error into an attn::rt::Error naming the call that failed. The driver
// (libcuda.so.1) is opened at run time, so this library builds and links
// without a GPU or driver; driverAvailable() says whether one is usable.
// No MLIR dependency.
//===----------------------------------------------------------------------===//

#ifndef ATTN_RUNTIME_CUDA_H
#define ATTN_RUNTIME_CUDA_H

#include "attn/Runtime/Files.h"

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace attn::rt {

/// Whether a CUDA driver and at least one device can be used; if not,
/// `why` says why.
bool driverAvailable(std::string *why = nullptr);

/// Device `ordinal`'s primary context (the one the CUDA runtime, and so
/// PyTorch, uses; retained once per process), made current on this thread
/// unless it is; cheap enough to call before every launch. Returns the
/// context that was current before (a CUcontext, or null).
void *initDevice(std::string *deviceName = nullptr, int ordinal = 0);

/// initDevice(nullptr, ordinal) for a scope: the thread's current context
/// before it is current again after it, so that a launch on another device
/// leaves the caller's current device (PyTorch's, say) as it was.
class DeviceScope {
public:
  explicit DeviceScope(int ordinal);
  ~DeviceScope();
  DeviceScope(const DeviceScope &) = delete;
  DeviceScope &operator=(const DeviceScope &) = delete;

private:
  void *previous = nullptr; // CUcontext, or none
};

using Stream = void *;   // CUstream (nullptr: the default stream)
using Function = void *; // CUfunction

/// A loaded image (cuModuleLoadData). PTX must be NUL-terminated text.
class Module {
public:
  explicit Module(const std::string &image);
  ~Module();
  Module(const Module &) = delete;
  Module &operator=(const Module &) = delete;
  Function function(const std::string &name) const;

private:
  void *module = nullptr; // CUmodule
};

/// Throws Error unless kernel `f` (named `name`) declares parameters of
/// exactly `sizes` bytes, in that order, so that a manifest describing
/// another image's kernel is refused at load rather than launched with
/// parameters the kernel reads past. Checks what the driver can say:
/// nothing before CUDA 12.4 (cuFuncGetParamInfo), the manifest's
/// parameters but not whether the image has more before 13.2
/// (cuFuncGetParamCount).
void requireParameters(Function f, const std::string &name,
                       const std::vector<size_t> &sizes);

/// Raises the kernel's dynamic shared memory limit to `bytes` where needed.
void setMaxDynamicSharedMemory(Function f, int64_t bytes);

struct Dim3 {
  unsigned x = 1, y = 1, z = 1;
};

/// How many blocks of `f` (with `blockThreads` threads and `sharedBytes` of
/// dynamic shared memory) the current context's device runs at once: its
/// occupancy per SM times the SMs. Throws Error if a block does not fit.
int64_t residentBlocks(Function f, int blockThreads, int64_t sharedBytes);

/// A tiled tensor map over a 3-D tensor of 16-bit elements, for TMA
/// (cp.async.bulk.tensor): dims and box innermost first, the byte strides
/// of dims 1 and 2 (dim 0 is contiguous).
struct TensorMapSpec {
  bool bf16 = true; // else f16
  uint64_t dims[3] = {0, 0, 0};
  uint64_t strides[2] = {0, 0};
  uint32_t box[3] = {0, 0, 0};
};

/// Bytes of a CUtensorMap.
constexpr size_t kTensorMapBytes = 128;

/// Encodes `spec` over device memory `global` (cuTensorMapEncodeTiled:
/// 128-byte swizzle, out-of-bounds elements read as zeros) into `map`
/// (kTensorMapBytes). Throws Error if the driver refuses it.
void encodeTensorMap(void *map, const TensorMapSpec &spec, void *global);

/// Launches `f` with kernel parameters `params` (pointers to each argument).
void launch(Function f, Dim3 grid, Dim3 block, int64_t sharedBytes,
            Stream stream, std::vector<void *> &params);

/// Device memory.
class DeviceBuffer {
public:
  explicit DeviceBuffer(size_t bytes);
  ~DeviceBuffer();
  DeviceBuffer(const DeviceBuffer &) = delete;
  DeviceBuffer &operator=(const DeviceBuffer &) = delete;
  void *data() const { return reinterpret_cast<void *>(ptr); }
  size_t size() const { return bytes; }
  void copyFromHost(const void *src, size_t n);
  void copyToHost(void *dst, size_t n) const;
  /// Sets every byte to `value` (0xff makes NaN of f32, f16 and bf16).
  void fill(uint8_t value);

private:
  uint64_t ptr = 0; // CUdeviceptr
  size_t bytes = 0;
};

/// Sets `words` 32-bit words at `words32` (4-byte aligned device memory) to
/// zero, in order on `stream` (captured by a CUDA graph like a launch).
void zeroAsync(void *words32, size_t words, Stream stream);

/// Waits for all work on the current context.
void synchronize();

/// Elapsed milliseconds of `fn` on `stream`, measured with CUDA events.
template <typename Fn> float timeMs(Stream stream, Fn &&fn);
float elapsedMs(void *start, void *stop);
void *createEvent();
void destroyEvent(void *event);
void recordEvent(void *event, Stream stream);

template <typename Fn> float timeMs(Stream stream, Fn &&fn) {
  void *start = createEvent(), *stop = createEvent();
  recordEvent(start, stream);
  fn();
  recordEvent(stop, stream);
  float ms = elapsedMs(start, stop);
  destroyEvent(start);
  destroyEvent(stop);
  return ms;
}

/// A pointer a kernel needs aligned to `bytes`, and the check of a launch's
/// pointers: throws InvalidInput naming the first misaligned one.
struct Aligned {
  const char *name;
  const void *p;
  uintptr_t bytes;
};
void requireAligned(std::initializer_list<Aligned> pointers);

/// Kernel parameters for MLIR's default memref calling convention: each
/// memref becomes (allocated ptr, aligned ptr, offset, sizes..., strides...);
/// and by-value parameters of a few bytes (tensor maps).
class KernelArgs {
public:
  void addMemRef(void *ptr, const std::vector<int64_t> &sizes);
  /// One parameter of `n` bytes (a multiple of 8) copied from `data`.
  void addBytes(const void *data, size_t n);
  std::vector<void *> &params();
  /// Each parameter's bytes, in order.
  std::vector<size_t> sizes() const;

private:
  // Stable storage: every value keeps its address once added. `whole`:
  // the words are one parameter, else each word is one.
  struct Entry {
    std::vector<int64_t> words;
    bool whole = false;
  };
  std::vector<Entry> storage;
  std::vector<void *> pointers;
};

} // namespace attn::rt

#endif // ATTN_RUNTIME_CUDA_H
