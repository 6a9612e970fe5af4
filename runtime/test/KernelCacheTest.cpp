//===- KernelCacheTest.cpp - configurations, the cache, the library -------===//

#include "attn/Runtime/KernelLibrary.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>

using namespace attn;
using namespace attn::rt;
namespace fs = std::filesystem;

namespace {

KernelConfig sample() {
  KernelConfig c;
  c.shape.dtype = host::DType::BF16;
  c.shape.heads = 12;
  c.shape.kvHeads = 4;
  c.shape.headDim = 80;
  c.shape.valueDim = 80;
  c.shape.mask = {true, true, 256};
  c.shape.scale = 0.1;
  c.target = "sm_90a";
  c.kernelOptions = "mma=mma-sync";
  return c;
}

/// A fresh directory, removed afterwards.
struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() /
           ("attn-cache-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

/// A compiler that counts its calls and returns `binary`; with `meet` set,
/// each compile waits (up to 5 s) until that many compiles are running.
struct FakeCompiler : Compiler {
  std::atomic<int> keys = 0, compiles = 0, running = 0, mostRunning = 0;
  int meet = 0;
  std::string binary = "not really a cubin";
  std::string refusal;
  std::string version() const override { return "test-1"; }
  bool key(const KernelConfig &c, std::string &key, std::string &) override {
    ++keys;
    key = hash128(c.canonical() + version());
    return true;
  }
  bool compile(const KernelConfig &, CompiledBinary &out,
               std::string &error) override {
    ++compiles;
    int now = ++running;
    for (int seen = mostRunning; now > seen;)
      mostRunning.compare_exchange_weak(seen, now);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (running < meet && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (meet)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    --running;
    if (!refusal.empty()) {
      error = refusal;
      return false;
    }
    out.binary = binary;
    out.launch = R"({"kernel": "attn"})";
    return true;
  }
};

} // namespace

TEST(KernelConfig, CanonicalRoundTrips) {
  KernelConfig c = sample();
  KernelConfig back;
  ASSERT_EQ(parseKernelConfig(c.canonical(), back), std::nullopt);
  EXPECT_EQ(back.canonical(), c.canonical());
  EXPECT_EQ(c.canonical().find(' '), std::string::npos);
  // Field order and spacing in the input do not matter.
  std::string shuffled = R"({ "value_dim": 80, "kernel_options": "mma=mma-sync",
      "target": "sm_90a", "scale": 0.1, "mask": "document,causal,window=256",
      "direction": "forward", "dtype": "bf16", "heads": 12, "kv_heads": 4,
      "head_dim": 80, "deterministic": false })";
  ASSERT_EQ(parseKernelConfig(shuffled, back), std::nullopt);
  EXPECT_EQ(back.canonical(), c.canonical());
  // The default scale is not 1/sqrt(D) written out.
  c.shape.scale.reset();
  EXPECT_NE(c.canonical(), sample().canonical());
}

