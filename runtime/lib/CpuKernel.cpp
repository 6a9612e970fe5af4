//===- CpuKernel.cpp - calling compiled CPU kernels -----------------------===//

#include "attn/Runtime/CpuKernel.h"
#include "attn/Support/EntryNames.h"

#include <dlfcn.h>

#include <limits>

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

namespace {
/// The six arguments both directions start with.
struct CommonArgs {
  Descriptor<3> q, k, v;
  Descriptor<1> cu;
  Descriptor<3> out;
  Descriptor<2> lse;
  CommonArgs(const host::AttentionSpec &s, const CpuTensors &t)
      : q(t.q, {t.tokens, s.heads, s.headDim}),
        k(t.k, {t.tokens, s.kvHeads, s.headDim}),
        v(t.v, {t.tokens, s.kvHeads, s.valueDim}), cu(t.cu, {t.cuEntries}),
        out(t.out, {t.tokens, s.heads, s.valueDim}),
        lse(t.lse, {s.heads, t.tokens}) {}
};
} // namespace

void callCpuForward(void *entry, const host::AttentionSpec &s,
                    const CpuTensors &t) {
  CommonArgs a(s, t);
  using Fn = void (*)(void *, void *, void *, void *, void *, void *);
  reinterpret_cast<Fn>(entry)(&a.q, &a.k, &a.v, &a.cu, &a.out, &a.lse);
}

void callCpuBackward(void *entry, const host::AttentionSpec &s,
                     const CpuTensors &t) {
  CommonArgs a(s, t);
  int64_t n = t.tokens;
  Descriptor<3> dout(t.dout, {n, s.heads, s.valueDim});
  Descriptor<3> dq(t.dq, {n, s.heads, s.headDim});
  Descriptor<3> dk(t.dk, {n, s.kvHeads, s.headDim});
  Descriptor<3> dv(t.dv, {n, s.kvHeads, s.valueDim});
  using Fn = void (*)(void *, void *, void *, void *, void *, void *, void *,
                      void *, void *, void *);
  reinterpret_cast<Fn>(entry)(&a.q, &a.k, &a.v, &a.cu, &a.out, &a.lse, &dout,
                              &dq, &dk, &dv);
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
      (kernelConfig.isSequence() ? sequenceEntry(kernelConfig.sequence)
       : kernelConfig.direction == Direction::Forward ? kAttentionEntry
                                                      : kAttentionGradEntry);
  entry = dlsym(handle, name.c_str());
  if (!entry) {
    dlclose(handle);
    throw Error("the CPU kernel " + path + " has no " + name);
  }
}

CpuKernel::~CpuKernel() { dlclose(handle); }

void CpuKernel::run(const CpuTensors &t) const {
  if (kernelConfig.isSequence())
    throw Error("not an attention kernel: " + kernelConfig.describe());
  if (auto why = mask::validateCuSeqlens(t.cu, t.cuEntries, t.tokens))
    throw InvalidInput("invalid cu_seqlens: " + *why);
  if (t.tokens == 0)
    return;
  if (kernelConfig.direction == Direction::Forward)
    callCpuForward(entry, kernelConfig.shape, t);
  else
    callCpuBackward(entry, kernelConfig.shape, t);
}

void checkCuSeqlensSizes(int64_t entries, int64_t tokens) {
  if (entries < 1)
    throw InvalidInput("cu_seqlens needs at least one entry");
  if (tokens < 0 || tokens > std::numeric_limits<int32_t>::max())
    throw InvalidInput("the token count " + std::to_string(tokens) +
                       " is not in [0, 2^31)");
}

int64_t checkSequenceSizes(Sequence sequence, const void *in,
                           int64_t inEntries, int64_t outEntries) {
  if (sequence == Sequence::CheckCuSeqlens)
    throw Error("check_cu_seqlens' kernel takes a token count: call its "
                "own entry (checkCuSeqlens)");
  if (inEntries < 0 || outEntries < 0)
    throw InvalidInput("negative vector sizes");
  int64_t tokens =
      sequence == Sequence::DocPositions ? outEntries : inEntries;
  if (tokens > std::numeric_limits<int32_t>::max())
    throw InvalidInput("too many tokens for int32 cu_seqlens: " +
                       std::to_string(tokens));
  if (sequence == Sequence::DocPositions) {
    if (inEntries < 1 || (outEntries > 0 && inEntries < 2))
      throw InvalidInput("invalid cu_seqlens: " + std::to_string(inEntries) +
                         " entries cannot hold " + std::to_string(outEntries) +
                         " tokens");
    if (in)
      if (auto why = mask::validateCuSeqlens(static_cast<const int32_t *>(in),
                                             inEntries, outEntries))
        throw InvalidInput("invalid cu_seqlens: " + *why);
  } else if (outEntries != inEntries + 1) {
    throw InvalidInput("segments_from_separators writes T + 1 = " +
                       std::to_string(inEntries + 1) + " entries, not " +
                       std::to_string(outEntries));
  }
  return tokens;
}

void CpuKernel::runSequence(const void *in, int64_t inEntries, void *out,
                            int64_t outEntries) const {
  if (!kernelConfig.isSequence())
    throw Error("not a sequence helper's kernel: " + kernelConfig.describe());
  checkSequenceSizes(kernelConfig.sequence, in, inEntries, outEntries);
  Descriptor<1> input(in, {inEntries}), output(out, {outEntries});
  using Fn = void (*)(void *, void *);
  reinterpret_cast<Fn>(entry)(&input, &output);
}

void CpuKernel::runCheckCuSeqlens(const int32_t *cu, int64_t entries,
                                  int64_t tokens, int32_t *errors) const {
  if (kernelConfig.sequence != Sequence::CheckCuSeqlens)
    throw Error("not check_cu_seqlens' kernel: " + kernelConfig.describe());
  checkCuSeqlensSizes(entries, tokens);
  Descriptor<1> input(cu, {entries}), record(errors, {1});
  using Fn = void (*)(void *, int64_t, void *);
  reinterpret_cast<Fn>(entry)(&input, tokens, &record);
}

} // namespace attn::rt
