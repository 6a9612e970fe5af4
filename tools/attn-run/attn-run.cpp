//===- attn-run.cpp - build, compile, run and check one attention problem ===//
//
//   attn-run --target cpu --dtype bf16 --heads 16 --kv-heads 4 --head-dim 128
//            (--doc-lengths 300,0,1,4000 | --cu-seqlens 0,300,300,301,4301 |
//             --tokens 16384 --docs lognormal:1024 --seed 7)
//            --mask document,causal [--block-q 64 --block-k 64]
//            [--check] [--json] [--tile-map] [--emit mlir|llvm]
//
//===----------------------------------------------------------------------===//

#include "CpuRun.h"
#include "attn/Conversion/AttnToNVGPU/AttnToNVGPU.h"
#include "attn/Dialect/Attn/Transforms/Transforms.h"
#include "attn/Frontend/AttentionModule.h"
#include "attn/Host/Host.h"
#include "attn/JIT/Compiler.h"
#include "attn/Pipelines/Pipelines.h"
#include "attn/Registration/Registration.h"
#include "attn/Runtime/Files.h"
#include "attn/Support/CommandLine.h"
#ifdef ATTN_HAVE_CUDA_RUNTIME
#include "attn/Runtime/Run.h"
#endif

#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <limits>
#include <random>

using namespace attn;
using namespace attn::host;
namespace cl = llvm::cl;

static cl::OptionCategory cat("attn-run options");
static cl::opt<std::string>
    target("target",
           cl::desc("cpu (compiled and run here; the default) or cuda "
                    "(NVIDIA: compiled here, run where a GPU and the CUDA "
                    "driver are)"),
           cl::init("cpu"), cl::cat(cat));
static cl::opt<std::string> dtype("dtype",
                                  cl::desc("f32, bf16 or f16 (default: f32)"),
                                  cl::init("f32"), cl::cat(cat));
static cl::opt<int64_t> heads("heads", cl::desc("query heads (default: 4)"),
                              cl::init(4), cl::cat(cat));
static cl::opt<int64_t> kvHeads("kv-heads",
                                cl::desc("key/value heads (default: heads)"),
                                cl::init(0), cl::cat(cat));
static cl::opt<int64_t>
    headDim("head-dim",
            cl::desc("D: 32, 64, 80, 96, 128, 192 or 256 (default: 64)"),
            cl::init(64), cl::cat(cat));
static cl::opt<int64_t> valueDim("value-dim",
                                 cl::desc("Dv (default: head-dim)"),
                                 cl::init(0), cl::cat(cat));
static cl::opt<std::string> docLengths("doc-lengths",
                                       cl::desc("document lengths, a,b,c"),
                                       cl::cat(cat));
static cl::opt<std::string> cuSeqlens("cu-seqlens",
                                      cl::desc("cumulative offsets 0,a,...,T"),
                                      cl::cat(cat));
static cl::opt<int64_t> tokens("tokens", cl::desc("total tokens (with --docs)"),
                               cl::init(0), cl::cat(cat));
static cl::opt<std::string>
    docs("docs",
         cl::desc("document length distribution: lognormal:MEDIAN, "
                  "uniform:MAX, uniform:MIN-MAX, fixed:L"),
         cl::cat(cat));
static cl::opt<int64_t> numDocs("num-docs",
                                cl::desc("number of documents (with --docs, "
                                         "instead of --tokens)"),
                                cl::init(0), cl::cat(cat));
static cl::opt<uint64_t> seed("seed", cl::desc("random seed"), cl::init(1),
                              cl::cat(cat));
static cl::opt<std::string> maskOpt("mask",
                                    cl::desc("document,causal[,window=W], "
                                             "a subset of those terms, or "
                                             "none (every key)"),
                                    cl::init("document,causal"), cl::cat(cat));
static cl::opt<double> scale("scale",
                             cl::desc("softmax scale (default: 1/sqrt(D))"),
                             cl::init(0.0), cl::cat(cat));
static cl::opt<int64_t> blockQ("block-q", cl::desc("query rows per tile"),
                               cl::init(64), cl::cat(cat));
static cl::opt<int64_t> blockK("block-k", cl::desc("keys per tile"),
                               cl::init(64), cl::cat(cat));
static cl::opt<bool>
    check("check", cl::desc("compare with a float64 reference"), cl::cat(cat));
static cl::opt<int64_t>
    checkRows("check-rows",
              cl::desc("rows to check (0: all; default: all up to 4096 "
                       "tokens, else 256 sampled rows)"),
              cl::init(-1), cl::cat(cat));