TEST(KernelConfig, RefusesBadConfigurations) {
  KernelConfig c;
  auto why = [&](const std::string &json) {
    auto r = parseKernelConfig(json, c);
    return r ? *r : std::string();
  };
  EXPECT_NE(why("[1]").find("JSON object"), std::string::npos);
  std::string text = sample().canonical();
  std::string noHeads = text;
  noHeads.erase(noHeads.find("\"heads\":12,"), 11);
  EXPECT_NE(why(noHeads).find("lacks \"heads\""), std::string::npos);
  // An unknown key is named first (a misspelt "heads" is not "lacks").
  std::string headz = text;
  headz.replace(headz.find("\"heads\":12"), 10, "\"headz\":12");
  EXPECT_NE(why(headz).find("unknown key \"headz\""), std::string::npos);
  // A key given twice, and one with a control character, quoted escaped.
  std::string twice = text;
  twice.insert(1, "\"heads\":8,");
  EXPECT_NE(why(twice).find("\"heads\" is given twice"), std::string::npos);
  std::string nul = text;
  nul.insert(1, "\"scale\\u0000\":1,");
  EXPECT_NE(why(nul).find("unknown key \"scale\\u0000\""), std::string::npos);
  std::string huge = text;
  huge.replace(huge.find("\"heads\":12"), 10,
               "\"heads\":18446744073709551615");
  EXPECT_NE(why(huge).find("\"heads\" does not fit in int64"),
            std::string::npos);
  std::string misspelt = text;
  misspelt.insert(1, "\"scael\":0.5,");
  EXPECT_NE(why(misspelt).find("unknown key \"scael\""), std::string::npos);
  KernelConfig bad = sample();
  bad.shape.headDim = bad.shape.valueDim = 100;
  EXPECT_NE(why(bad.canonical()).find("unsupported head dim 100"),
            std::string::npos);
  bad = sample();
  bad.shape.dtype = host::DType::F32;
  EXPECT_NE(why(bad.canonical()).find("not f32"), std::string::npos);
  bad = sample();
  bad.target = "cpu";
  EXPECT_NE(why(bad.canonical()).find("NVIDIA targets only"),
            std::string::npos);
  bad = sample();
  bad.target = "gfx90a";
  EXPECT_NE(why(bad.canonical()).find("unknown target"), std::string::npos);
  bad = sample();
  bad.deterministic = true;
  EXPECT_NE(why(bad.canonical()).find("backward only"), std::string::npos);
  // Both targets reduce dq either way.
  KernelConfig good = bad;
  good.direction = Direction::Backward;
  EXPECT_FALSE(good.validate());
}

TEST(KernelConfig, AotFlagsNameEverything) {
  KernelConfig c = sample();
  c.target = "cpu";
  c.kernelOptions.clear();
  c.direction = Direction::Backward;
  c.deterministic = true;
  EXPECT_EQ(c.aotFlags(),
            "--target cpu --dtype bf16 --heads 12 --kv-heads 4 --head-dim 80 "
            "--value-dim 80 --mask document,causal,window=256 --scale "
            "0.10000000000000001 --backward --deterministic");
  c = sample();
  EXPECT_EQ(c.aotFlags().substr(c.aotFlags().find("--scale")),
            "--scale 0.10000000000000001 --kernel-options 'mma=mma-sync'");
}

