//===- CApi.cpp - C API of the kernel runtime -----------------------------===//
//
// attn-c/Runtime.h over attn::rt::AttentionKernel: every call catches what
// the runtime throws and leaves its message for attnRtLastError().
//===----------------------------------------------------------------------===//

#include "attn-c/Runtime.h"

#include "attn/Runtime/Attention.h"

#include <exception>
#include <memory>
#include <optional>
#include <string>

using namespace attn::rt;

struct AttnRtKernel {
  std::string manifest;
  std::unique_ptr<AttentionKernel> kernel;
};

namespace {

thread_local std::string lastError;

/// Runs `fn`, turning what it throws into `failed` and lastError.
template <typename Result, typename Fn> Result guarded(Result failed, Fn &&fn) {
  try {
    lastError.clear();
    return fn();
  } catch (const std::exception &e) {
    lastError = e.what();
  } catch (...) {
    lastError = "unknown error";
  }
  return failed;
}

void require(bool ok, const char *what) {
  if (!ok)
    throw Error(what);
}

} // namespace

extern "C" {

const char *attnRtLastError(void) { return lastError.c_str(); }

int attnRtDriverAvailable(void) {
  std::string why;
  bool ok = driverAvailable(&why);
  lastError = ok ? "" : why;
  return ok ? 1 : 0;
}

AttnRtKernel *attnRtKernelLoad(const char *imagePath,
                               const char *manifestPath) {
  return guarded<AttnRtKernel *>(nullptr, [&] {
    require(imagePath, "attnRtKernelLoad: no image path");
    auto k = std::make_unique<AttnRtKernel>();
    // The manifest first: a bad one is an error without a device.
    k->manifest = readFile(manifestPath ? std::string(manifestPath)
                                        : std::string(imagePath) + ".json");
    KernelInfo info = parseManifest(k->manifest);
    if (info.direction != "forward")
      throw Error("attnRtKernelLoad: " + info.kernel +
                  " is a backward kernel; this API launches forward ones "
                  "(attnRtKernelLaunch)");
    std::string image = readFile(imagePath);
    initDevice();
    k->kernel = std::make_unique<AttentionKernel>(image, std::move(info));
    return k.release();
  });
}

void attnRtKernelDestroy(AttnRtKernel *kernel) {
  lastError.clear(); // (a call that succeeded, like every other)
  delete kernel;
}

const char *attnRtKernelManifest(const AttnRtKernel *kernel) {
  return guarded<const char *>(nullptr, [&] {
    require(kernel, "attnRtKernelManifest: no kernel");
    return kernel->manifest.c_str();
  });
}

int attnRtKernelLimitResidentBlocks(AttnRtKernel *kernel, int64_t blocks) {
  return guarded(1, [&] {
    require(kernel, "attnRtKernelLimitResidentBlocks: no kernel");
    require(blocks >= 1,
            "attnRtKernelLimitResidentBlocks: blocks must be at least 1");
    kernel->kernel->limitResidentBlocks(blocks);
    return 0;
  });
}

int attnRtKernelLaunch(const AttnRtKernel *kernel, const int32_t *cuHost,
                       int64_t cuCount, int64_t tokens, void *cuDevice, void *q,
                       void *k, void *v, void *out, void *lse, void *stream) {
  return guarded(1, [&] {
    require(kernel, "attnRtKernelLaunch: no kernel");
    require(cuHost || cuCount == 0, "attnRtKernelLaunch: no cu_seqlens");
    require(cuCount >= 0, "attnRtKernelLaunch: negative cu_seqlens count");
    if (tokens > 0)
      require(cuDevice && q && k && v && out && lse,
              "attnRtKernelLaunch: a null device pointer");
    // (It checks cu_seqlens against `tokens` first.) On any thread: the
    // kernel's context (device 0's primary) for the launch, the caller's
    // after it.
    std::optional<DeviceScope> scope;
    if (tokens > 0)
      scope.emplace(0);
    kernel->kernel->launch(cuHost, cuCount, tokens, cuDevice, q, k, v, out, lse,
                           stream);
    return 0;
  });
}

} // extern "C"
