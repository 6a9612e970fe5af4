//===- attn-opt-aot.cpp - fill a kernel cache ahead of time ---------------===//
//
//   attn-opt-aot --out DIR --target sm_90a --dtype bf16 --heads 16
//                --kv-heads 4 --head-dim 128 [--mask document,causal]
//                [--scale S] [--backward [--deterministic]]
//                [--kernel-options '...']
//   attn-opt-aot --out DIR --target sm_90a --sequence doc_positions
//   attn-opt-aot --out DIR --target cpu --sequence segments_from_separators
//                --separator 50256
//   attn-opt-aot --out DIR --configs FILE [--jobs N]  (one JSON per line)
//
// Compiles each configuration into DIR (a kernel cache: ATTN_OPT_CACHE_DIR
// on the machine that runs them, which needs only the runtime), skipping
// those already there, N at once (default: the hardware threads). Prints
// one line per configuration, in the file's order; a configuration the
// compiler refuses is an error line, the others are still compiled, and
// the exit status is 1.
//===----------------------------------------------------------------------===//

#include "attn/JIT/Compiler.h"
#include "attn/Support/CommandLine.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <mutex>
#include <thread>

using namespace attn;
namespace cl = llvm::cl;

static cl::OptionCategory cat("attn-opt-aot options");
static cl::opt<std::string>
    out("out",
        cl::desc("the cache directory to fill (default: "
                 "ATTN_OPT_CACHE_DIR, else "
                 "$XDG_CACHE_HOME/attn-opt or ~/.cache/attn-opt)"),
        cl::cat(cat));
static cl::opt<std::string>
    configs("configs",
            cl::desc("a file of configurations, one canonical JSON object "
                     "per line (instead of the flags below)"),
            cl::cat(cat));
static cl::opt<std::string> target("target",
                                   cl::desc("cpu (the default) or an NVIDIA "
                                            "chip (sm_80, ..., sm_90a)"),
                                   cl::init("cpu"), cl::cat(cat));
static cl::opt<std::string> dtype("dtype",
                                  cl::desc("f32, bf16 or f16 (default: bf16)"),
                                  cl::init("bf16"), cl::cat(cat));
static cl::opt<int64_t> heads("heads", cl::desc("query heads"), cl::init(0),
                              cl::cat(cat));
static cl::opt<int64_t> kvHeads("kv-heads",
                                cl::desc("key/value heads (default: heads)"),
                                cl::init(0), cl::cat(cat));
static cl::opt<int64_t> headDim("head-dim", cl::desc("D"), cl::init(0),
                                cl::cat(cat));
static cl::opt<int64_t> valueDim("value-dim",
                                 cl::desc("Dv (default: head-dim)"),
                                 cl::init(0), cl::cat(cat));
static cl::opt<std::string> maskOpt("mask",
                                    cl::desc("document,causal[,window=W] or "
                                             "none"),
                                    cl::init("document,causal"), cl::cat(cat));
static cl::opt<double> scale("scale", cl::desc("softmax scale (default "
                                               "1/sqrt(D))"),
                             cl::cat(cat));
static cl::opt<bool> backward("backward", cl::desc("the backward kernel"),
                              cl::cat(cat));
static cl::opt<bool> deterministic(
    "deterministic", cl::desc("backward: dq without atomics"), cl::cat(cat));
static cl::opt<std::string> kernelOptions(
    "kernel-options", cl::desc("NVIDIA: attn-gpu-tile-attention's options"),
    cl::cat(cat));
static cl::opt<std::string> sequence(
    "sequence",
    cl::desc("instead of attention, a sequence helper's kernel: "
             "doc_positions, segments_from_separators (with --separator) "
             "or check_cu_seqlens (attn_opt's check on a GPU)"),
    cl::cat(cat));
static cl::opt<unsigned>
    jobs("jobs",
         cl::desc("configurations compiled at once (default: the machine's "
                  "hardware threads)"),
         cl::init(0), cl::cat(cat));
static cl::opt<int64_t> separator(
    "separator", cl::desc("segments_from_separators: the end-of-document id"),
    cl::cat(cat));

[[noreturn]] static void fail(const std::string &message) {
  llvm::errs() << "attn-opt-aot: error: " << message << "\n";
  std::exit(1);
}