TEST(KernelConfig, SequenceHelpers) {
  KernelConfig c;
  c.target = "sm_90a";
  c.sequence = Sequence::SegmentsFromSeparators;
  c.separator = 50256;
  EXPECT_EQ(c.canonical(), R"({"separator":50256,"sequence":)"
                           R"("segments_from_separators","target":"sm_90a"})");
  EXPECT_EQ(c.describe(), "segments_from_separators (separator 50256), sm_90a");
  EXPECT_EQ(c.aotFlags(), "--target sm_90a --sequence segments_from_separators "
                          "--separator 50256");
  KernelConfig back;
  ASSERT_EQ(parseKernelConfig(c.canonical(), back), std::nullopt);
  EXPECT_EQ(back.canonical(), c.canonical());
  c.sequence = Sequence::DocPositions;
  c.separator = 0;
  c.target = "cpu";
  EXPECT_EQ(c.canonical(), R"({"sequence":"doc_positions","target":"cpu"})");
  EXPECT_EQ(c.aotFlags(), "--target cpu --sequence doc_positions");
  ASSERT_EQ(parseKernelConfig(c.canonical(), back), std::nullopt);
  EXPECT_TRUE(back.isSequence() && back.cpu());
  c.sequence = Sequence::CheckCuSeqlens;
  c.target = "sm_90a";
  EXPECT_EQ(c.canonical(),
            R"({"sequence":"check_cu_seqlens","target":"sm_90a"})");
  EXPECT_EQ(c.aotFlags(), "--target sm_90a --sequence check_cu_seqlens");
  ASSERT_EQ(parseKernelConfig(c.canonical(), back), std::nullopt);
  EXPECT_EQ(back.sequence, Sequence::CheckCuSeqlens);
  // An attention configuration's canonical text is not a sequence's.
  EXPECT_NE(sample().canonical(), c.canonical());
  EXPECT_FALSE(sample().isSequence());

  auto why = [&](const std::string &json) {
    auto r = parseKernelConfig(json, back);
    return r ? *r : std::string();
  };
  EXPECT_NE(why(R"({"sequence":"positions","target":"cpu"})")
                .find("unknown sequence 'positions'"),
            std::string::npos);
  EXPECT_NE(why(R"({"sequence":"segments_from_separators","target":"cpu"})")
                .find("lacks \"separator\""),
            std::string::npos);
  EXPECT_NE(why(R"({"sequence":"doc_positions","target":"cpu","separator":0})")
                .find("a separator applies to segments_from_separators only"),
            std::string::npos);
  EXPECT_NE(
      why(R"({"sequence":"check_cu_seqlens","target":"cpu","separator":2})")
          .find("a separator applies to segments_from_separators only"),
      std::string::npos);
  EXPECT_NE(why(R"({"sequence":"doc_positions","target":"cpu","heads":4})")
                .find("a sequence helper's configuration has no \"heads\""),
            std::string::npos);
  EXPECT_NE(why(R"({"sequence":"segments_from_separators","target":"cpu",)"
                R"("separator":9223372036854775808})")
                .find("\"separator\" does not fit in int64"),
            std::string::npos);
  ASSERT_EQ(why(R"({"sequence":"segments_from_separators","target":"cpu",)"
                R"("separator":-1})"),
            "");
  EXPECT_EQ(back.separator, -1);
  EXPECT_NE(why(R"({"sequence":"doc_positions","target":"gfx90a"})")
                .find("unknown target"),
            std::string::npos);
  c.kernelOptions = "mma=wgmma";
  EXPECT_NE(c.validate().value_or("").find("takes no attention options"),
            std::string::npos);
}

TEST(KernelCache, StoresAndFindsVerifiedEntries) {
  TempDir dir;
  KernelCache cache(dir.path.string());
  KernelConfig c = sample();
  std::string why;
  EXPECT_EQ(cache.find(c, "k1", &why), std::nullopt);
  EXPECT_EQ(why, ""); // absent, not corrupt
  CacheEntry stored =
      cache.store(c, "k1", "v1", "binary bytes", R"({"kernel": "attn"})");
  auto found = cache.find(c, "k1", &why);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->binary, "binary bytes");
  EXPECT_EQ(found->launch, R"({"kernel":"attn"})");
  EXPECT_EQ(found->binaryPath, stored.binaryPath);
  // Another configuration's lookup does not see it, under any key.
  KernelConfig other = c;
  other.shape.heads = 24;
  EXPECT_EQ(cache.find(other, "k1"), std::nullopt);
  EXPECT_EQ(cache.findAny(other), std::nullopt);
  EXPECT_TRUE(cache.findAny(c));
  // No temporary files are left behind.
  for (const auto &f : fs::directory_iterator(dir.path))
    EXPECT_EQ(f.path().string().find(".tmp."), std::string::npos);
}

TEST(KernelCache, CorruptEntriesAreNeverLoaded) {
  TempDir dir;
  KernelCache cache(dir.path.string());
  KernelConfig c = sample();
  CacheEntry e = cache.store(c, "k1", "v1", "binary bytes", "");
  std::string why;
  // Truncated, or the same size with one byte changed.
  for (const char *damaged : {"binary", "binary bytez"}) {
    std::ofstream(e.binaryPath, std::ios::binary | std::ios::trunc) << damaged;
    EXPECT_EQ(cache.find(c, "k1", &why), std::nullopt) << damaged;
    EXPECT_NE(why.find("does not match its checksum"), std::string::npos)
        << why;
    EXPECT_EQ(cache.findAny(c), std::nullopt) << damaged;
  }
  std::ofstream(e.manifestPath, std::ios::trunc) << "{ not json";
  EXPECT_EQ(cache.find(c, "k1", &why), std::nullopt);
  EXPECT_NE(why.find("not a kernel manifest"), std::string::npos) << why;
}

