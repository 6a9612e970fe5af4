//===- attn-cuda-run.cpp - run and check a compiled attention kernel ------===//
//
//   attn-cuda-run --kernel attn.cubin (reads attn.cubin.json)
//       (--doc-lengths 300,0,1,4000 | --cu-seqlens 0,300,... |
//        --tokens 16384 --docs lognormal:1024 | --num-docs 20 --docs ...)
//       [--seed 7] [--check] [--check-rows N] [--repeat 20] [--json]
//       [--save-inputs DIR | --check-outputs DIR] [--resident-blocks N]
//       [--backward] (the image's backward kernel: run after the forward,
//                     timed, with --check its gradients against float64;
//                     with --save-inputs / --check-outputs its inputs and
//                     gradients for another executor)
//
// The GPU half of `attn-run --target cuda`: no MLIR, so it builds on a GPU
// machine from runtime/ and lib/Host alone. Inputs are fresh random values,
// outputs are poisoned (NaN) before the checked run; --check compares with
// the float64 reference over the dense mask (lib/Host) on all rows up to
// 4096 tokens, else 256 sampled rows (first and last of documents + random).
// --resident-blocks N launches a persistent or dynamic kernel with at most N
// blocks, so that each block takes several work items even in a small
// problem. With --check, one more launch after the timed ones must give the
// first one's outputs bit for bit ("rerun_identical").
//===----------------------------------------------------------------------===//

#include "attn/Host/Host.h"
#include "attn/Runtime/Run.h"

#include <iostream>
#include <map>
#include <set>

using namespace attn;
using namespace attn::host;

[[noreturn]] static void fail(const std::string &msg) {
  std::cerr << "attn-cuda-run: error: " << msg << "\n";
  std::exit(1);
}

static const char *kUsage =
    "usage: attn-cuda-run --kernel FILE (FILE.json beside it)\n"
    "  (--doc-lengths 300,0,1 | --cu-seqlens 0,300,300,301 |\n"
    "   --tokens N --docs lognormal:M|uniform:MAX|uniform:MIN-MAX|fixed:L |\n"
    "   --num-docs N --docs ...) [--seed S]\n"
    "  [--check] [--check-rows N] [--repeat N] [--resident-blocks N]\n"
    "  [--backward] [--save-inputs DIR | --check-outputs DIR]\n"
    "Runs and checks a compiled attention kernel on a GPU (or, with\n"
    "--save-inputs / --check-outputs, for another executor); one JSON line.\n";

int main(int argc, char **argv) {
  if (argc < 2 || std::string(argv[1]) == "--help" ||
      std::string(argv[1]) == "-h") {
    (argc < 2 ? std::cerr : std::cout) << kUsage;
    return argc < 2 ? 1 : 0;
  }
  std::map<std::string, std::string> opt;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) != 0)
      fail("unexpected argument '" + a + "'");
    a = a.substr(2);
    static const std::set<std::string> known = {
        "kernel",   "doc-lengths", "cu-seqlens",    "docs",           "tokens",
        "num-docs", "seed",        "check",         "check-rows",     "repeat",
        "json",     "save-inputs", "check-outputs", "resident-blocks",
        "backward"};
    if (!known.count(a))
      fail("unknown option '--" + a + "'");
    if (a == "check" || a == "json" || a == "backward")
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
    AttentionSpec spec = rt::specFromManifest(info);
    DocumentFlags flags{get("doc-lengths"),
                        get("cu-seqlens"),
                        get("docs"),
                        std::stoll(get("tokens", "0")),
                        std::stoll(get("num-docs", "0")),
                        std::stoull(get("seed", "1"))};
    if (auto why = cuFromFlags(flags, spec.cuSeqlens))
      fail(*why);
    if (auto why = checkHostMemory(spec, !get("backward").empty()))
      fail(*why);

    rt::RunOptions options;
    options.seed = flags.seed;
    options.check = !get("check").empty();
    options.checkRows = std::stoll(get("check-rows", "-1"));
    options.repeat = std::stoi(get("repeat", "20"));
    options.residentBlocks = std::stoll(get("resident-blocks", "0"));
    // (Before any device call: a machine without one says so second.)
    if (auto why =
            checkRunFlags(options.repeat,
                          get("check-rows").empty()
                              ? std::nullopt
                              : std::optional<int64_t>(options.checkRows),
                          options.check || !get("check-outputs").empty(),
                          "--check or --check-outputs"))
      fail(*why);
    if (options.residentBlocks < 0)
      fail("--resident-blocks must be at least 0 (0: as many as fit)");
    // Without a GPU: the inputs for another executor, or a check of what
    // it wrote.
    std::string saveDir = get("save-inputs"), checkDir = get("check-outputs");
    if (!saveDir.empty() && !checkDir.empty())
      fail("--save-inputs and --check-outputs are two separate steps");
    if (!get("backward").empty()) {
      // The image's backward kernel (its manifest's "backward").
      if (!info.backward)
        fail(path + ".json describes no backward kernel (attn-run --target "
                    "cuda --backward --emit ... builds one)");
      if (saveDir.empty() && checkDir.empty())
        return rt::runAttentionBackward(rt::readFile(path), info, spec,
                                        options, std::cout)
                   ? 0
                   : 1;
      if (!saveDir.empty()) {
        rt::saveGradInputs(spec, options.seed, saveDir);
        return 0;
      }
      return rt::checkSavedGradients(*info.backward, spec, options, checkDir,
                                     std::cout)
                 ? 0
                 : 1;
    }
    if (!saveDir.empty()) {
      rt::saveInputs(spec, options.seed, saveDir);
      return 0;
    }
    if (!checkDir.empty())
      return rt::checkSavedOutputs(info, spec, options, checkDir, std::cout)
                 ? 0
                 : 1;
    bool ok =
        rt::runAttention(rt::readFile(path), info, spec, options, std::cout);
    return ok ? 0 : 1;
  } catch (const rt::Error &e) {
    fail(e.what());
  } catch (const std::logic_error &e) { // std::stoll and friends
    fail(std::string("bad number in an option (") + e.what() + ")");
  } catch (const std::bad_alloc &) {
    fail("out of host memory (the problem is too large for this machine)");
  }
}