static cl::opt<bool> json("json", cl::desc("print one JSON object"),
                          cl::cat(cat));
static cl::opt<bool> tileMap("tile-map",
                             cl::desc("print the tile classification and "
                                      "exit"),
                             cl::cat(cat));
static cl::opt<std::string> kernelOptions(
    "kernel-options",
    cl::desc("--target cuda: the kernel flavour, as attn-gpu-tile-attention's "
             "options ('mma=wgmma schedule=plain grid=tiles loads=cp.async "
             "stores=st.global block-k=128'; attn-opt --help lists them; "
             "default: mma=auto, the chip's measured default)"),
    cl::value_desc("options"), cl::cat(cat));
static cl::opt<std::string> emit("emit",
                                 cl::desc("write the module (mlir), its lowering "
                                          "(llvm) or, with --target cuda, the "
                                          "kernel (ptx, cubin) and exit"),
                                 cl::cat(cat));
static cl::opt<bool> compareSeparate(
    "compare-separate",
    cl::desc("also run every document alone (the mask less its document "
             "term) and compare per token with the packed run"),
    cl::cat(cat));
static cl::opt<bool> backward(
    "backward",
    cl::desc("also the backward pass (attn.attention_grad): --target cpu "
             "runs it on a fresh random dout (with --check, dq, dk and dv "
             "against the float64 reference; with --compare-separate, too); "
             "--target cuda compiles its kernel into the same image (the "
             "manifest's \"backward\")"),
    cl::cat(cat));
static cl::opt<bool> deterministic(
    "deterministic",
    cl::desc("with --backward: dq from a query-major pass (bit-identical "
             "run to run) instead of f32 atomics (cpu and cuda)"),
    cl::cat(cat));
static cl::opt<std::string> outputFile("o", cl::desc("output file for --emit"),
                                       cl::value_desc("file"), cl::init("-"),
                                       cl::cat(cat));
static cl::opt<std::string> sequence(
    "sequence",
    cl::desc("instead of attention, a sequence helper's kernel: "
             "doc_positions, segments_from_separators (with --separator; "
             "padded to T + 1 entries) or check_cu_seqlens; needs --emit"),
    cl::cat(cat));
static cl::opt<int64_t> separator(
    "separator",
    cl::desc("--sequence segments_from_separators: the end-of-document "
             "token id"),
    cl::cat(cat));
static cl::opt<std::string> arch("arch",
                                 cl::desc("GPU architecture (--target cuda)"),
                                 cl::init("sm_90a"), cl::cat(cat));
static cl::opt<int> repeat("repeat", cl::desc("timed runs (median)"),
                           cl::init(3), cl::cat(cat));

using attn::run::fail;

/// A flag the chosen target would ignore is an error: the cuda-only flags
/// on the CPU, the CPU-only ones on cuda.
static void checkTargetFlags() {
  const cl::Option *cudaOnly[] = {&arch, &kernelOptions};
  if (target == "cuda" && blockK.getNumOccurrences())
    fail("--block-k does not apply to --target cuda: the kernel's key tile "
         "is --kernel-options 'block-k=N'");
  // (On cuda the kernel's flavour fixes the query rows per tile; the
  // backward has a message of its own.)
  const cl::Option *cpuOnly[] = {&blockQ, &compareSeparate};
  for (const cl::Option *o :
       target == "cpu" ? llvm::ArrayRef<const cl::Option *>(cudaOnly)
                       : llvm::ArrayRef<const cl::Option *>(cpuOnly))
    if (o->getNumOccurrences())
      fail("--" + o->ArgStr.str() + " does not apply to --target " + target);
}

/// A cubin is not written to a terminal (to a pipe or a file it is).
static void checkBinaryOutput() {
  if (emit == "cubin" && outputFile == "-" &&
      llvm::sys::Process::StandardOutIsDisplayed())
    fail("--emit cubin writes a binary image: give -o FILE (its manifest "
         "goes to FILE.json), not the terminal");
}