/// Sets (or, given nullptr, unsets) an environment variable for a scope.
struct ScopedEnv {
  std::string name;
  std::optional<std::string> old;
  ScopedEnv(const char *name, const char *value) : name(name) {
    if (const char *v = std::getenv(name))
      old = v;
    value ? setenv(name, value, 1) : unsetenv(name);
  }
  ~ScopedEnv() {
    old ? setenv(name.c_str(), old->c_str(), 1) : unsetenv(name.c_str());
  }
};

TEST(KernelCache, DefaultDirectory) {
  ScopedEnv cacheDir("ATTN_OPT_CACHE_DIR", nullptr),
      xdg("XDG_CACHE_HOME", nullptr), home("HOME", "/home/someone");
  EXPECT_EQ(KernelCache::defaultDir(), "/home/someone/.cache/attn-opt");
  {
    ScopedEnv x("XDG_CACHE_HOME", "/var/cache/me");
    EXPECT_EQ(KernelCache::defaultDir(), "/var/cache/me/attn-opt");
    ScopedEnv relative("XDG_CACHE_HOME", "relative"); // ignored, as XDG says
    EXPECT_EQ(KernelCache::defaultDir(), "/home/someone/.cache/attn-opt");
    ScopedEnv set("ATTN_OPT_CACHE_DIR", "/data/kernels");
    EXPECT_EQ(KernelCache::defaultDir(), "/data/kernels");
  }
  // Without HOME, or with a relative one: the user's home directory,
  // never one relative to the working directory.
  for (const char *h : {static_cast<const char *>(nullptr), "relative"}) {
    ScopedEnv noHome("HOME", h);
    EXPECT_EQ(KernelCache::defaultDir().front(), '/');
  }
}

TEST(KernelCache, PrivateDirectoryInASharedOne) {
  TempDir shared;
  fs::create_directories(shared.path);
  auto mode = [](const fs::path &p) {
    return fs::status(p).permissions() & fs::perms::all;
  };
  // Missing: made, for this user alone.
  fs::path mine = shared.path / "cache";
  EXPECT_EQ(KernelCache::privateDir(mine.string()), mine.string());
  EXPECT_EQ(mode(mine), fs::perms::owner_all);
  EXPECT_EQ(KernelCache::privateDir(mine.string()), mine.string());
  // Open to others (as another user's planted one would be): not used.
  fs::path open = shared.path / "open";
  fs::create_directory(open);
  fs::permissions(open, fs::perms::all);
  std::string other = KernelCache::privateDir(open.string());
  EXPECT_NE(other, open.string());
  EXPECT_EQ(other.rfind(open.string() + "-", 0), 0u) << other;
  EXPECT_EQ(mode(other), fs::perms::owner_all);
}

TEST(KernelCache, FindAnyTakesTheNewest) {
  TempDir dir;
  KernelCache cache(dir.path.string());
  KernelConfig c = sample();
  CacheEntry old = cache.store(c, "old", "v1", "old binary", "");
  fs::last_write_time(old.manifestPath, fs::file_time_type::clock::now() -
                                            std::chrono::hours(1));
  cache.store(c, "new", "v2", "new binary", "");
  auto found = cache.findAny(c);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->binary, "new binary");
}

TEST(KernelLibrary, CompilesOnceThenHitsMemoryAndDisk) {
  TempDir dir;
  KernelConfig c = sample();
  auto compiler = std::make_shared<FakeCompiler>();
  KernelLibrary library(dir.path.string(), compiler);
  auto k = library.get(c);
  EXPECT_EQ(k->entry.binary, "not really a cubin");
  EXPECT_EQ(library.get(c), k);
  EXPECT_EQ(compiler->compiles, 1);
  EXPECT_EQ(library.stats().memoryHits, 1);
  // A new library (another process) finds it on disk.
  KernelLibrary again(dir.path.string(), compiler);
  again.get(c);
  EXPECT_EQ(compiler->compiles, 1);
  EXPECT_EQ(again.stats().diskHits, 1);
  // A corrupt entry is compiled again and replaced.
  std::ofstream(k->entry.binaryPath, std::ios::trunc) << "x";
  KernelLibrary third(dir.path.string(), compiler);
  third.get(c);
  EXPECT_EQ(compiler->compiles, 2);
  EXPECT_EQ(third.stats().replacedCorrupt, 1);
}

