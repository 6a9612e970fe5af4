//===- RuntimeFuzzer.cpp - the runtime's manifest and cu_seqlens checks ---===//
//
// libFuzzer target: the input is a kernel manifest (JSON text: an
// attention kernel's or a sequence helper's) or kernel configuration, or,
// after a first byte of 0, a host cu_seqlens (int32s) and a token count.
// Parsing and validation may refuse (an attn::rt::Error, a configuration's
// reason); a crash, an unexpected exception, a sanitizer report (overflow
// in the grid or tensor-map arithmetic), a configuration whose canonical
// text does not parse back to itself, or per-entry cu_seqlens rules that
// disagree with the host check is a bug.
//===----------------------------------------------------------------------===//

#include "attn/Mask/MaskAlgebra.h"
#include "attn/Runtime/Attention.h"
#include "attn/Runtime/KernelConfig.h"
#include "attn/Runtime/SequenceKernel.h"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size >= 1 && data[0] == 0) {
    // cu_seqlens: int32 entries, then the claimed token count.
    size_t n = (size - 1) / 4;
    if (n < 1)
      return 0;
    std::vector<int32_t> cu(n);
    std::memcpy(cu.data(), data + 1, n * 4);
    int64_t tokens = cu.back();
    (void)attn::mask::validateCuSeqlens(cu.data(), int64_t(n), tokens);
    // The first n - 1 entries against the last as the token count: the
    // per-entry rules (attn.check_cu_seqlens) agree with the host's.
    if (n < 2)
      return 0;
    int64_t entries = int64_t(n) - 1;
    bool bad =
        attn::mask::validateCuSeqlens(cu.data(), entries, tokens).has_value();
    attn::mask::HostCtx<int32_t> ctx{cu.data(), entries - 1};
    int64_t errors = 0;
    for (int64_t i = 0; i < entries; ++i)
      errors += attn::mask::cuSeqlensEntryError(ctx, i, tokens);
    if (bad != (errors > 0))
      __builtin_trap();
    return 0;
  }
  std::string text(reinterpret_cast<const char *>(data), size);
  // The same text as a sequence helper's manifest, and as a kernel
  // configuration (whose canonical form must parse back to itself).
  try {
    attn::rt::SequenceInfo s = attn::rt::parseSequenceManifest(text);
    for (int64_t tokens : {int64_t(0), int64_t(1000), int64_t(INT32_MAX)})
      (void)attn::rt::sequenceGrid(s, tokens, tokens + 1);
  } catch (const attn::rt::Error &) {
  }
  attn::rt::KernelConfig config;
  if (!attn::rt::parseKernelConfig(text, config)) {
    attn::rt::KernelConfig back;
    if (attn::rt::parseKernelConfig(config.canonical(), back) ||
        back.canonical() != config.canonical())
      __builtin_trap(); // canonical() does not round-trip
    (void)config.describe();
    (void)config.aotFlags();
  }
  attn::rt::KernelInfo info;
  try {
    info = attn::rt::parseManifest(text);
  } catch (const attn::rt::Error &) {
    return 0;
  }
  // A parsed manifest's launch shapes, for token counts up to int32's.
  for (int64_t tokens : {int64_t(1), int64_t(1000), int64_t(INT32_MAX)}) {
    (void)attn::rt::launchGrid(info, tokens, 132);
    if (info.loads == "tma") {
      try {
        (void)attn::rt::tensorMapSpecs(info, tokens);
      } catch (const attn::rt::Error &) {
      }
    }
  }
  return 0;
}
