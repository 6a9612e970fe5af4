//===- Run.cpp - run and check a compiled attention kernel ----------------===//

#include "attn/Runtime/Run.h"
#include "attn/Host/Gradient.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>

namespace attn::rt {

using namespace attn::host;

/// Throws Error if the float64 gradient reference of `spec` would take too
/// long; `what` says what would need it.
static void requireGradientReferenceFits(const host::AttentionSpec &spec,
                                         const std::string &what) {
  if (auto why = checkGradientReferenceCost(spec, what))
    throw Error(*why);
}

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

/// The median time of `run` over `repeat` timed calls (at least one),
/// after three warm-up calls, in ms (CUDA events on the default stream).
template <typename Fn> static double medianLaunchMs(Fn &&run, int repeat) {
  for (int i = 0; i < 3; ++i)
    run();
  std::vector<float> times;
  for (int i = 0; i < std::max(1, repeat); ++i)
    times.push_back(timeMs(nullptr, run));
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

/// Throws Error for a spec no kernel may run (before anything else).
static void requireValid(const host::AttentionSpec &spec) {
  if (auto why = spec.validate())
    throw Error(*why);
}

/// One JSON object and a newline: the problem, the kernel, its tiles, the
/// time (when measured) and the check (when made: passed if the outputs
/// match the reference and, where rerun, the rerun matched). Returns
/// whether it passed (true without a check).
/// The opening of every report: `{"device": .., ("direction": "backward",)
/// "tokens": .., ..., "mask": ".."` (the problem and the kernel's type).
static void reportProblem(std::ostream &os, const std::string &device,
                          const host::AttentionSpec &spec,
                          const KernelInfo &info, bool backward) {
  os << "{\"device\": \"" << device << "\", "
     << (backward ? "\"direction\": \"backward\", " : "")
     << "\"tokens\": " << spec.tokens() << ", \"docs\": " << spec.docs()
     << ", \"heads\": " << spec.heads << ", \"kv_heads\": " << spec.kvHeads
     << ", \"head_dim\": " << spec.headDim
     << ", \"value_dim\": " << spec.valueDim << ", \"dtype\": \"" << info.dtype
     << "\", \"target\": \"cuda\", \"mask\": \"" << info.mask << "\"";
}

static bool report(std::ostream &os, const std::string &device,
                   const host::AttentionSpec &spec, const KernelInfo &info,
                   std::optional<double> medianMs, const CheckResult *check,
                   std::optional<bool> rerunIdentical = std::nullopt) {
  mask::TileCounts tiles =
      mask::countTiles(spec.ctx(), spec.mask, info.blockQ, info.blockK);
  reportProblem(os, device, spec, info, /*backward=*/false);
  os << ", \"mma\": \"" << info.mma << "\", \"schedule\": \"" << info.schedule
     << "\", \"grid\": \"" << info.grid << "\", \"loads\": \"" << info.loads
     << "\", \"stores\": \"" << info.stores
     << "\", \"block_q\": " << info.blockQ << ", \"block_k\": " << info.blockK
     << ", \"tiles_total\": " << tiles.total
     << ", \"tiles_computed\": " << tiles.computed
     << ", \"tiles_partial\": " << tiles.partial
     << ", \"tiles_full\": " << tiles.full
     << ", \"tiles_skipped\": " << tiles.skipped();
  if (medianMs)
    os << ", \"time_ms\": " << jsonNumber(*medianMs) << ", \"useful_tflops\": "
       << jsonNumber(usefulFlops(spec) / (*medianMs * 1e9));
  bool pass = !check || (check->ok && rerunIdentical.value_or(true));
  if (check) {
    os << ", " << checkJsonFields(*check);
    if (rerunIdentical)
      os << ", \"rerun_identical\": " << (*rerunIdentical ? "true" : "false");
    os << ", \"check\": " << (pass ? "\"pass\"" : "\"FAIL\"")
       << checkFailureJsonFields(*check);
  }
  os << "}\n";
  return pass;
}

bool runAttention(const std::string &image, const KernelInfo &info,
                  const host::AttentionSpec &spec, const RunOptions &opts,
                  std::ostream &os) {
  requireValid(spec);
  std::string why;
  if (!driverAvailable(&why))
    throw Error("no usable CUDA device: " + why);
  std::string device;
  initDevice(&device);
  AttentionKernel kernel(image, info);
  if (opts.residentBlocks > 0)
    kernel.limitResidentBlocks(opts.residentBlocks);

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

  // One launch on poisoned outputs, copied to `outHost` and `lseHost`.
  auto poisonedRun = [&](void *outHost, void *lseHost) {
    dout.fill(0xff);
    dlse.fill(0xff);
    run();
    synchronize();
    dout.copyToHost(outHost, dout.size());
    dlse.copyToHost(lseHost, dlse.size());
  };
  // The checked run.
  poisonedRun(out.data(), lse.data());

  double medianMs = medianLaunchMs(run, opts.repeat);

  // After the timed launches, once more on poisoned outputs: every block
  // runs the same code on the same item, so the result must be the first
  // one bit for bit (a state a launch leaves behind, such as a dynamic
  // grid's tile counter, would show here).
  if (!opts.check)
    return report(os, device, spec, info, medianMs, nullptr);
  std::vector<uint8_t> out2(dout.size()), lse2(dlse.size());
  poisonedRun(out2.data(), lse2.data());
  bool rerunIdentical =
      std::memcmp(out2.data(), out.data(), out2.size()) == 0 &&
      std::memcmp(lse2.data(), lse.data(), lse2.size()) == 0;
  CheckResult result = checkAgainstReference(
      spec, q, k, v, out, lse, rowsToCheck(spec, opts.checkRows, opts.seed));
  return report(os, device, spec, info, medianMs, &result, rerunIdentical);
}

bool runAttentionBackward(const std::string &image, const KernelInfo &info,
                          const host::AttentionSpec &spec,
                          const RunOptions &opts, std::ostream &os) {
  requireValid(spec);
  if (!info.backward)
    throw Error("the kernel manifest describes no backward kernel (attn-run "
                "--target cuda --backward --emit ... builds one)");
  if (opts.check)
    requireGradientReferenceFits(spec, "--check");
  std::string why;
  if (!driverAvailable(&why))
    throw Error("no usable CUDA device: " + why);
  std::string device;
  initDevice(&device);
  AttentionKernel forward(image, info), backward(image, *info.backward);

  int64_t t = spec.tokens();
  ProblemData data(spec, opts.seed);
  GradientData grads(spec, opts.seed);
  auto upload = [](const Buffer &b) {
    auto d = std::make_unique<DeviceBuffer>(b.bytes.size());
    d->copyFromHost(b.bytes.data(), b.bytes.size());
    return d;
  };
  auto dq = upload(data.q), dk = upload(data.k), dv = upload(data.v),
       ddout = upload(grads.dout);
  DeviceBuffer dout(data.out.bytes.size()),
      dlse(data.lse.size() * sizeof(float)),
      dcu(spec.cuSeqlens.size() * sizeof(int32_t)),
      gq(grads.dq.bytes.size()), gk(grads.dk.bytes.size()),
      gv(grads.dv.bytes.size());
  dcu.copyFromHost(spec.cuSeqlens.data(), dcu.size());
  DeviceBuffer dqAccumulator(
      size_t(dqAccumulatorBytes(*info.backward, t))); // (atomic dq)
  forward.launch(spec.cuSeqlens, t, dcu.data(), dq->data(), dk->data(),
                 dv->data(), dout.data(), dlse.data());
  GradTensors tensors{dq->data(), dk->data(), dv->data(), dout.data(),
                      dlse.data(),  ddout->data(), gq.data(), gk.data(),
                      gv.data(),    dqAccumulator.data()};
  auto run = [&] {
    backward.launchBackward(spec.cuSeqlens.data(),
                            int64_t(spec.cuSeqlens.size()), t, dcu.data(),
                            tensors);
  };
  // The checked run on poisoned gradients, copied to `grads`.
  auto poisonedRun = [&](GradientData &into) {
    for (DeviceBuffer *g : {&gq, &gk, &gv})
      g->fill(0xff);
    run();
    synchronize();
    gq.copyToHost(into.dq.data(), gq.size());
    gk.copyToHost(into.dk.data(), gk.size());
    gv.copyToHost(into.dv.data(), gv.size());
  };
  poisonedRun(grads);
  double medianMs = medianLaunchMs(run, opts.repeat);

  reportProblem(os, device, spec, info, /*backward=*/true);
  os << ", \"bwd_time_ms\": " << jsonNumber(medianMs)
     << ", \"bwd_useful_tflops\": "
     << jsonNumber(2.5 * usefulFlops(spec) / (medianMs * 1e9))
     << ", \"dq\": \"" << info.backward->dq << "\"";
  bool pass = true;
  if (opts.check) {
    // Another launch on poisoned gradients: the same bits (dq only for
    // query-item dq: atomic adds may sum it in another order).
    GradientData again(spec, opts.seed);
    poisonedRun(again);
    bool identical = (info.backward->atomicDq() ||
                      again.dq.bytes == grads.dq.bytes) &&
                     again.dk.bytes == grads.dk.bytes &&
                     again.dv.bytes == grads.dv.bytes;
    GradCheckResult c =
        checkGradients(spec, data.q, data.k, data.v, grads.dout, grads);
    pass = c.ok && identical;
    os << ", " << gradCheckJsonFields(c) << ", \"bwd_rerun_identical\": "
       << (identical ? "true" : "false") << ", \"check\": "
       << (pass ? "\"pass\"" : "\"FAIL\"");
  }
  os << "}\n";
  return pass;
}

/// Writes `bytes` bytes to `path` (a whole file or none); throws Error,
/// saying why, if it cannot.
static void writeBytes(const std::string &path, const void *bytes,
                       size_t size) {
  writeFileAtomically(path,
                      std::string_view(static_cast<const char *>(bytes), size));
}

/// Reads `path` into `bytes`, which must be exactly its size.
static void readBytes(const std::string &path, void *bytes, size_t size) {
  std::string data = readFile(path);
  if (data.size() != size)
    throw Error(path + " has " + std::to_string(data.size()) +
                " bytes; this problem's has " + std::to_string(size));
  if (size) // (an empty buffer's data() may be null)
    std::memcpy(bytes, data.data(), size);
}

/// Writes q, k, v (of `data`) and cu_seqlens to `dir`, made if missing.
static void writeInputs(const host::AttentionSpec &spec,
                        const ProblemData &data, const std::string &dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    throw Error("cannot make the directory " + dir + ": " + ec.message());
  writeBytes(dir + "/q.bin", data.q.bytes.data(), data.q.bytes.size());
  writeBytes(dir + "/k.bin", data.k.bytes.data(), data.k.bytes.size());
  writeBytes(dir + "/v.bin", data.v.bytes.data(), data.v.bytes.size());
  writeBytes(dir + "/cu_seqlens.bin", spec.cuSeqlens.data(),
             spec.cuSeqlens.size() * sizeof(int32_t));
}

/// Throws Error unless `dir` holds the inputs these flags make (its
/// cu_seqlens and q): a check of another problem's outputs would fail on
/// numbers, saying nothing of the mix-up.
static void requireSavedInputs(const host::AttentionSpec &spec,
                               const ProblemData &data,
                               const std::string &dir) {
  const auto *cu = reinterpret_cast<const char *>(spec.cuSeqlens.data());
  if (readFile(dir + "/cu_seqlens.bin") !=
      std::string(cu, spec.cuSeqlens.size() * sizeof(int32_t)))
    throw Error(dir + " holds the inputs of other documents: give the "
                      "document flags --save-inputs had");
  std::string q = readFile(dir + "/q.bin");
  if (q.size() != data.q.bytes.size())
    throw Error(dir + "/q.bin has " + std::to_string(q.size()) +
                " bytes; this problem's has " +
                std::to_string(data.q.bytes.size()) +
                " (inputs saved for another kernel?)");
  if (std::memcmp(q.data(), data.q.bytes.data(), q.size()) != 0)
    throw Error(dir + " holds other inputs: give the --seed --save-inputs "
                      "had");
}

void saveInputs(const host::AttentionSpec &spec, uint64_t seed,
                const std::string &dir) {
  requireValid(spec);
  writeInputs(spec, ProblemData(spec, seed), dir);
}

bool checkSavedOutputs(const KernelInfo &info, const host::AttentionSpec &spec,
                       const RunOptions &opts, const std::string &dir,
                       std::ostream &os) {
  requireValid(spec);
  ProblemData data(spec, opts.seed);
  requireSavedInputs(spec, data, dir);
  readBytes(dir + "/out.bin", data.out.data(), data.out.bytes.size());
  readBytes(dir + "/lse.bin", data.lse.data(), data.lse.size() * sizeof(float));
  CheckResult result =
      checkAgainstReference(spec, data.q, data.k, data.v, data.out, data.lse,
                            rowsToCheck(spec, opts.checkRows, opts.seed));
  return report(os, "saved outputs (" + dir + ")", spec, info, std::nullopt,
                &result);
}

void saveGradInputs(const host::AttentionSpec &spec, uint64_t seed,
                    const std::string &dir) {
  requireValid(spec);
  // (Refused here rather than when they are checked.)
  requireGradientReferenceFits(spec, "--check-outputs of these inputs");
  ProblemData data(spec, seed);
  writeInputs(spec, data, dir);
  std::vector<int64_t> rows(size_t(spec.tokens()));
  for (size_t r = 0; r < rows.size(); ++r)
    rows[r] = int64_t(r);
  ReferenceRows ref =
      reference(spec, data.q, data.k, data.v, rows, RefMode::Exact);
  int64_t t = spec.tokens(), hq = spec.heads, dv = spec.valueDim;
  for (int64_t i = 0; i < t * hq * dv; ++i)
    data.out.set(i, float(ref.out[size_t(i)]));
  for (int64_t r = 0; r < t; ++r)
    for (int64_t h = 0; h < hq; ++h)
      data.lse[size_t(h * t + r)] = float(ref.lse[size_t(r * hq + h)]);
  GradientData grads(spec, seed);
  writeBytes(dir + "/out.bin", data.out.data(), data.out.bytes.size());
  writeBytes(dir + "/lse.bin", data.lse.data(), data.lse.size() * sizeof(float));
  writeBytes(dir + "/dout.bin", grads.dout.data(), grads.dout.bytes.size());
}

bool checkSavedGradients(const KernelInfo &info,
                         const host::AttentionSpec &spec,
                         const RunOptions &opts, const std::string &dir,
                         std::ostream &os) {
  requireValid(spec);
  requireGradientReferenceFits(spec, "--check-outputs");
  ProblemData data(spec, opts.seed);
  requireSavedInputs(spec, data, dir);
  GradientData grads(spec, opts.seed);
  readBytes(dir + "/dq.bin", grads.dq.data(), grads.dq.bytes.size());
  readBytes(dir + "/dk.bin", grads.dk.data(), grads.dk.bytes.size());
  readBytes(dir + "/dv.bin", grads.dv.data(), grads.dv.bytes.size());
  GradCheckResult c =
      checkGradients(spec, data.q, data.k, data.v, grads.dout, grads);
  reportProblem(os, "saved gradients (" + dir + ")", spec, info,
                /*backward=*/true);
  os << ", " << gradCheckJsonFields(c) << ", \"check\": "
     << (c.ok ? "\"pass\"" : "\"FAIL\"") << "}\n";
  return c.ok;
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