TEST(KernelLibrary, ErrorsNameTheProblem) {
  TempDir dir;
  KernelConfig c = sample();
  auto compiler = std::make_shared<FakeCompiler>();
  compiler->refusal = "the compiler says no";
  KernelLibrary library(dir.path.string(), compiler);
  std::string error;
  EXPECT_EQ(library.getNoThrow(c, error), nullptr);
  EXPECT_EQ(error, "the compiler says no");
  KernelConfig bad = c;
  bad.shape.heads = 5;
  EXPECT_EQ(library.getNoThrow(bad, error), nullptr);
  EXPECT_NE(error.find("multiple of the key/value head count"),
            std::string::npos);
  // Without a compiler: the command that compiles the missing kernel.
  KernelLibrary runtimeOnly(dir.path.string(), nullptr);
  EXPECT_EQ(runtimeOnly.getNoThrow(c, error), nullptr);
  EXPECT_NE(error.find("attn-opt-aot --out " + dir.path.string() + " " +
                       c.aotFlags()),
            std::string::npos)
      << error;
}

TEST(KernelLibrary, CompilesConfigurationsAtOnceAndEachOnce) {
  TempDir dir;
  auto compiler = std::make_shared<FakeCompiler>();
  compiler->meet = 2;
  KernelLibrary library(dir.path.string(), compiler);
  KernelConfig a = sample(), b = sample();
  b.shape.heads = 8;
  // Two configurations, three calls each, from six threads: each compiled
  // once, the two at the same time (each compile waits for the other).
  std::vector<std::shared_ptr<const LoadedKernel>> got(6);
  std::vector<KernelLibrary::Found> how(6);
  std::vector<std::thread> threads;
  for (int i = 0; i < 6; ++i)
    threads.emplace_back(
        [&, i] { got[i] = library.get(i % 2 ? b : a, &how[i]); });
  for (auto &t : threads)
    t.join();
  EXPECT_EQ(compiler->compiles, 2);
  EXPECT_EQ(compiler->mostRunning, 2);
  for (int i = 0; i < 6; ++i)
    EXPECT_EQ(got[i], got[i % 2]);
  EXPECT_EQ(std::count(how.begin(), how.end(), KernelLibrary::Found::Compiled),
            2);
  EXPECT_EQ(library.stats().compiled, 2);
  EXPECT_EQ(library.stats().memoryHits, 4);
  KernelLibrary::Found again;
  library.get(a, &again);
  EXPECT_EQ(again, KernelLibrary::Found::Memory);
  KernelLibrary other(dir.path.string(), compiler);
  other.get(b, &again);
  EXPECT_EQ(again, KernelLibrary::Found::Disk);
}

TEST(KernelLibrary, WaitingCallsGetTheRefusal) {
  TempDir dir;
  auto compiler = std::make_shared<FakeCompiler>();
  compiler->refusal = "the compiler says no";
  KernelLibrary library(dir.path.string(), compiler);
  KernelConfig c = sample();
  std::vector<std::string> errors(4);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&, i] { library.getNoThrow(c, errors[i]); });
  for (auto &t : threads)
    t.join();
  for (const std::string &e : errors)
    EXPECT_EQ(e, "the compiler says no");
  // A refusal is not remembered: the next call asks the compiler again.
  int before = compiler->compiles;
  compiler->refusal.clear();
  EXPECT_NE(library.get(c), nullptr);
  EXPECT_EQ(compiler->compiles, before + 1);
}
