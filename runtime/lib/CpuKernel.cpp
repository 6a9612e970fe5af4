//===- CpuKernel.cpp - calling compiled CPU kernels -----------------------===//

#include "attn/Runtime/CpuKernel.h"
#include "attn/Support/EntryNames.h"

#include <dlfcn.h>

namespace attn::rt {

namespace {
/// A memref descriptor of the C interface (mlir/ExecutionEngine/
/// CRunnerUtils.h's StridedMemRefType), contiguous.
template <int N> struct Descriptor {
  const void *allocated;
  const void *aligned;
  int64_t offset;
  int64_t sizes[N];
  int64_t strides[N];
  Descriptor(const void *data, std::array<int64_t, N> shape)
      : allocated(data), aligned(data), offset(0) {
    int64_t stride = 1;
    for (int i = N - 1; i >= 0; --i) {
      sizes[i] = shape[i];
      strides[i] = stride;
      stride *= shape[i];
    }
  }
};
} // namespace

void callCpuForward(void *entry, const host::AttentionSpec &s,
                    const CpuTensors &t) {
  int64_t n = t.tokens;
  Descriptor<3> q(t.q, {n, s.heads, s.headDim});
  Descriptor<3> k(t.k, {n, s.kvHeads, s.headDim});
  Descriptor<3> v(t.v, {n, s.kvHeads, s.valueDim});
  Descriptor<1> cu(t.cu, {t.cuEntries});
  Descriptor<3> out(t.out, {n, s.heads, s.valueDim});
  Descriptor<2> lse(t.lse, {s.heads, n});
  using Fn = void (*)(void *, void *, void *, void *, void *, void *);
  reinterpret_cast<Fn>(entry)(&q, &k, &v, &cu, &out, &lse);
}

void callCpuBackward(void *entry, const host::AttentionSpec &s,
                     const CpuTensors &t) {
  int64_t n = t.tokens;
  Descriptor<3> q(t.q, {n, s.heads, s.headDim});
  Descriptor<3> k(t.k, {n, s.kvHeads, s.headDim});
  Descriptor<3> v(t.v, {n, s.kvHeads, s.valueDim});
  Descriptor<1> cu(t.cu, {t.cuEntries});
  Descriptor<3> out(t.out, {n, s.heads, s.valueDim});
  Descriptor<2> lse(t.lse, {s.heads, n});
  Descriptor<3> dout(t.dout, {n, s.heads, s.valueDim});
  Descriptor<3> dq(t.dq, {n, s.heads, s.headDim});
  Descriptor<3> dk(t.dk, {n, s.kvHeads, s.headDim});
  Descriptor<3> dv(t.dv, {n, s.kvHeads, s.valueDim});
  using Fn = void (*)(void *, void *, void *, void *, void *, void *, void *,
                      void *, void *, void *);
  reinterpret_cast<Fn>(entry)(&q, &k, &v, &cu, &out, &lse, &dout, &dq, &dk,
                              &dv);
}

CpuKernel::CpuKernel(const std::string &path, KernelConfig config)
    : kernelConfig(std::move(config)) {
  if (!kernelConfig.cpu())
    throw Error("not a CPU kernel: " + kernelConfig.describe());
  handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle)
    throw Error("cannot load the CPU kernel " + path + ": " + dlerror());
  std::string name =
      std::string(kCInterfacePrefix) +
      (kernelConfig.direction == Direction::Forward ? kAttentionEntry
                                                    : kAttentionGradEntry);
  entry = dlsym(handle, name.c_str());
  if (!entry) {
    dlclose(handle);
    throw Error("the CPU kernel " + path + " has no " + name);
  }
}

CpuKernel::~CpuKernel() { dlclose(handle); }

void CpuKernel::run(const CpuTensors &t) const {
  if (auto why = mask::validateCuSeqlens(t.cu, t.cuEntries, t.tokens))
    throw Error("invalid cu_seqlens: " + *why);
  if (t.tokens == 0)
    return;
  if (kernelConfig.direction == Direction::Forward)
    callCpuForward(entry, kernelConfig.shape, t);
  else
    callCpuBackward(entry, kernelConfig.shape, t);
}

} // namespace attn::rt
