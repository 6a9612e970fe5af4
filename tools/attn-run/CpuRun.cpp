//===- CpuRun.cpp - attn-run's CPU target: run, check, compare, time ------===//

#include "CpuRun.h"

#include "attn/Frontend/AttentionModule.h"
#include "attn/Host/Gradient.h"
#include "attn/Target/CPU/CPUKernel.h"

#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <limits>

using namespace attn;
using namespace attn::host;
using attn::run::CpuRunOptions;

[[noreturn]] void attn::run::fail(const std::string &msg) {
  llvm::errs() << "attn-run: error: " << msg << "\n";
  std::exit(1);
}

namespace {

/// The most tokens whose tile counts are checked against a brute-force
/// count (quadratic: a second at this size); beyond, against the host
/// instance of the mask algebra, itself checked against a brute force by
/// GoogleTest and a fuzzer.
constexpr int64_t kMaxBruteForceTokens = 16384;

/// A kernel, its inputs and outputs, and its last checked run.
struct Run {
  std::unique_ptr<mlir::attn::CPUKernel> kernel;
  ProblemData data;
  std::optional<GradientData> grads;
  std::vector<int32_t> cu;
  std::array<int64_t, 3> counts{}, gradCounts{};

  Run(const AttentionSpec &spec, uint64_t seed, bool backward)
      : data(spec, seed), cu(spec.cuSeqlens) {
    if (backward)
      grads.emplace(spec, seed);
  }

  /// The forward, then the backward when there is one, on poisoned outputs.
  void checked(const AttentionSpec &spec) {
    data.out.poison();
    std::fill(data.lse.begin(), data.lse.end(),
              std::numeric_limits<float>::quiet_NaN());
    kernel->resetTileCounts();
    kernel->run(spec, data.q, data.k, data.v, cu, data.out, data.lse);
    counts = kernel->tileCounts();
    if (!grads)
      return;
    grads->poison();
    backward(spec);
    gradCounts = kernel->gradTileCounts();
  }

