//===- AttnOptModule.cpp - attn_opt._C, the Python face of the JIT -------===//
//
// Kernels by configuration (attn::rt::KernelLibrary: memory, the disk cache,
// and the compiler when this build has one), run on memory the caller owns
// (PyTorch tensors: data pointers, no copies): CPU kernels here, NVIDIA
// kernels through the CUDA runtime on the caller's stream. No MLIR types
// appear here; the GIL is released while a kernel runs.
//===----------------------------------------------------------------------===//

#include "attn/Runtime/KernelLibrary.h"
#include "attn/Support/HeadDims.h"
#include "attn/Support/Scale.h"
#ifdef ATTN_PYTHON_COMPILER
#include "attn/JIT/Compiler.h"
#endif
#ifdef ATTN_HAVE_CUDA_RUNTIME
#include "attn/Runtime/Attention.h"
#include "attn/Runtime/SequenceKernel.h"
#endif

#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/unique_ptr.h>

#include <map>
#include <memory>
#include <mutex>
#include <type_traits>

namespace nb = nanobind;
using namespace attn;

namespace {

template <typename T = void> T *ptr(uintptr_t p) {
  return reinterpret_cast<T *>(p);
}

/// One kernel, and for NVIDIA its module loaded on each device used.
class Kernel {
public:
  explicit Kernel(std::shared_ptr<const rt::LoadedKernel> k)
      : kernel(std::move(k)) {}

  std::string config() const { return kernel->config.canonical(); }
  std::string manifestPath() const { return kernel->entry.manifestPath; }

  /// A CPU kernel's forward (dout, dq, dk, dv 0) or backward.
  void runCpu(int64_t tokens, uintptr_t cu, int64_t cuEntries, uintptr_t q,
              uintptr_t k, uintptr_t v, uintptr_t out, uintptr_t lse,
              uintptr_t dout, uintptr_t dq, uintptr_t dk, uintptr_t dv) const {
    if (!kernel->cpu)
      throw rt::Error("not a CPU kernel: " + kernel->config.describe());
    rt::CpuTensors t;
    t.tokens = tokens;
    t.cu = ptr<const int32_t>(cu);
    t.cuEntries = cuEntries;
    t.q = ptr(q), t.k = ptr(k), t.v = ptr(v);
    t.out = ptr(out);
    t.lse = ptr<float>(lse);
    t.dout = ptr(dout);
    t.dq = ptr(dq), t.dk = ptr(dk), t.dv = ptr(dv);
    kernel->cpu->run(t);
  }

  /// An NVIDIA kernel's forward on device `device` and `stream` (a
  /// cudaStream_t as an integer) with the caller's zeroed tile counter (a
  /// device i32 for that stream); cu_seqlens are not checked here (the
  /// caller checks them on the device).
  void launchCuda(int device, int64_t tokens, uintptr_t cu, int64_t cuEntries,
                  uintptr_t q, uintptr_t k, uintptr_t v, uintptr_t out,
                  uintptr_t lse, uintptr_t stream, uintptr_t tileCounter) {
#ifdef ATTN_HAVE_CUDA_RUNTIME
    rt::DeviceScope scope(device);
    onDevice(devices, device, rt::parseManifest)
        ->launch(nullptr, cuEntries, tokens, ptr(cu), ptr(q), ptr(k), ptr(v),
                 ptr(out), ptr(lse), ptr(stream), ptr(tileCounter));
#else
    noCuda();
#endif
  }

  /// A CPU sequence helper's kernel (CpuKernel::runSequence).
  void runCpuSequence(uintptr_t in, int64_t inEntries, uintptr_t out,
                      int64_t outEntries) const {
    if (!kernel->cpu)
      throw rt::Error("not a CPU kernel: " + kernel->config.describe());
    kernel->cpu->runSequence(ptr(in), inEntries, ptr(out), outEntries);
  }

  /// An NVIDIA sequence helper's kernel (rt::SequenceKernel::launch) on
  /// device `device` and `stream`.
  void launchCudaSequence(int device, uintptr_t in, int64_t inEntries,
                          uintptr_t out, int64_t outEntries,
                          uintptr_t stream) {
#ifdef ATTN_HAVE_CUDA_RUNTIME
    rt::DeviceScope scope(device);
    onDevice(sequenceKernels, device, rt::parseSequenceManifest)
        ->launch(ptr(in), inEntries, ptr(out), outEntries, ptr(stream));
#else
    noCuda();
#endif
  }