/// A flag the mode would ignore is an error: --tile-map prints the tile
/// classification (nothing is compiled, run or written), --emit writes a
/// module or kernel (nothing runs), -o is --emit's file.
static void checkModeFlags() {
  const cl::Option *runOnly[] = {&check, &checkRows, &compareSeparate, &repeat,
                                 &json};
  if (tileMap) {
    // (The CPU schedule's tiles: an NVIDIA kernel's come from its flavour.)
    if (target == "cuda")
      fail("--tile-map shows the CPU schedule's tiles (--block-q, "
           "--block-k); it does not apply to --target cuda");
    const cl::Option *notForTileMap[] = {&emit, &outputFile, &backward,
                                         &deterministic, &kernelOptions};
    for (const cl::Option *o : llvm::concat<const cl::Option *const>(
             llvm::ArrayRef(runOnly), llvm::ArrayRef(notForTileMap)))
      if (o->getNumOccurrences())
        fail("--" + o->ArgStr.str() +
             " does not apply to --tile-map (it prints the tile map and "
             "exits)");
    return;
  }
  if (!emit.empty()) {
    for (const cl::Option *o : runOnly)
      if (o->getNumOccurrences())
        fail("--" + o->ArgStr.str() +
             " does not apply to --emit (it writes "
             "the " +
             emit + " and runs nothing)");
    checkBinaryOutput();
  } else if (outputFile.getNumOccurrences()) {
    fail("-o names --emit's output: give --emit mlir|llvm|ptx|cubin");
  }
}

static AttentionSpec parseSpec() {
  AttentionSpec spec;
  std::optional<DType> t = parseDType(dtype);
  if (!t)
    fail("unknown --dtype '" + dtype + "' (expected f32, bf16 or f16)");
  spec.dtype = *t;
  if (heads < 1)
    fail("--heads must be at least 1");
  if (kvHeads.getNumOccurrences() && kvHeads < 1)
    fail("--kv-heads must be at least 1 (default: --heads)");
  spec.heads = heads;
  spec.kvHeads =
      kvHeads.getNumOccurrences() ? int64_t(kvHeads) : int64_t(heads);
  spec.headDim = headDim;
  spec.valueDim =
      valueDim.getNumOccurrences() ? int64_t(valueDim) : int64_t(headDim);
  if (scale.getNumOccurrences())
    spec.scale = scale;
  if (auto why = parseMask(maskOpt, spec.mask))
    fail("--mask: " + *why);

  if (tokens.getNumOccurrences() && tokens < 1)
    fail("--tokens must be at least 1");
  if (numDocs.getNumOccurrences() && numDocs < 1)
    fail("--num-docs must be at least 1");
  DocumentFlags flags{docLengths, cuSeqlens, docs, tokens, numDocs, seed};
  if (auto why = cuFromFlags(flags, spec.cuSeqlens))
    fail(*why);
  if (auto why = spec.validate())
    fail(*why);
  if (!mlir::attn::areCpuTileSizes(blockQ, blockK))
    fail("--block-q and --block-k must be 1 to " +
         std::to_string(mlir::attn::kMaxCpuTileSize));
  if (auto why = checkRunFlags(repeat,
                               checkRows.getNumOccurrences()
                                   ? std::optional<int64_t>(checkRows)
                                   : std::nullopt,
                               check, "--check"))
    fail(*why);
  if (target != "cpu" && target != "cuda")
    fail("unknown --target '" + target + "' (expected cpu or cuda)");
  checkTargetFlags();
  checkModeFlags();
  if (target == "cuda" && !mlir::attn::maxSharedBytesPerBlock(arch))
    fail("unsupported --arch '" + arch + "' (the NVIDIA kernels support " +
         mlir::attn::kSupportedChips.str() + ")");
  std::string why;
  if (target == "cuda" &&
      !mlir::attn::parseAttnGPUTileAttention(kernelOptions, why))
    fail("--kernel-options: " + why);
  if (!tileMap) // (the tile map allocates no tensors)
    if (auto why = checkHostMemory(spec, backward))
      fail(*why);
  if (target == "cuda" && spec.dtype == DType::F32 && !tileMap)
    fail(std::string("the cuda target supports f16 and bf16 (tensor cores), "
                     "not f32") +
         (dtype.getNumOccurrences()
              ? ""
              : " (the default --dtype): give --dtype bf16 or f16"));
  if (target == "cuda" && backward && emit.empty())
    fail("--backward --target cuda: running the backward on a GPU goes "
         "through attn-cuda-run; here --emit ptx|cubin compiles it");
  if (deterministic && !backward)
    fail("--deterministic applies to the backward pass: give --backward");
  return spec;
}