static rt::KernelConfig configFromFlags() {
  rt::KernelConfig c;
  c.target = target;
  Sequence s;
  if (auto why = sequenceFromFlags(sequence.getNumOccurrences(), sequence,
                                   separator.getNumOccurrences(), s))
    fail(*why);
  if (s != Sequence::None) {
    for (const cl::Option *o : std::initializer_list<const cl::Option *>{
             &dtype, &heads, &kvHeads, &headDim, &valueDim, &maskOpt, &scale,
             &backward, &deterministic, &kernelOptions})
      if (o->getNumOccurrences())
        fail("--" + o->ArgStr.str() + " does not apply to --sequence");
    c.sequence = s;
    c.separator = separator;
    if (auto why = c.validate())
      fail(*why);
    return c;
  }
  auto t = host::parseDType(dtype);
  if (!t)
    fail("unknown --dtype '" + dtype + "' (expected f32, bf16 or f16)");
  c.shape.dtype = *t;
  if (!heads.getNumOccurrences() || !headDim.getNumOccurrences())
    fail("--heads and --head-dim are required (or --configs FILE)");
  if (heads < 1)
    fail("--heads must be at least 1");
  c.shape.heads = heads;
  // (Given, a value is used or refused: 0 is not the default.)
  c.shape.kvHeads =
      kvHeads.getNumOccurrences() ? int64_t(kvHeads) : int64_t(heads);
  c.shape.headDim = headDim;
  c.shape.valueDim =
      valueDim.getNumOccurrences() ? int64_t(valueDim) : int64_t(headDim);
  if (auto why = host::parseMask(maskOpt, c.shape.mask))
    fail("--mask: " + *why);
  if (scale.getNumOccurrences())
    c.shape.scale = double(scale);
  c.direction = backward ? rt::Direction::Backward : rt::Direction::Forward;
  c.deterministic = deterministic;
  c.kernelOptions = kernelOptions;
  if (auto why = c.validate())
    fail(*why);
  return c;
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::HideUnrelatedOptions(cat);
  attn::rejectUnknownHelpLikeOptions(argc, argv);
  attn::addVersionPrinter(attn::jit::compilerVersion());
  cl::ParseCommandLineOptions(argc, argv,
                              "attn-opt-aot: compile kernels into a kernel "
                              "cache ahead of time\n");
  if (jobs.getNumOccurrences() && jobs < 1)
    fail("--jobs must be at least 1 (default: the machine's hardware "
         "threads)");
  std::vector<rt::KernelConfig> all;
  std::vector<std::string> where; // "FILE:LINE: " of each, for --configs
  if (!configs.empty()) {
    for (const cl::Option *o :
         {(cl::Option *)&heads, (cl::Option *)&headDim, (cl::Option *)&backward,
          (cl::Option *)&sequence, (cl::Option *)&separator})
      if (o->getNumOccurrences())
        fail("--configs FILE and --" + o->ArgStr.str() +
             " are exclusive: give a configuration one way");
    std::ifstream in(configs);
    if (!in)
      fail("cannot read " + configs);
    std::string line;
    for (int n = 1; std::getline(in, line); ++n) {
      if (line.find_first_not_of(" \t\r") == std::string::npos)
        continue;
      rt::KernelConfig c;
      if (auto why = rt::parseKernelConfig(line, c))
        fail(configs + ":" + std::to_string(n) + ": " + *why);
      all.push_back(std::move(c));
      where.push_back(configs + ":" + std::to_string(n) + ": ");
    }
    if (all.empty())
      fail(configs + " holds no configuration (one canonical JSON object per "
           "line)");
  } else {
    all.push_back(configFromFlags());
  }

  std::string dir = out.empty() ? rt::KernelCache::defaultDir() : out;
  rt::KernelLibrary library(dir, jit::makeCompiler());
  // Workers take the next configuration; each result is printed in the
  // file's order, as soon as those before it are.
  struct Result {
    bool done = false;
    std::string line, error;
  };
  std::vector<Result> results(all.size());
  std::mutex mutex;
  size_t next = 0, printed = 0;
  int failures = 0;
  auto work = [&] {
    for (;;) {
      size_t i;
      {
        std::lock_guard<std::mutex> lock(mutex);
        if (next == all.size())
          return;
        i = next++;
      }
      const rt::KernelConfig &c = all[i];
      auto start = std::chrono::steady_clock::now();
      Result r;
      rt::KernelLibrary::Found found;
      if (auto kernel = library.getNoThrow(c, r.error, &found)) {
        double ms = std::chrono::duration<double, std::milli>(
                        std::chrono::steady_clock::now() - start)
                        .count();
        llvm::raw_string_ostream os(r.line);
        os << (found == rt::KernelLibrary::Found::Compiled ? "compiled "
                                                           : "cached   ")
           << c.describe() << " (" << llvm::format("%.0f", ms) << " ms) -> "
           << kernel->entry.manifestPath;
      } else {
        r.error = (where.empty() ? "" : where[i]) + r.error;
      }
      std::lock_guard<std::mutex> lock(mutex);
      r.done = true;
      results[i] = std::move(r);
      for (; printed < all.size() && results[printed].done; ++printed) {
        const Result &p = results[printed];
        if (p.error.empty()) {
          llvm::outs() << p.line << "\n";
          llvm::outs().flush();
        } else {
          llvm::errs() << "attn-opt-aot: error: " << p.error << "\n";
          ++failures;
        }
      }
    }
  };
  unsigned workers = jobs.getNumOccurrences()
                         ? unsigned(jobs)
                         : std::max(1u, std::thread::hardware_concurrency());
  workers = std::min<size_t>(workers, all.size());
  std::vector<std::thread> threads;
  for (unsigned t = 1; t < workers; ++t)
    threads.emplace_back(work);
  work();
  for (std::thread &t : threads)
    t.join();
  if (failures)
    return 1;
  return 0;
}