  /// check_cu_seqlens' CPU kernel (CpuKernel::runCheckCuSeqlens).
  void runCpuCheckCuSeqlens(uintptr_t cu, int64_t entries, int64_t tokens,
                            uintptr_t errors) const {
    if (!kernel->cpu)
      throw rt::Error("not a CPU kernel: " + kernel->config.describe());
    kernel->cpu->runCheckCuSeqlens(ptr<const int32_t>(cu), entries, tokens,
                                   ptr<int32_t>(errors));
  }

  /// check_cu_seqlens' NVIDIA kernel (rt::SequenceKernel::checkCuSeqlens)
  /// on device `device` and `stream`.
  void launchCudaCheckCuSeqlens(int device, uintptr_t cu, int64_t entries,
                                int64_t tokens, uintptr_t errors,
                                uintptr_t stream) {
#ifdef ATTN_HAVE_CUDA_RUNTIME
    rt::DeviceScope scope(device);
    onDevice(sequenceKernels, device, rt::parseSequenceManifest)
        ->checkCuSeqlens(ptr<const int32_t>(cu), entries, tokens,
                         ptr<int32_t>(errors), ptr(stream));
#else
    noCuda();
#endif
  }

  /// An NVIDIA backward kernel, likewise; `dqAccumulator` (f32
  /// [T, Hq, D]) for a kernel that adds dq atomically, else 0.
  void launchCudaBackward(int device, int64_t tokens, uintptr_t cu,
                          int64_t cuEntries, uintptr_t q, uintptr_t k,
                          uintptr_t v, uintptr_t out, uintptr_t lse,
                          uintptr_t dout, uintptr_t dq, uintptr_t dk,
                          uintptr_t dv, uintptr_t dqAccumulator,
                          uintptr_t stream) {
#ifdef ATTN_HAVE_CUDA_RUNTIME
    rt::GradTensors t{ptr(q),    ptr(k),  ptr(v),  ptr(out), ptr(lse),
                      ptr(dout), ptr(dq), ptr(dk), ptr(dv),
                      ptr(dqAccumulator)};
    rt::DeviceScope scope(device);
    onDevice(devices, device, rt::parseManifest)
        ->launchBackward(nullptr, cuEntries, tokens, ptr(cu), t, ptr(stream));
#else
    noCuda();
#endif
  }

private:
  std::shared_ptr<const rt::LoadedKernel> kernel;
#ifdef ATTN_HAVE_CUDA_RUNTIME
  std::mutex mutex;
  std::map<int, std::unique_ptr<rt::AttentionKernel>> devices;
  std::map<int, std::unique_ptr<rt::SequenceKernel>> sequenceKernels;

  /// The kernel loaded on device `device` (once: `loaded` holds it, its
  /// launch contract read with `parse`), called in an rt::DeviceScope of
  /// that device. An attention kernel (rt::AttentionKernel) or a sequence
  /// helper's (rt::SequenceKernel), as the configuration says.
  template <typename K, typename Parse>
  const K *onDevice(std::map<int, std::unique_ptr<K>> &loaded, int device,
                    Parse parse) {
    bool sequence = std::is_same_v<K, rt::SequenceKernel>;
    if (kernel->cpu || kernel->config.isSequence() != sequence)
      throw rt::Error(std::string("not an NVIDIA ") +
                      (sequence ? "sequence helper's" : "attention") +
                      " kernel: " + kernel->config.describe());
    std::lock_guard<std::mutex> lock(mutex);
    std::unique_ptr<K> &slot = loaded[device];
    if (!slot)
      slot = std::make_unique<K>(kernel->entry.binary,
                                 parse(kernel->entry.launch));
    return slot.get();
  }
#else
  [[noreturn]] static void noCuda() {
    throw rt::Error("this build of attn_opt has no CUDA runtime (cuda.h was "
                    "not found when it was built)");
  }
#endif
};

class Library {
public:
  Library(const std::string &dir, bool compile)
      : library(dir.empty() ? rt::KernelCache::defaultDir() : dir,
                compile ? compiler() : nullptr) {}

