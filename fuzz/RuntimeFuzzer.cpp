//===- RuntimeFuzzer.cpp - the runtime's manifest and cu_seqlens checks ---===//
//
// libFuzzer target: the input is a kernel manifest (JSON text), or, after a
// first byte of 0, a host cu_seqlens (int32s) and a token count. Parsing
// and validation may refuse (an attn::rt::Error); a crash, an unexpected
// exception or a sanitizer report (overflow in the grid or tensor-map
// arithmetic) is a bug.
//===----------------------------------------------------------------------===//

#include "attn/Mask/MaskAlgebra.h"
#include "attn/Runtime/Attention.h"

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
    (void)attn::mask::validateCuSeqlens(cu.data(), int64_t(n - 1), tokens);
    (void)attn::mask::validateCuSeqlens(cu.data(), int64_t(n), tokens);
    return 0;
  }
  std::string text(reinterpret_cast<const char *>(data), size);
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
