//===- SequenceKernel.cpp - launching the sequence helpers' kernels -------===//

#include "attn/Runtime/SequenceKernel.h"
#include "attn/Runtime/CpuKernel.h"
#include "Manifest.h"

namespace attn::rt {

SequenceInfo parseSequenceManifest(const std::string &text) {
  Manifest m(text);
  SequenceInfo i;
  i.kernel = m.string("kernel");
  std::string sequence = m.string("sequence");
  std::optional<Sequence> s = parseSequence(sequence);
  if (!s)
    throw Error("kernel manifest: unknown \"sequence\" '" + sequence + "'");
  i.sequence = *s;
  i.arch = m.string("arch");
  i.grid = m.choice("grid", {"tokens", "entries", "one"});
  const char *grid = i.sequence == Sequence::DocPositions     ? "tokens"
                     : i.sequence == Sequence::CheckCuSeqlens ? "entries"
                                                              : "one";
  if (i.grid != grid)
    throw Error("kernel manifest: " + sequence + " launches on the grid \"" +
                grid + "\", not \"" + i.grid + "\"");
  i.threads = m.integer("threads");
  i.sharedBytes = sharedBytesOf(m);
  if (i.threads < 1 || i.threads > 1024)
    throw Error("kernel manifest: threads " + std::to_string(i.threads) +
                " is not a block size (1 to 1024)");
  return i;
}

Dim3 sequenceGrid(const SequenceInfo &info, int64_t tokens, int64_t entries) {
  if (info.grid == "one")
    return Dim3{1, 1, 1};
  int64_t n = info.grid == "entries" ? entries : tokens;
  return Dim3{unsigned((n + info.threads - 1) / info.threads), 1, 1};
}

namespace {
/// doc_positions' and segments_from_separators' parameters: the memrefs of
/// the input and the output.
KernelArgs sequenceArgs(const void *in, int64_t inEntries, void *out,
                        int64_t outEntries) {
  KernelArgs args;
  args.addMemRef(const_cast<void *>(in), {inEntries});
  args.addMemRef(out, {outEntries});
  return args;
}

/// check_cu_seqlens' parameters: the memref of cu_seqlens, the tokens, the
/// memref of the error record.
KernelArgs checkArgs(const int32_t *cu, int64_t entries, int64_t tokens,
                     int32_t *errors) {
  KernelArgs args;
  args.addMemRef(const_cast<int32_t *>(cu), {entries});
  args.addBytes(&tokens, sizeof(tokens));
  args.addMemRef(errors, {1});
  return args;
}
} // namespace

SequenceKernel::SequenceKernel(const std::string &image, SequenceInfo info)
    : kernelInfo(std::move(info)), module(std::make_unique<Module>(image)) {
  function = module->function(kernelInfo.kernel);
  requireParameters(function, kernelInfo.kernel,
                    kernelInfo.sequence == Sequence::CheckCuSeqlens
                        ? checkArgs(nullptr, 2, 1, nullptr).sizes()
                        : sequenceArgs(nullptr, 1, nullptr, 1).sizes());
}

void SequenceKernel::launch(const void *in, int64_t inEntries, void *out,
                            int64_t outEntries, Stream stream) const {
  const SequenceInfo &i = kernelInfo;
  int64_t tokens =
      checkSequenceSizes(i.sequence, /*in=*/nullptr, inEntries, outEntries);
  // cu_seqlens and the positions are int32, token ids int64.
  requireAligned(
      {{"the input", in, i.sequence == Sequence::DocPositions ? 4u : 8u},
       {"the output", out, 4}});
  Dim3 grid = sequenceGrid(i, tokens, inEntries);
  if (grid.x == 0)
    return; // no tokens, no positions
  KernelArgs args = sequenceArgs(in, inEntries, out, outEntries);
  rt::launch(function, grid, Dim3{unsigned(i.threads), 1, 1}, i.sharedBytes,
             stream, args.params());
}

void SequenceKernel::checkCuSeqlens(const int32_t *cu, int64_t entries,
                                    int64_t tokens, int32_t *errors,
                                    Stream stream) const {
  const SequenceInfo &i = kernelInfo;
  if (i.sequence != Sequence::CheckCuSeqlens)
    throw Error("not check_cu_seqlens' kernel: " + i.kernel);
  checkCuSeqlensSizes(entries, tokens);
  requireAligned({{"cu_seqlens", cu, 4}, {"the error record", errors, 4}});
  KernelArgs args = checkArgs(cu, entries, tokens, errors);
  rt::launch(function, sequenceGrid(i, tokens, entries),
             Dim3{unsigned(i.threads), 1, 1}, i.sharedBytes, stream,
             args.params());
}

} // namespace attn::rt