static void printTileMap(const AttentionSpec &spec) {
  mask::HostCtx<int32_t> ctx = spec.ctx();
  int64_t t = spec.tokens();
  int64_t numQ = (t + blockQ - 1) / blockQ, numK = (t + blockK - 1) / blockK;
  const int64_t kMax = 96;
  llvm::outs() << "tile map: " << tokensInDocuments(t, spec.docs()) << ", mask "
               << mask::toString(spec.mask) << ", " << blockQ << "x" << blockK
               << " tiles (rows: query tiles, "
               << "columns: key tiles)\n"
               << "  # full (no mask math)   + partial (masked)   . skipped\n";
  for (int64_t qt = 0; qt < std::min(numQ, kMax); ++qt) {
    std::string row;
    for (int64_t kt = 0; kt < std::min(numK, kMax); ++kt) {
      switch (mask::classifyTile(ctx, spec.mask, qt * blockQ,
                                 std::min(t, (qt + 1) * blockQ), kt * blockK,
                                 std::min(t, (kt + 1) * blockK))) {
      case mask::TileKind::Full:
        row += '#';
        break;
      case mask::TileKind::Partial:
        row += '+';
        break;
      case mask::TileKind::Empty:
        row += '.';
        break;
      }
    }
    llvm::outs() << "  " << row << "\n";
  }
  if (numQ > kMax || numK > kMax)
    llvm::outs() << "  (first " << kMax << "x" << kMax << " of " << numQ << "x"
                 << numK << " tiles shown)\n";
  mask::TileCounts c = mask::countTiles(ctx, spec.mask, blockQ, blockK);
  llvm::outs() << "tiles: " << c.total << " total, " << c.computed
               << " computed (" << c.partial << " partial, " << c.full
               << " full), " << c.skipped() << " skipped\n";
}

/// The module's text.
static std::string printed(mlir::ModuleOp module) {
  std::string text;
  llvm::raw_string_ostream os(text);
  module.print(os);
  return text;
}

/// Writes `bytes` to --o ("-": stdout) and, for a file, `manifest` (if
/// any) to FILE.json, each through a temporary file renamed into place
/// (rt::writeFileAtomically): a failure writes nothing partial, and a
/// kernel is never left without its manifest.
static void writeOutput(const std::string &bytes,
                        const std::string *manifest = nullptr) {
  if (outputFile == "-") {
    llvm::outs() << bytes;
    return;
  }
  std::string error;
  if (!attn::rt::writeFileAtomically(outputFile, bytes, error))
    fail(error);
  if (manifest &&
      !attn::rt::writeFileAtomically(outputFile + ".json", *manifest, error)) {
    llvm::sys::fs::remove(outputFile);
    fail(error);
  }
}

/// --target cuda: compile the kernel; --emit ptx|cubin|llvm writes it.
static int runCuda(mlir::MLIRContext &context, mlir::ModuleOp module,
                   const AttentionSpec &spec) {
  mlir::attn::GPUPipelineOptions options;
  options.chip = arch;
  options.kernel = kernelOptions;
  options.deterministic = deterministic;
  if (emit == "llvm")
    options.format = "offloading";
  else if (emit == "ptx")
    options.format = "isa";
  else if (emit == "cubin" || emit.empty())
    options.format = "bin";
  else
    fail("unknown --emit '" + emit +
         "' for --target cuda (expected ptx, "
         "cubin, llvm or mlir)");
  // Running needs a device: say so before compiling.
  if (emit.empty()) {
#ifdef ATTN_HAVE_CUDA_RUNTIME
    std::string why;
    if (!attn::rt::driverAvailable(&why))
      fail("no usable CUDA device (" + why +
           "); --emit ptx|cubin compiles without one");
#else
    fail("this attn-run was built without the CUDA runtime (no cuda.h); "
         "--emit ptx|cubin compiles without it");
#endif
  }
  mlir::PassManager pm(&context);
  mlir::attn::buildGPUPipeline(pm, options);
  if (failed(pm.run(module)))
    fail("GPU compilation failed"); // (the pipeline's error says why)
  if (emit == "llvm") {
    writeOutput(printed(module));
    return 0;
  }
  auto binary = mlir::attn::getKernelBinary(module);
  if (!binary)
    fail(llvm::toString(binary.takeError()));
  auto contract = attn::jit::launchManifest(
      module, emit.empty() ? std::string("cubin") : std::string(emit));
  if (!contract)
    fail(llvm::toString(contract.takeError()));
#ifdef ATTN_HAVE_CUDA_RUNTIME
  if (emit.empty()) {
    // Launch through the runtime: the same checks and JSON as attn-cuda-run.
    attn::rt::RunOptions run;
    run.seed = seed;
    run.check = check;
    run.checkRows = checkRows;
    run.repeat = repeat;
    attn::rt::KernelInfo info =
        attn::rt::parseManifest(*contract);
    bool ok = false;
    if (auto error = attn::rt::runAttentionNoThrow(*binary, info, spec, run,
                                                   std::cout, ok))
      fail(*error);
    std::cout.flush();
    return ok ? 0 : 1;
  }
#endif
  writeOutput(*binary, &*contract);
  return 0;
}