  void backward(const AttentionSpec &spec) {
    kernel->runGradient(spec, data.q, data.k, data.v, cu, data.out, data.lse,
                        grads->dout, grads->dq, grads->dk, grads->dv);
  }
};

std::unique_ptr<mlir::attn::CPUKernel>
compile(mlir::MLIRContext &context, const AttentionSpec &spec,
        const CpuRunOptions &o, double *ms = nullptr) {
  auto start = std::chrono::steady_clock::now();
  auto module = mlir::attn::buildAttentionModule(
      context, spec, mlir::attn::Target::CPU,
      o.backward ? mlir::attn::Functions::Both : mlir::attn::Functions::Forward);
  mlir::attn::CPUPipelineOptions options;
  options.blockQ = o.blockQ;
  options.blockK = o.blockK;
  options.countTiles = true;
  options.deterministic = o.deterministic;
  auto kernel = mlir::attn::CPUKernel::compile(*module, options);
  if (!kernel)
    run::fail("compilation failed: " + llvm::toString(kernel.takeError()));
  if (ms)
    *ms = std::chrono::duration<double, std::milli>(
              std::chrono::steady_clock::now() - start)
              .count();
  return std::move(*kernel);
}

/// Rows [b, b + l) of a [T, width] buffer.
Buffer slice(const Buffer &src, int64_t b, int64_t l, int64_t width) {
  Buffer dst(src.dtype, l * width);
  int64_t w = width * byteWidth(src.dtype);
  std::copy(src.bytes.begin() + b * w, src.bytes.begin() + (b + l) * w,
            dst.bytes.begin());
  return dst;
}

/// Relative differences of the packed run from every document run alone.
struct Separate {
  RelErr out, lse, dq, dk, dv;
};

/// Packed training practice: the packed run must equal each document run
/// alone, token by token (forward, and with the backward its gradients).
Separate compareSeparate(mlir::MLIRContext &context, const AttentionSpec &spec,
                         const CpuRunOptions &o, const Run &packed) {
  if (!spec.mask.document)
    run::fail("--compare-separate needs a mask with the document term");
  AttentionSpec one = spec;
  one.mask.document = false;
  auto kernel = compile(context, one, o);
  int64_t t = spec.tokens(), hq = spec.heads, hkv = spec.kvHeads,
          d = spec.headDim, dv = spec.valueDim;
  Separate sep;
  for (int64_t doc = 0; doc < spec.docs(); ++doc) {
    int64_t b = spec.cuSeqlens[doc], l = spec.cuSeqlens[doc + 1] - b;
    if (l == 0)
      continue;
    one.cuSeqlens = {0, int32_t(l)};
    Run alone(one, o.seed, o.backward);
    alone.kernel = std::move(kernel);
    const ProblemData &in = packed.data;
    alone.data.q = slice(in.q, b, l, hq * d);
    alone.data.k = slice(in.k, b, l, hkv * d);
    alone.data.v = slice(in.v, b, l, hkv * dv);
    if (o.backward)
      alone.grads->dout = slice(packed.grads->dout, b, l, hq * dv);
    alone.checked(one);
    kernel = std::move(alone.kernel);
    auto compare = [&](RelErr &e, const Buffer &full, const Buffer &part,
                       int64_t width) {
      for (int64_t i = 0; i < l * width; ++i)
        e.add(full.get(b * width + i), part.get(i));
    };
    compare(sep.out, in.out, alone.data.out, hq * dv);
    for (int64_t h = 0; h < hq; ++h)
      for (int64_t x = 0; x < l; ++x)
        sep.lse.add(in.lse[size_t(h * t + b + x)],
                    alone.data.lse[size_t(h * l + x)]);
    if (o.backward) {
      compare(sep.dq, packed.grads->dq, alone.grads->dq, hq * d);
      compare(sep.dk, packed.grads->dk, alone.grads->dk, hkv * d);
      compare(sep.dv, packed.grads->dv, alone.grads->dv, hkv * dv);
    }
  }
  return sep;
}

/// Median wall time of `repeat` calls of `fn`, in ms.
template <typename Fn> double medianMs(int repeat, Fn fn) {
  std::vector<double> times;
  for (int i = 0; i < std::max(1, repeat); ++i) {
    auto start = std::chrono::steady_clock::now();
    fn();
    times.push_back(std::chrono::duration<double, std::milli>(
                        std::chrono::steady_clock::now() - start)
                        .count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

std::string countsJson(const std::string &prefix,
                       const std::array<int64_t, 3> &c, int64_t total) {
  return ", \"" + prefix + "tiles_computed\": " + std::to_string(c[0]) +
         ", \"" + prefix + "tiles_partial\": " + std::to_string(c[1]) +
         ", \"" + prefix + "tiles_full\": " + std::to_string(c[2]) + ", \"" +
         prefix + "tiles_skipped\": " + std::to_string(total - c[0]);
}

} // namespace

int attn::run::runCpu(mlir::MLIRContext &context, const AttentionSpec &spec,
                      const CpuRunOptions &o) {
  if (o.backward && o.check)
    if (auto why = checkGradientReferenceCost(spec, "--backward --check"))
      fail(*why);
  double compileMs = 0;
  Run run(spec, o.seed, o.backward);
  run.kernel = compile(context, spec, o, &compileMs);
  // The checked run: poisoned outputs, counted tiles. Checks and the
  // packed-vs-separate comparison read its outputs; timed runs come last.
  run.checked(spec);

  // Against the float64 reference (and a naive low-precision one), the tile
  // counts against a brute-force count (the backward visits the same
  // tiles, key tile by key tile).
  CheckResult result;
  GradCheckResult grad;
  bool ok = true, tilesOk = true;
  if (o.check) {
    result = checkAgainstReference(spec, run.data.q, run.data.k, run.data.v,
                                   run.data.out, run.data.lse,
                                   rowsToCheck(spec, o.checkRows, o.seed));
    mask::TileCounts bf =
        spec.tokens() <= kMaxBruteForceTokens
            ? bruteForceTileCounts(spec, o.blockQ, o.blockK)
            : mask::countTiles(spec.ctx(), spec.mask, o.blockQ, o.blockK);
    auto matches = [&](const std::array<int64_t, 3> &c) {
      return bf.computed == c[0] && bf.partial == c[1] && bf.full == c[2];
    };
    tilesOk = matches(run.counts) && (!o.backward || matches(run.gradCounts));
    ok = result.ok && tilesOk;
    if (o.backward) {
      grad = checkGradients(spec, run.data.q, run.data.k, run.data.v,
                            run.grads->dout, *run.grads);
      ok = ok && grad.ok;
    }
  }

  Separate sep;
  if (o.compareSeparate) {
    sep = compareSeparate(context, spec, o, run);
    // Packed and separate runs tile differently, so sums run in a different
    // order: agreement to rounding (1e-5 in f32, 1e-4 for gradients; the
    // input type's rounding of the outputs otherwise).
    double tol = spec.dtype == DType::F32    ? 1e-5
                 : spec.dtype == DType::BF16 ? 8e-3
                                             : 1e-3;
    double gradTol = spec.dtype == DType::F32 ? 1e-4 : 2 * tol;
    bool sepOk = sep.out.result() <= tol && sep.lse.result() <= 1e-5;
    if (o.backward)
      sepOk = sepOk && sep.dq.result() <= gradTol &&
              sep.dk.result() <= gradTol && sep.dv.result() <= gradTol;
    ok = ok && sepOk;
  }

  double timeMs = medianMs(o.repeat, [&] {
    run.kernel->run(spec, run.data.q, run.data.k, run.data.v, run.cu,
                    run.data.out, run.data.lse);
  });
  double bwdMs = o.backward ? medianMs(o.repeat, [&] { run.backward(spec); })
                            : 0.0;
  int64_t t = spec.tokens();
  double flops = usefulFlops(spec);
  // FlashAttention's convention: the backward does 2.5x the forward's work.
  double bwdFlops = 2.5 * flops;
  int64_t total = ((t + o.blockQ - 1) / o.blockQ) *
                  ((t + o.blockK - 1) / o.blockK);
  const char *target = "cpu";
  llvm::raw_ostream &os = llvm::outs();
  if (o.json) {
    os << "{\"tokens\": " << t << ", \"docs\": " << spec.docs()
       << ", \"heads\": " << spec.heads << ", \"kv_heads\": " << spec.kvHeads
       << ", \"head_dim\": " << spec.headDim
       << ", \"value_dim\": " << spec.valueDim << ", \"dtype\": \""
       << toString(spec.dtype) << "\", \"target\": \"" << target
       << "\", \"mask\": \"" << mask::toString(spec.mask)
       << "\", \"block_q\": " << o.blockQ << ", \"block_k\": " << o.blockK
       << ", \"tiles_total\": " << total << countsJson("", run.counts, total)
       << ", \"time_ms\": " << jsonNumber(timeMs)
       << ", \"compile_ms\": " << jsonNumber(compileMs)
       << ", \"useful_flops\": " << jsonNumber(flops)
       << ", \"useful_tflops\": " << jsonNumber(flops / (timeMs * 1e9));
    if (o.backward)
      os << countsJson("bwd_", run.gradCounts, total)
         << ", \"bwd_time_ms\": " << jsonNumber(bwdMs)
         << ", \"bwd_useful_tflops\": "
         << jsonNumber(bwdFlops / (bwdMs * 1e9)) << ", \"deterministic\": "
         << (o.deterministic ? "true" : "false");
    if (o.check) {
      os << ", " << checkJsonFields(result);
      if (o.backward)
        os << ", " << gradCheckJsonFields(grad);
      os << ", \"tiles_match_"
         << (t <= kMaxBruteForceTokens ? "brute_force" : "host_algebra")
         << "\": " << (tilesOk ? "true" : "false")
         << ", \"check\": " << (ok ? "\"pass\"" : "\"FAIL\"")
         << checkFailureJsonFields(result);
    }
    if (o.compareSeparate) {
      os << ", \"separate_rel_err_out\": " << jsonNumber(sep.out.result())
         << ", \"separate_rel_err_lse\": " << jsonNumber(sep.lse.result());
      if (o.backward)
        os << ", \"separate_rel_err_dq\": " << jsonNumber(sep.dq.result())
           << ", \"separate_rel_err_dk\": " << jsonNumber(sep.dk.result())
           << ", \"separate_rel_err_dv\": " << jsonNumber(sep.dv.result());
    }
    os << ", \"ok\": " << (ok ? "true" : "false") << "}\n";
    return ok ? 0 : 1;
  }
  os << "attn-run: " << target << ", " << toString(spec.dtype) << ", "
     << tokensInDocuments(t, spec.docs()) << ", Hq=" << spec.heads
     << " Hkv=" << spec.kvHeads << " D=" << spec.headDim
     << " Dv=" << spec.valueDim << ", mask " << mask::toString(spec.mask)
     << "\n"
     << "tiles (" << o.blockQ << "x" << o.blockK
     << ", per head, counted by the kernel): " << total << " total, "
     << run.counts[0] << " computed (" << run.counts[1] << " partial, "
     << run.counts[2] << " full), " << total - run.counts[0] << " skipped\n"
     << "time: " << textNumber(timeMs) << " ms (median of "
     << std::max(1, o.repeat) << "), " << textNumber(flops / (timeMs * 1e6))
     << " useful GFLOP/s; compile " << textNumber(compileMs) << " ms\n";
  if (o.backward)
    os << "backward" << (o.deterministic ? " (deterministic dq)" : "") << ": "
       << textNumber(bwdMs) << " ms, " << textNumber(bwdFlops / (bwdMs * 1e6))
       << " useful GFLOP/s; tiles " << run.gradCounts[0] << " computed ("
       << run.gradCounts[1] << " partial, " << run.gradCounts[2] << " full)\n";
  if (o.check) {
    os << "check (" << result.rows << " rows vs float64): out rel err "
       << textNumber(result.errOut) << ", lse rel err "
       << textNumber(result.errLse);
    if (spec.dtype != DType::F32)
      os << " (naive " << toString(spec.dtype) << ": "
         << textNumber(result.naiveOut) << ", " << textNumber(result.naiveLse)
         << ")";
    if (o.backward) {
      os << "; dq, dk, dv rel err " << textNumber(grad.errDq) << ", "
         << textNumber(grad.errDk) << ", " << textNumber(grad.errDv);
      if (spec.dtype != DType::F32)
        os << " (naive " << textNumber(grad.naiveDq) << ", "
           << textNumber(grad.naiveDk) << ", " << textNumber(grad.naiveDv)
           << ")";
      if (grad.unwritten || grad.unseenNonZero)
        os << "; " << grad.unwritten << " gradients unwritten, "
           << grad.unseenNonZero << " nonzero for unseen keys";
    }
    os << "; tiles vs "
       << (t <= kMaxBruteForceTokens ? "brute force" : "host mask algebra")
       << ": " << (tilesOk ? "match" : "MISMATCH")
       << " -> " << (ok ? "pass" : "FAIL") << "\n";
    if (!result.ok)
      os << "worst: " << result.worstOut
         << (result.firstUnwritten.empty()
                 ? std::string()
                 : "; first unwritten: " + result.firstUnwritten)
         << "\n";
  }
  if (o.compareSeparate) {
    os << "packed vs separate documents: out rel diff "
       << textNumber(sep.out.result()) << ", lse rel diff "
       << textNumber(sep.lse.result());
    if (o.backward)
      os << ", dq " << textNumber(sep.dq.result()) << ", dk "
         << textNumber(sep.dk.result()) << ", dv "
         << textNumber(sep.dv.result());
    os << " -> " << (ok ? "pass" : "FAIL") << "\n";
  }
  return ok ? 0 : 1;
}
