//===- Run.cpp - run and check a compiled attention kernel ----------------===//

#include "attn/Runtime/Run.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace attn::rt {

using namespace attn::host;

host::AttentionSpec specFromManifest(const KernelInfo &info) {
  AttentionSpec spec;
  std::optional<DType> dt = parseDType(info.dtype);
  if (!dt)
    throw Error("kernel manifest: unknown dtype '" + info.dtype + "'");
  spec.dtype = *dt;
  spec.heads = info.heads;
  spec.kvHeads = info.kvHeads;
  spec.headDim = info.headDim;
  spec.valueDim = info.valueDim;
  spec.scale = info.scale;
  if (auto why = parseMask(info.mask, spec.mask))
    throw Error("kernel manifest: mask: " + *why);
  return spec;
}

bool runAttention(const std::string &image, const KernelInfo &info,
                  const host::AttentionSpec &spec, const RunOptions &opts,
                  std::ostream &os) {
  if (auto why = spec.validate())
    throw Error(*why);
  std::string why;
  if (!driverAvailable(&why))
    throw Error("no usable CUDA device: " + why);
  std::string device;
  initDevice(&device);
  AttentionKernel kernel(image, info);

  int64_t t = spec.tokens();
  ProblemData data(spec, opts.seed);
  Buffer &q = data.q, &k = data.k, &v = data.v, &out = data.out;
  std::vector<float> &lse = data.lse;
  DeviceBuffer dq(q.bytes.size()), dk(k.bytes.size()), dv(v.bytes.size()),
      dout(out.bytes.size()), dlse(lse.size() * sizeof(float)),
      dcu(spec.cuSeqlens.size() * sizeof(int32_t));
  dq.copyFromHost(q.data(), q.bytes.size());
  dk.copyFromHost(k.data(), k.bytes.size());
  dv.copyFromHost(v.data(), v.bytes.size());
  dcu.copyFromHost(spec.cuSeqlens.data(), dcu.size());
  auto run = [&] {
    kernel.launch(spec.cuSeqlens, t, dcu.data(), dq.data(), dk.data(),
                  dv.data(), dout.data(), dlse.data());
  };

  // Checked run on poisoned outputs.
  dout.fill(0xff);
  dlse.fill(0xff);
  run();
  synchronize();
  dout.copyToHost(out.data(), out.bytes.size());
  dlse.copyToHost(lse.data(), dlse.size());

  for (int i = 0; i < 3; ++i)
    run(); // warm-up
  std::vector<float> times;
  for (int i = 0; i < std::max(1, opts.repeat); ++i)
    times.push_back(timeMs(nullptr, run));
  std::sort(times.begin(), times.end());
  double medianMs = times[times.size() / 2];
  double flops = usefulFlops(spec);
  mask::TileCounts tiles =
      mask::countTiles(spec.ctx(), spec.mask, info.blockQ, info.blockK);

  CheckResult result;
  if (opts.check)
    result = checkAgainstReference(
        spec, q, k, v, out, lse, rowsToCheck(spec, opts.checkRows, opts.seed));
  bool ok = !opts.check || result.ok;
  os << "{\"device\": \"" << device << "\", \"tokens\": " << t
     << ", \"docs\": " << spec.docs() << ", \"heads\": " << spec.heads
     << ", \"kv_heads\": " << spec.kvHeads << ", \"head_dim\": " << spec.headDim
     << ", \"dtype\": \"" << info.dtype
     << "\", \"target\": \"cuda\", \"mask\": \"" << info.mask
     << "\", \"mma\": \"" << info.mma << "\", \"schedule\": \"" << info.schedule
     << "\", \"block_q\": " << info.blockQ << ", \"block_k\": " << info.blockK
     << ", \"tiles_total\": " << tiles.total
     << ", \"tiles_computed\": " << tiles.computed
     << ", \"tiles_partial\": " << tiles.partial
     << ", \"tiles_full\": " << tiles.full
     << ", \"tiles_skipped\": " << tiles.skipped()
     << ", \"time_ms\": " << jsonNumber(medianMs)
     << ", \"useful_tflops\": " << jsonNumber(flops / (medianMs * 1e9));
  if (opts.check)
    os << ", " << checkJsonFields(result)
       << ", \"check\": " << (ok ? "\"pass\"" : "\"FAIL\"")
       << checkFailureJsonFields(result);
  os << "}\n";
  return ok;
}

std::optional<std::string> runAttentionNoThrow(const std::string &image,
                                               const KernelInfo &info,
                                               const host::AttentionSpec &spec,
                                               const RunOptions &opts,
                                               std::ostream &os, bool &ok) {
  try {
    ok = runAttention(image, info, spec, opts, os);
    return std::nullopt;
  } catch (const Error &e) {
    ok = false;
    return std::string(e.what());
  }
}

} // namespace attn::rt