  std::unique_ptr<Kernel> get(const std::string &configJson) {
    rt::KernelConfig config;
    if (auto why = rt::parseKernelConfig(configJson, config))
      throw nb::value_error(why->c_str());
    return std::make_unique<Kernel>(library.get(config));
  }

  nb::dict stats() const {
    rt::KernelLibrary::Stats s = library.stats();
    nb::dict d;
    d["memory_hits"] = s.memoryHits;
    d["disk_hits"] = s.diskHits;
    d["compiled"] = s.compiled;
    d["replaced_corrupt"] = s.replacedCorrupt;
    return d;
  }

  std::string dir() const { return library.cache().dir(); }
  bool canCompile() const { return library.canCompile(); }

private:
  rt::KernelLibrary library;

  static std::shared_ptr<rt::Compiler> compiler() {
#ifdef ATTN_PYTHON_COMPILER
    return jit::makeCompiler();
#else
    return nullptr;
#endif
  }
};

} // namespace

NB_MODULE(_C, m) {
  m.doc() = "attn-opt's kernel library: compiled kernels by configuration";
  // Input a kernel cannot take is the caller's ValueError; the runtime's
  // other errors stay RuntimeErrors.
  nb::register_exception_translator([](const std::exception_ptr &p, void *) {
    try {
      std::rethrow_exception(p);
    } catch (const rt::InvalidInput &e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    }
  });
#ifdef ATTN_PYTHON_COMPILER
  m.attr("has_compiler") = true;
  m.attr("compiler_version") = jit::compilerVersion();
#else
  m.attr("has_compiler") = false;
  m.attr("compiler_version") = nb::none();
#endif
#ifdef ATTN_HAVE_CUDA_RUNTIME
  m.attr("has_cuda_runtime") = true;
#else
  m.attr("has_cuda_runtime") = false;
#endif
  m.def("default_cache_dir", &rt::KernelCache::defaultDir);
  nb::list headDims;
  for (int64_t d : kHeadDims)
    headDims.append(d);
  m.attr("head_dims") = nb::tuple(headDims);
  // The kernels' scales (Scale.h), checked and worded as the runtime does.
  m.def("is_supported_scale", &attn::isSupportedScale, nb::arg("scale"));
  m.attr("scale_rule") = attn::scaleRule();
  m.def("backward_column_parts", &attn::backwardColumnParts, nb::arg("d"),
        nb::arg("dv"));

  nb::class_<Kernel>(m, "Kernel")
      .def_prop_ro("config", &Kernel::config)
      .def_prop_ro("manifest_path", &Kernel::manifestPath)
      .def("run_cpu", &Kernel::runCpu, nb::call_guard<nb::gil_scoped_release>())
      .def("launch_cuda", &Kernel::launchCuda,
           nb::call_guard<nb::gil_scoped_release>())
      .def("launch_cuda_backward", &Kernel::launchCudaBackward,
           nb::call_guard<nb::gil_scoped_release>())
      .def("run_cpu_sequence", &Kernel::runCpuSequence,
           nb::call_guard<nb::gil_scoped_release>())
      .def("launch_cuda_sequence", &Kernel::launchCudaSequence,
           nb::call_guard<nb::gil_scoped_release>())
      .def("run_cpu_check_cu_seqlens", &Kernel::runCpuCheckCuSeqlens,
           nb::call_guard<nb::gil_scoped_release>())
      .def("launch_cuda_check_cu_seqlens", &Kernel::launchCudaCheckCuSeqlens,
           nb::call_guard<nb::gil_scoped_release>());

  nb::class_<Library>(m, "Library")
      .def(nb::init<const std::string &, bool>(), nb::arg("cache_dir"),
           nb::arg("compile"))
      .def("get", &Library::get, nb::call_guard<nb::gil_scoped_release>())
      .def("stats", &Library::stats)
      .def_prop_ro("cache_dir", &Library::dir)
      .def_prop_ro("can_compile", &Library::canCompile);
}
