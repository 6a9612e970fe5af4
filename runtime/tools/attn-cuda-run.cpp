//===- attn-cuda-run.cpp - run and check a compiled attention kernel ------===//
//
//   attn-cuda-run --kernel attn.cubin (reads attn.cubin.json)
//       (--doc-lengths 300,0,1,4000 | --cu-seqlens 0,300,... |
//        --tokens 16384 --docs lognormal:1024 | --num-docs 20 --docs ...)
//       [--seed 7] [--check] [--check-rows N] [--repeat 20] [--json]
//
// The GPU half of `attn-run --target cuda`: no MLIR, so it builds on a GPU
// machine from runtime/ and lib/Host alone. Inputs are fresh random values,
// outputs are poisoned (NaN) before the checked run; --check compares with
// the float64 reference over the dense mask (lib/Host) on all rows up to
// 4096 tokens, else 256 sampled rows (first and last of documents + random).
//===----------------------------------------------------------------------===//

#include "attn/Host/Host.h"
#include "attn/Runtime/Attention.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>
#include <random>

using namespace attn;
using namespace attn::host;

[[noreturn]] static void fail(const std::string &msg) {
  std::cerr << "attn-cuda-run: error: " << msg << "\n";
  std::exit(1);
}

static std::string num(double v) {
  if (std::isnan(v))
    return "NaN";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.6g", v);
  return buf;
}