/// --sequence `kind`: the helper's module, compiled as --emit says.
static int emitSequence(mlir::MLIRContext &context, Sequence kind) {
  if (target == "cpu" && arch.getNumOccurrences())
    fail("--arch does not apply to --target cpu");
  if (emit.empty())
    fail("--sequence compiles a kernel (--emit mlir, llvm, ptx or cubin); "
         "attn_opt runs them (doc_positions, segments_from_separators, and "
         "check_cu_seqlens inside doc_attention)");
  if (target != "cpu" && target != "cuda")
    fail("unknown --target '" + target + "' (expected cpu or cuda)");
  if (target == "cuda" && !mlir::attn::maxSharedBytesPerBlock(arch))
    fail("unsupported --arch '" + arch + "' (the NVIDIA kernels support " +
         mlir::attn::kSupportedChips.str() + ")");
  // (The other flags describe an attention problem or a run.)
  const cl::Option *applies[] = {&sequence, &separator, &target,
                                 &arch,     &emit,      &outputFile};
  for (const auto &entry : cl::getRegisteredOptions()) {
    const cl::Option *o = entry.second;
    if (o->getNumOccurrences() && llvm::is_contained(o->Categories, &cat) &&
        !llvm::is_contained(applies, o))
      fail("--" + o->ArgStr.str() + " does not apply to --sequence");
  }
  checkBinaryOutput();
  auto module = mlir::attn::buildSequenceModule(
      context, kind, separator,
      target == "cuda" ? mlir::attn::Target::NVIDIA : mlir::attn::Target::CPU);
  if (emit == "mlir") {
    writeOutput(printed(*module));
    return 0;
  }
  if (target == "cuda")
    return runCuda(context, *module, AttentionSpec());
  if (emit != "llvm")
    fail("unknown --emit '" + emit +
         "' (expected mlir or llvm; with --target cuda also ptx or cubin)");
  mlir::PassManager pm(&context);
  mlir::attn::buildCPUPipeline(pm, mlir::attn::CPUPipelineOptions());
  if (failed(pm.run(*module)))
    fail("lowering failed");
  writeOutput(printed(*module));
  return 0;
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::HideUnrelatedOptions(cat);
  attn::rejectUnknownHelpLikeOptions(argc, argv);
  attn::addVersionPrinter(attn::jit::compilerVersion());
  cl::ParseCommandLineOptions(argc, argv,
                              "attn-run: build, compile, run and check one "
                              "packed-sequence attention problem\n");
  Sequence kind;
  if (auto why = sequenceFromFlags(sequence.getNumOccurrences(), sequence,
                                   separator.getNumOccurrences(), kind))
    fail(*why);
  if (kind != Sequence::None) {
    mlir::DialectRegistry registry;
    mlir::attn::registerAttnDialects(registry);
    mlir::MLIRContext context(registry);
    context.disableMultithreading();
    return emitSequence(context, kind);
  }
  AttentionSpec spec = parseSpec();
  if (tileMap) {
    printTileMap(spec);
    return 0;
  }

  mlir::DialectRegistry registry;
  mlir::attn::registerAttnDialects(registry);
  mlir::MLIRContext context(registry);
  context.disableMultithreading();
  if (target == "cpu" && emit.empty()) {
    // runCpu builds, compiles and times the module itself.
    attn::run::CpuRunOptions options;
    options.blockQ = blockQ;
    options.blockK = blockK;
    options.check = check;
    options.checkRows = checkRows;
    options.compareSeparate = compareSeparate;
    options.json = json;
    options.repeat = repeat;
    options.seed = seed;
    options.backward = backward;
    options.deterministic = deterministic;
    return attn::run::runCpu(context, spec, options);
  }
  auto module = mlir::attn::buildAttentionModule(
      context, spec,
      target == "cuda" ? mlir::attn::Target::NVIDIA : mlir::attn::Target::CPU,
      backward ? mlir::attn::Functions::Both : mlir::attn::Functions::Forward);
  if (emit == "mlir") {
    writeOutput(printed(*module));
    return 0;
  }
  if (target == "cuda")
    return runCuda(context, *module, spec);
  if (emit == "llvm") {
    mlir::attn::CPUPipelineOptions options;
    options.blockQ = blockQ;
    options.blockK = blockK;
    options.countTiles = true;
    options.deterministic = deterministic;
    mlir::PassManager pm(&context);
    mlir::attn::buildCPUPipeline(pm, options);
    if (failed(pm.run(*module)))
      fail("lowering failed");
    writeOutput(printed(*module));
    return 0;
  }
  fail("unknown --emit '" + emit +
       "' (expected mlir or llvm; with "
       "--target cuda also ptx or cubin)");
}