int main(int argc, char **argv) {
  std::map<std::string, std::string> opt;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) != 0)
      fail("unexpected argument '" + a + "'");
    a = a.substr(2);
    if (a == "check" || a == "json")
      opt[a] = "1";
    else if (i + 1 < argc)
      opt[a] = argv[++i];
    else
      fail("--" + a + " needs a value");
  }
  auto get = [&](const std::string &k, const std::string &def = "") {
    auto it = opt.find(k);
    return it == opt.end() ? def : it->second;
  };
  std::string path = get("kernel");
  if (path.empty())
    fail("--kernel FILE is required (with FILE.json beside it)");

  try {
    rt::KernelInfo info = rt::parseManifest(rt::readFile(path + ".json"));
    AttentionSpec spec;
    std::optional<DType> dt = parseDType(info.dtype);
    if (!dt)
      fail("manifest dtype '" + info.dtype + "' unknown");
    spec.dtype = *dt;
    spec.heads = info.heads;
    spec.kvHeads = info.kvHeads;
    spec.headDim = info.headDim;
    spec.valueDim = info.valueDim;
    spec.scale = info.scale;
    if (auto why = parseMask(info.mask, spec.mask))
      fail("manifest mask: " + *why);
    uint64_t seed = std::stoull(get("seed", "1"));
    std::vector<int64_t> values;
    if (!get("doc-lengths").empty()) {
      if (auto why = parseIntList(get("doc-lengths"), values))
        fail(*why);
      if (auto why = cuFromLengths(values, spec.cuSeqlens))
        fail(*why);
    } else if (!get("cu-seqlens").empty()) {
      if (auto why = parseIntList(get("cu-seqlens"), values))
        fail(*why);
      spec.cuSeqlens.assign(values.begin(), values.end());
    } else if (!get("docs").empty()) {
      if (auto why = sampleDocLengths(get("docs"),
                                      std::stoll(get("tokens", "0")),
                                      std::stoll(get("num-docs", "0")), seed,
                                      values))
        fail(*why);
      if (auto why = cuFromLengths(values, spec.cuSeqlens))
        fail(*why);
    } else
      fail("give --doc-lengths, --cu-seqlens or --docs");
    if (auto why = spec.validate())
      fail(*why);

    std::string device;
    rt::initDevice(&device);
    rt::AttentionKernel kernel(rt::readFile(path), info);

    int64_t t = spec.tokens();
    Buffer q(spec.dtype, t * spec.heads * spec.headDim);
    Buffer k(spec.dtype, t * spec.kvHeads * spec.headDim);
    Buffer v(spec.dtype, t * spec.kvHeads * spec.valueDim);
    Buffer out(spec.dtype, t * spec.heads * spec.valueDim);
    std::vector<float> lse(size_t(spec.heads * t));
    fillRandom(q, seed * 3 + 0);
    fillRandom(k, seed * 3 + 1);
    fillRandom(v, seed * 3 + 2);
    rt::DeviceBuffer dq(q.bytes.size()), dk(k.bytes.size()),
        dv(v.bytes.size()), dout(out.bytes.size()),
        dlse(lse.size() * sizeof(float)),
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
    rt::synchronize();
    dout.copyToHost(out.data(), out.bytes.size());
    dlse.copyToHost(lse.data(), dlse.size());

    int repeat = std::stoi(get("repeat", "20"));
    for (int i = 0; i < 3; ++i)
      run(); // warm-up
    std::vector<float> times;
    for (int i = 0; i < std::max(1, repeat); ++i)
      times.push_back(rt::timeMs(nullptr, run));
    std::sort(times.begin(), times.end());
    double timeMs = times[times.size() / 2];
    double flops = usefulFlops(spec);
    mask::TileCounts tiles =
        mask::countTiles(spec.ctx(), spec.mask, info.blockQ, info.blockK);

    bool ok = true;
    double errOut = 0, errLse = 0, naiveOut = 0, naiveLse = 0;
    size_t checked = 0, unwritten = 0;
    if (!get("check").empty()) {
      for (int64_t i = 0; i < out.size(); ++i)
        unwritten += std::isnan(out.get(i));
      for (float x : lse)
        unwritten += std::isnan(x);
      std::vector<int64_t> rows =
          rowsToCheck(spec, std::stoll(get("check-rows", "-1")), seed);
      checked = rows.size();
      ReferenceRows ref = reference(spec, q, k, v, rows, RefMode::Exact);
      ReferenceRows naive =
          reference(spec, q, k, v, rows, RefMode::NaiveLowPrecision);
      errOut = relErrOut(spec, out, ref);
      errLse = relErrLse(spec, lse, ref);
      naiveOut = relErrRows(naive, ref, false);
      naiveLse = relErrRows(naive, ref, true);
      ok = unwritten == 0 && errOut <= 2 * naiveOut &&
           errLse <= std::max(2 * naiveLse, 1e-5);
    }
    std::cout << "{\"device\": \"" << device << "\", \"tokens\": " << t
              << ", \"docs\": " << spec.docs() << ", \"heads\": " << spec.heads
              << ", \"kv_heads\": " << spec.kvHeads
              << ", \"head_dim\": " << spec.headDim << ", \"dtype\": \""
              << info.dtype << "\", \"target\": \"cuda\", \"mask\": \""
              << info.mask << "\", \"block_q\": " << info.blockQ
              << ", \"block_k\": " << info.blockK
              << ", \"tiles_total\": " << tiles.total
              << ", \"tiles_computed\": " << tiles.computed
              << ", \"tiles_partial\": " << tiles.partial
              << ", \"tiles_full\": " << tiles.full
              << ", \"tiles_skipped\": " << tiles.skipped()
              << ", \"time_ms\": " << num(timeMs)
              << ", \"useful_tflops\": " << num(flops / (timeMs * 1e9));
    if (!get("check").empty())
      std::cout << ", \"checked_rows\": " << checked
                << ", \"unwritten\": " << unwritten
                << ", \"rel_err_out\": " << num(errOut)
                << ", \"rel_err_lse\": " << num(errLse)
                << ", \"naive_rel_err_out\": " << num(naiveOut)
                << ", \"naive_rel_err_lse\": " << num(naiveLse)
                << ", \"check\": " << (ok ? "\"pass\"" : "\"FAIL\"");
    std::cout << "}\n";
    return ok ? 0 : 1;
  } catch (const rt::Error &e) {
    fail(e.what());
  }
}
