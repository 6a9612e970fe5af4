//===- RuntimeTest.cpp - runtime tests (device tests skip without a GPU) --===//

#include "attn/Runtime/Attention.h"
#include "attn/Runtime/CpuKernel.h"
#include "attn/Runtime/Cuda.h"
#include "attn/Runtime/SequenceKernel.h"

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

using namespace attn::rt;

TEST(KernelArgs, ExpandsMemRefDescriptors) {
  KernelArgs args;
  int dummy = 0;
  args.addMemRef(&dummy, {10, 4, 64});
  args.addMemRef(&dummy, {11});
  std::vector<void *> &p = args.params();
  ASSERT_EQ(9u + 5u, p.size());
  auto at = [&](size_t i) { return *static_cast<int64_t *>(p[i]); };
  EXPECT_EQ(int64_t(reinterpret_cast<intptr_t>(&dummy)), at(0));
  EXPECT_EQ(at(0), at(1));
  EXPECT_EQ(0, at(2));
  EXPECT_EQ(10, at(3));
  EXPECT_EQ(4, at(4));
  EXPECT_EQ(64, at(5));
  EXPECT_EQ(256, at(6)); // strides
  EXPECT_EQ(64, at(7));
  EXPECT_EQ(1, at(8));
  EXPECT_EQ(11, at(12));
  EXPECT_EQ(1, at(13));
}

TEST(KernelArgs, PassesBytesAsOneParameter) {
  KernelArgs args;
  int dummy = 0;
  args.addMemRef(&dummy, {7});
  unsigned char map[128];
  for (int i = 0; i < 128; ++i)
    map[i] = static_cast<unsigned char>(i * 3);
  args.addBytes(map, sizeof(map));
  args.addMemRef(&dummy, {5});
  std::vector<void *> &p = args.params();
  ASSERT_EQ(5u + 1u + 5u, p.size());
  EXPECT_EQ(0, std::memcmp(p[5], map, sizeof(map)));
  EXPECT_EQ(5, *static_cast<int64_t *>(p[9]));
  EXPECT_THROW(args.addBytes(map, 12), Error);
  std::vector<size_t> sizes(11, 8);
  sizes[5] = 128;
  EXPECT_EQ(sizes, args.sizes());
}

/// parseManifest refuses `json` with an Error naming `word`; `what` says
/// what was wrongly accepted otherwise.
static void expectRejected(const std::string &json, const char *word,
                           const char *what) {
  try {
    parseManifest(json);
    ADD_FAILURE() << what;
  } catch (const Error &e) {
    EXPECT_NE(std::string::npos, std::string(e.what()).find(word)) << e.what();
  }
}

TEST(Manifest, ParsesAndRejects) {
  KernelInfo i = parseManifest(
      R"({"kernel": "attn", "arch": "sm_90a", "format": "cubin", "dtype": "bf16", "heads": 16, "kv_heads": 4, "head_dim": 128, "value_dim": 128, "mask": "document,causal", "scale": 0.0883883, "block_q": 64, "block_k": 64, "threads": 128, "shared_bytes": 87040})");
  EXPECT_EQ("attn", i.kernel);
  EXPECT_EQ("document,causal", i.mask);
  EXPECT_EQ(4, i.kvHeads);
  EXPECT_EQ(87040, i.sharedBytes);
  EXPECT_NEAR(0.0883883, i.scale, 1e-9);
  EXPECT_EQ("mma-sync", i.mma); // manifests without the field
  KernelInfo w = parseManifest(
      R"({"kernel": "attn", "arch": "sm_90a", "mma": "wgmma", "format": "cubin", "dtype": "bf16", "heads": 16, "kv_heads": 16, "head_dim": 128, "value_dim": 128, "mask": "document,causal", "scale": 0.0883883, "block_q": 128, "block_k": 128, "threads": 256, "shared_bytes": 164864})");
  EXPECT_EQ("wgmma", w.mma);
  EXPECT_EQ(256, w.threads);
  EXPECT_EQ("plain", w.schedule); // manifests without the field
  KernelInfo o = parseManifest(
      R"({"kernel": "attn", "arch": "sm_90a", "mma": "wgmma", "schedule": "softmax-overlap", "format": "cubin", "dtype": "bf16", "heads": 16, "kv_heads": 16, "head_dim": 128, "value_dim": 128, "mask": "document,causal", "scale": 0.0883883, "block_q": 128, "block_k": 128, "threads": 256, "shared_bytes": 164864})");
  EXPECT_EQ("softmax-overlap", o.schedule);
  KernelInfo s = parseManifest(
      R"({"kernel": "attn", "arch": "sm_90a", "mma": "wgmma", "schedule": "warp-specialized", "format": "cubin", "dtype": "bf16", "heads": 16, "kv_heads": 16, "head_dim": 128, "value_dim": 128, "mask": "document,causal", "scale": 0.0883883, "block_q": 128, "block_k": 128, "threads": 384, "shared_bytes": 164992})");
  EXPECT_EQ("warp-specialized", s.schedule);
  EXPECT_EQ(384, s.threads);
  KernelInfo pp = parseManifest(
      R"({"kernel": "attn", "arch": "sm_90a", "mma": "wgmma", "schedule": "warp-specialized-pingpong", "format": "cubin", "dtype": "bf16", "heads": 16, "kv_heads": 16, "head_dim": 128, "value_dim": 128, "mask": "document,causal", "scale": 0.0883883, "block_q": 128, "block_k": 128, "threads": 384, "shared_bytes": 164992})");
  EXPECT_EQ("warp-specialized-pingpong", pp.schedule);
  EXPECT_EQ("tiles", pp.grid); // manifests without the field
  KernelInfo ps = parseManifest(
      R"({"kernel": "attn", "arch": "sm_90a", "mma": "wgmma", "schedule": "warp-specialized", "grid": "persistent", "format": "cubin", "dtype": "bf16", "heads": 16, "kv_heads": 16, "head_dim": 128, "value_dim": 128, "mask": "document,causal", "scale": 0.0883883, "block_q": 128, "block_k": 128, "threads": 384, "shared_bytes": 164992})");
  EXPECT_EQ("persistent", ps.grid);
  EXPECT_EQ("cp.async", ps.loads); // manifests without the field
  KernelInfo t = parseManifest(
      R"({"kernel": "attn", "arch": "sm_90a", "mma": "wgmma", "schedule": "warp-specialized", "grid": "tiles", "loads": "tma", "format": "cubin", "dtype": "bf16", "heads": 16, "kv_heads": 16, "head_dim": 128, "value_dim": 128, "mask": "document,causal", "scale": 0.0883883, "block_q": 128, "block_k": 128, "threads": 384, "shared_bytes": 164992})");
  EXPECT_EQ("tma", t.loads);
  EXPECT_FALSE(t.persistentGrid());
  KernelInfo d = parseManifest(
      R"({"kernel": "attn", "arch": "sm_90a", "mma": "wgmma", "schedule": "warp-specialized-pingpong", "grid": "dynamic", "loads": "tma", "format": "cubin", "dtype": "bf16", "heads": 16, "kv_heads": 16, "head_dim": 128, "value_dim": 128, "mask": "document,causal", "scale": 0.0883883, "block_q": 128, "block_k": 128, "threads": 384, "shared_bytes": 164992})");
  EXPECT_EQ("dynamic", d.grid);
  EXPECT_EQ("st.global", d.stores); // manifests without the field
  KernelInfo ts = parseManifest(
      R"({"kernel": "attn", "arch": "sm_90a", "mma": "wgmma", "schedule": "warp-specialized", "grid": "tiles", "loads": "tma", "stores": "tma", "store_rows": 64, "format": "cubin", "dtype": "bf16", "heads": 16, "kv_heads": 16, "head_dim": 128, "value_dim": 128, "mask": "document,causal", "scale": 0.0883883, "block_q": 128, "block_k": 128, "threads": 384, "shared_bytes": 197760})");
  EXPECT_EQ("tma", ts.stores);
  EXPECT_EQ(64, ts.storeRows);
  expectRejected(
      R"({"kernel": "attn", "arch": "sm_90a", "mma": "wgmma", "loads": "cp.async", "stores": "tma", "store_rows": 64, "dtype": "bf16", "heads": 1, "kv_heads": 1, "head_dim": 64, "value_dim": 64, "mask": "document", "scale": 1, "block_q": 128, "block_k": 64, "threads": 384, "shared_bytes": 1})",
      "needs", "a TMA store without TMA loads was accepted");
  expectRejected(
      R"({"kernel": "attn", "arch": "sm_90a", "mma": "wgmma", "loads": "tma", "stores": "tma", "dtype": "bf16", "heads": 1, "kv_heads": 1, "head_dim": 64, "value_dim": 64, "mask": "document", "scale": 1, "block_q": 128, "block_k": 64, "threads": 384, "shared_bytes": 1})",
      "store_rows", "a TMA store without its rows was accepted");
  EXPECT_TRUE(d.persistentGrid());
  EXPECT_TRUE(ps.persistentGrid());
  expectRejected(
      R"({"kernel": "attn", "arch": "sm_90a", "mma": "wgmma", "loads": "ldg", "dtype": "bf16", "heads": 1, "kv_heads": 1, "head_dim": 64, "value_dim": 64, "mask": "document", "scale": 1, "block_q": 128, "block_k": 64, "threads": 256, "shared_bytes": 1})",
      "ldg", "unknown loads were accepted");
  expectRejected(
      R"({"kernel": "attn", "arch": "sm_90a", "mma": "wgmma", "grid": "clusters", "dtype": "bf16", "heads": 1, "kv_heads": 1, "head_dim": 64, "value_dim": 64, "mask": "document", "scale": 1, "block_q": 128, "block_k": 64, "threads": 256, "shared_bytes": 1})",
      "clusters", "an unknown grid was accepted");
  expectRejected(
      R"({"kernel": "attn", "arch": "sm_90a", "mma": "wgmma", "schedule": "ping-pong", "dtype": "bf16", "heads": 1, "kv_heads": 1, "head_dim": 64, "value_dim": 64, "mask": "document", "scale": 1, "block_q": 128, "block_k": 64, "threads": 256, "shared_bytes": 1})",
      "ping-pong", "an unknown schedule was accepted");
  expectRejected(
      R"({"kernel": "attn", "arch": "sm_90a", "mma": "tcgen05", "dtype": "bf16", "heads": 1, "kv_heads": 1, "head_dim": 64, "value_dim": 64, "mask": "document", "scale": 1, "block_q": 128, "block_k": 64, "threads": 128, "shared_bytes": 1})",
      "tcgen05", "an unknown mma was accepted");
  expectRejected(R"({"kernel": "attn"})", "lacks",
                 "a manifest without fields was accepted");
  // Malformed JSON is said to be malformed (not a missing field); heads
  // that do not group, negative shared memory and a string where a number
  // belongs are refused.
  expectRejected(R"({"kernel": "attn", "arch": )", "not valid JSON",
                 "malformed JSON was accepted");
  expectRejected(R"([1, 2])", "not a JSON object",
                 "a JSON array was accepted");
  expectRejected(
      R"({"kernel": "attn", "arch": "sm_90a", "dtype": "bf16", "heads": 3, "kv_heads": 2, "head_dim": 64, "value_dim": 64, "mask": "document", "scale": 1, "block_q": 128, "block_k": 64, "threads": 128, "shared_bytes": 1})",
      "multiple of kv_heads", "heads 3 / kv_heads 2 were accepted");
  expectRejected(
      R"({"kernel": "attn", "arch": "sm_90a", "dtype": "bf16", "heads": 2, "kv_heads": 2, "head_dim": 64, "value_dim": 64, "mask": "document", "scale": 1, "block_q": 128, "block_k": 64, "threads": 128, "shared_bytes": -5})",
      "shared_bytes -5 is not 0 to 232448",
      "negative shared memory was accepted");
  // More than any GPU's block may have: it would be cut to an int on its
  // way to the driver (2^32 + 100 became 100).
  expectRejected(
      R"({"kernel": "attn", "arch": "sm_90a", "dtype": "bf16", "heads": 2, "kv_heads": 2, "head_dim": 64, "value_dim": 64, "mask": "document", "scale": 1, "block_q": 128, "block_k": 64, "threads": 128, "shared_bytes": 4294967396})",
      "shared_bytes 4294967396 is not 0 to 232448",
      "shared memory past 227 KiB was accepted");
  expectRejected(
      R"({"kernel": "attn", "arch": "sm_90a", "dtype": "bf16", "heads": "2", "kv_heads": 2, "head_dim": 64, "value_dim": 64, "mask": "document", "scale": 1, "block_q": 128, "block_k": 64, "threads": 128, "shared_bytes": 5})",
      "\"heads\" is not an integer", "a string head count was accepted");
  expectRejected(
      R"({"kernel": "attn", "arch": "sm_90a", "dtype": "bf16", "heads": 2, "kv_heads": 2, "head_dim": 100, "value_dim": 64, "mask": "document", "scale": 1, "block_q": 128, "block_k": 64, "threads": 128, "shared_bytes": 5})",
      "head dims must be 32, 64, 80, 96, 128, 192 and 256",
      "head dim 100 was accepted");
  // Found by the fuzzer: heads this large overflowed the grid arithmetic.
  expectRejected(
      R"({"kernel": "attn", "arch": "sm_90a", "mma": "wgmma", "grid": "dynamic", "loads": "tma", "dtype": "bf16", "heads": 1099511627776, "kv_heads": 1, "head_dim": 128, "value_dim": 128, "mask": "document,causal", "scale": 0.1, "block_q": 1, "block_k": 128, "threads": 384, "shared_bytes": 197760})",
      "more than 4096 heads", "2^40 heads were accepted");
  expectRejected(
      R"({"kernel": "attn", "arch": "sm_90a", "dtype": "f32", "heads": 2, "kv_heads": 2, "head_dim": 64, "value_dim": 64, "mask": "document", "scale": 1, "block_q": 128, "block_k": 64, "threads": 128, "shared_bytes": 5})",
      "dtype", "an f32 kernel was accepted");
}

TEST(Manifest, BackwardColumnParts) {
  // A backward kernel names its column parts, which must be the ones its
  // head dims get (attn::backwardColumnParts).
  KernelInfo b = parseManifest(
      R"({"kernel": "attn_grad", "direction": "backward", "arch": "sm_90a", "mma": "mma-sync", "dtype": "bf16", "heads": 4, "kv_heads": 2, "head_dim": 256, "value_dim": 128, "mask": "document,causal", "scale": 0.1, "block_q": 64, "block_k": 64, "column_parts": 4, "threads": 128, "shared_bytes": 1})");
  EXPECT_EQ(4, b.columnParts);
  EXPECT_EQ(1, parseManifest(
                   R"({"kernel": "attn", "arch": "sm_90a", "dtype": "bf16", "heads": 2, "kv_heads": 2, "head_dim": 256, "value_dim": 256, "mask": "document", "scale": 1, "block_q": 64, "block_k": 64, "threads": 128, "shared_bytes": 1})")
                   .columnParts);
  expectRejected(
      R"({"kernel": "attn_grad", "direction": "backward", "arch": "sm_90a", "mma": "mma-sync", "dtype": "bf16", "heads": 4, "kv_heads": 2, "head_dim": 256, "value_dim": 256, "mask": "document,causal", "scale": 0.1, "block_q": 64, "block_k": 64, "column_parts": 2, "threads": 128, "shared_bytes": 1})",
      "column_parts 2 is not the backward's 4",
      "a backward kernel's wrong column parts were accepted");
  // Without the field (caches from before it): one part, which must be
  // what its head dims get.
  EXPECT_EQ(1, parseManifest(
                   R"({"kernel": "attn_grad", "direction": "backward", "arch": "sm_90a", "mma": "mma-sync", "dtype": "bf16", "heads": 4, "kv_heads": 2, "head_dim": 64, "value_dim": 64, "mask": "document,causal", "scale": 0.1, "block_q": 64, "block_k": 64, "threads": 128, "shared_bytes": 1})")
                   .columnParts);
  expectRejected(
      R"({"kernel": "attn_grad", "direction": "backward", "arch": "sm_90a", "mma": "mma-sync", "dtype": "bf16", "heads": 4, "kv_heads": 2, "head_dim": 192, "value_dim": 192, "mask": "document,causal", "scale": 0.1, "block_q": 64, "block_k": 64, "threads": 128, "shared_bytes": 1})",
      "column_parts 1 is not the backward's 2",
      "a backward kernel at D = 192 without column parts was accepted");
  // Its grid: every (key tile, kv head) and (query tile, head) item once
  // per part: 300 tokens, 64-row tiles: (5 x 2 + 5 x 4) x 4.
  EXPECT_EQ(120u, launchGrid(b, 300, 132).x);
  EXPECT_EQ(1u, launchGrid(b, 300, 132).y);
}

TEST(Manifest, AtomicDq) {
  // An atomic backward: key items only, its dq kernel and block size; one
  // thread per pair of dq's columns.
  const std::string head =
      R"({"kernel": "attn_grad", "direction": "backward", "arch": "sm_80", "mma": "mma-sync", "dtype": "bf16", "heads": 4, "kv_heads": 2, "head_dim": 64, "value_dim": 64, "mask": "document,causal", "scale": 0.1, "block_q": 64, "block_k": 64, "column_parts": 1, )";
  KernelInfo a = parseManifest(
      head + R"("dq": "atomic", "dq_kernel": "attn_grad_dq", "dq_threads": 256, "threads": 128, "shared_bytes": 1})");
  EXPECT_TRUE(a.atomicDq());
  EXPECT_EQ("attn_grad_dq", a.dqKernel);
  // 300 tokens, 64-row key tiles: 5 x 2 key items, no query items.
  EXPECT_EQ(10u, launchGrid(a, 300, 132).x);
  // 300 x 4 x 32 column pairs in blocks of 256.
  EXPECT_EQ(150u, dqConvertGrid(a, 300).x);
  EXPECT_EQ(300 * 4 * 64 * 4, dqAccumulatorBytes(a, 300));
  KernelInfo q = parseManifest(
      head + R"("dq": "query-items", "threads": 128, "shared_bytes": 1})");
  EXPECT_FALSE(q.atomicDq());
  EXPECT_EQ(0, dqAccumulatorBytes(q, 300));
  EXPECT_EQ(30u, launchGrid(q, 300, 132).x);
  expectRejected(head + R"("dq": "atomic", "threads": 128, "shared_bytes": 1})",
                 "dq_kernel", "an atomic backward without its dq kernel");
  expectRejected(
      head + R"("dq": "atomic", "dq_kernel": "attn_grad", "dq_threads": 256, "threads": 128, "shared_bytes": 1})",
      "its own", "the backward kernel as its own dq kernel");
  expectRejected(
      head + R"("dq": "atomic", "dq_kernel": "k", "dq_threads": 100, "threads": 128, "shared_bytes": 1})",
      "dq_threads", "dq blocks of 100 threads");
  expectRejected(head + R"("dq": "sometimes", "threads": 128, "shared_bytes": 1})",
                 "dq", "an unknown dq reduction");
}

TEST(Manifest, SequenceKernels) {
  SequenceInfo i = parseSequenceManifest(
      R"({"kernel":"doc_positions","sequence":"doc_positions","arch":"sm_80",)"
      R"("grid":"tokens","format":"cubin","threads":256,"shared_bytes":0})");
  EXPECT_EQ(i.sequence, Sequence::DocPositions);
  EXPECT_EQ(i.kernel, "doc_positions");
  // One thread per token.
  EXPECT_EQ(0u, sequenceGrid(i, 0, 1).x);
  EXPECT_EQ(1u, sequenceGrid(i, 256, 1).x);
  EXPECT_EQ(2u, sequenceGrid(i, 257, 1).x);
  i = parseSequenceManifest(
      R"({"kernel":"s","sequence":"segments_from_separators","arch":"sm_90a",)"
      R"("grid":"one","threads":1024,"shared_bytes":0})");
  EXPECT_EQ(i.sequence, Sequence::SegmentsFromSeparators);
  // One block, also for no tokens (cu_seqlens = [0] is still written).
  EXPECT_EQ(1u, sequenceGrid(i, 0, 0).x);
  EXPECT_EQ(1u, sequenceGrid(i, 100000, 0).x);
  i = parseSequenceManifest(
      R"({"kernel":"c","sequence":"check_cu_seqlens","arch":"sm_90a",)"
      R"("grid":"entries","threads":256,"shared_bytes":0})");
  EXPECT_EQ(i.sequence, Sequence::CheckCuSeqlens);
  // One thread per entry of cu_seqlens, whatever T is.
  EXPECT_EQ(1u, sequenceGrid(i, 100000, 1).x);
  EXPECT_EQ(2u, sequenceGrid(i, 0, 257).x);
  auto error = [](const std::string &json) {
    try {
      parseSequenceManifest(json);
    } catch (const Error &e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(error(R"({"kernel":"k","sequence":"x","arch":"sm_80","grid":"one",)"
                  R"("threads":1,"shared_bytes":0})")
                .find("unknown \"sequence\" 'x'"),
            std::string::npos);
  EXPECT_NE(error(R"({"kernel":"k","sequence":"doc_positions","arch":"sm_80",)"
                  R"("grid":"tokens","threads":2048,"shared_bytes":0})")
                .find("threads 2048 is not a block size"),
            std::string::npos);
  EXPECT_NE(error(R"({"kernel":"k","sequence":"doc_positions","arch":"sm_80",)"
                  R"("grid":"tiles","threads":1,"shared_bytes":0})")
                .find("unknown \"grid\" 'tiles'"),
            std::string::npos);
  EXPECT_NE(
      error(R"({"kernel":"k","sequence":"check_cu_seqlens","arch":"sm_80",)"
            R"("grid":"tokens","threads":256,"shared_bytes":0})")
          .find("check_cu_seqlens launches on the grid \"entries\", "
                "not \"tokens\""),
      std::string::npos);
  // An attention kernel's reader refuses a sequence helper's manifest.
  try {
    parseManifest(R"({"kernel":"k","sequence":"doc_positions","arch":"sm_80",)"
                  R"("grid":"tokens","threads":256,"shared_bytes":0})");
    ADD_FAILURE() << "parsed";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("not an attention kernel"),
              std::string::npos)
        << e.what();
  }
  // Sizes that do not fit are refused before any launch.
  EXPECT_THROW(checkSequenceSizes(Sequence::SegmentsFromSeparators, nullptr, -1,
                                  0),
               InvalidInput);
  EXPECT_THROW(checkSequenceSizes(Sequence::DocPositions, nullptr, 2,
                                  int64_t(1) << 31),
               InvalidInput);
  EXPECT_THROW(checkSequenceSizes(Sequence::SegmentsFromSeparators, nullptr, 5,
                                  5),
               InvalidInput);
  EXPECT_THROW(checkSequenceSizes(Sequence::DocPositions, nullptr, 1, 3),
               InvalidInput);
  EXPECT_NO_THROW(checkSequenceSizes(Sequence::DocPositions, nullptr, 1, 0));
  EXPECT_THROW(checkCuSeqlensSizes(0, 0), InvalidInput);
  EXPECT_THROW(checkCuSeqlensSizes(2, -1), InvalidInput);
  EXPECT_THROW(checkCuSeqlensSizes(2, int64_t(1) << 31), InvalidInput);
  EXPECT_NO_THROW(checkCuSeqlensSizes(1, 0));
  // check_cu_seqlens has its own entry (it takes T).
  EXPECT_THROW(checkSequenceSizes(Sequence::CheckCuSeqlens, nullptr, 2, 1),
               Error);
}

TEST(Manifest, LaunchGrid) {
  KernelInfo i;
  i.heads = 16;
  i.blockQ = 128;
  // One block per (query tile, head); the resident count plays no part.
  Dim3 g = launchGrid(i, 1000, 132);
  EXPECT_EQ(8u, g.x);
  EXPECT_EQ(16u, g.y);
  EXPECT_EQ(0u, launchGrid(i, 0, 132).x);
  // Persistent and dynamic (the blocks claim the items): at most the
  // resident blocks, never more than the items.
  for (const char *grid : {"persistent", "dynamic"}) {
    i.grid = grid;
    g = launchGrid(i, 16384, 132);
    EXPECT_EQ(132u, g.x) << grid;
    EXPECT_EQ(1u, g.y) << grid;
    EXPECT_EQ(16u, launchGrid(i, 100, 132).x) << grid;
    EXPECT_EQ(0u, launchGrid(i, 0, 132).x) << grid;
  }
}

TEST(Manifest, TensorMapSpecs) {
  KernelInfo i;
  i.dtype = "f16";
  i.heads = 8;
  i.kvHeads = 2;
  i.headDim = 128;
  i.valueDim = 64;
  i.blockQ = 128;
  i.blockK = 64;
  std::vector<TensorMapSpec> s = tensorMapSpecs(i, 1000);
  ASSERT_EQ(3u, s.size()); // no out map for st.global stores
  // q: (column, head, token) = (128, 8, 1000), rows 256 and 2048 bytes.
  EXPECT_FALSE(s[0].bf16);
  EXPECT_EQ(128u, s[0].dims[0]);
  EXPECT_EQ(8u, s[0].dims[1]);
  EXPECT_EQ(1000u, s[0].dims[2]);
  EXPECT_EQ(256u, s[0].strides[0]);
  EXPECT_EQ(2048u, s[0].strides[1]);
  EXPECT_EQ(64u, s[0].box[0]);
  EXPECT_EQ(1u, s[0].box[1]);
  EXPECT_EQ(128u, s[0].box[2]);
  // k: the K/V heads, block_k rows; v: the value dim.
  EXPECT_EQ(2u, s[1].dims[1]);
  EXPECT_EQ(512u, s[1].strides[1]);
  EXPECT_EQ(64u, s[1].box[2]);
  EXPECT_EQ(64u, s[2].dims[0]);
  EXPECT_EQ(128u, s[2].strides[0]);
  EXPECT_EQ(256u, s[2].strides[1]);
  EXPECT_EQ(64u, s[2].box[2]);
  // A TMA store: out's map, the query heads and the value dim, a
  // warpgroup's rows.
  i.stores = "tma";
  i.storeRows = 64;
  s = tensorMapSpecs(i, 1000);
  ASSERT_EQ(4u, s.size());
  EXPECT_EQ(64u, s[3].dims[0]);
  EXPECT_EQ(8u, s[3].dims[1]);
  EXPECT_EQ(1000u, s[3].dims[2]);
  EXPECT_EQ(1024u, s[3].strides[1]);
  EXPECT_EQ(64u, s[3].box[0]);
  EXPECT_EQ(64u, s[3].box[2]);
  EXPECT_THROW(tensorMapSpecs(i, 0), Error);
  i.dtype = "f32";
  EXPECT_THROW(tensorMapSpecs(i, 10), Error);
}

/// Device tests: skipped, saying why, where no GPU is usable.
class DeviceTest : public ::testing::Test {
protected:
  void SetUp() override {
    std::string why;
    if (!driverAvailable(&why))
      GTEST_SKIP() << "no usable CUDA device: " << why;
    initDevice();
  }
};

TEST_F(DeviceTest, BadImageIsAClearError) {
  try {
    Module m("this is not a cubin");
    FAIL() << "a bad image loaded";
  } catch (const Error &e) {
    EXPECT_NE(std::string::npos,
              std::string(e.what()).find("cuModuleLoadData failed"));
  }
}

TEST_F(DeviceTest, BuffersRoundTrip) {
  std::vector<float> in(1000), out(1000, 0.f);
  for (size_t i = 0; i < in.size(); ++i)
    in[i] = float(i) * 0.5f + 1.f;
  DeviceBuffer b(in.size() * sizeof(float));
  b.copyFromHost(in.data(), in.size() * sizeof(float));
  b.copyToHost(out.data(), out.size() * sizeof(float));
  EXPECT_EQ(in, out);
  EXPECT_THROW(b.copyFromHost(in.data(), 1 << 20), Error);
}

TEST(Driver, AvailabilityIsReported) {
  std::string why;
  bool ok = driverAvailable(&why);
  EXPECT_EQ(ok, why.empty()) << why;
}

/// A DeviceScope makes the device's primary context current and gives the
/// caller's back (the PyTorch op launches in one: a tensor on another
/// device must not change the caller's current device). Against the fake
/// driver (test/Runtime/sequence-fake-driver.test), which keeps each
/// thread's current context; skipped otherwise.
TEST(FakeDriver, DeviceScopeGivesBackTheCallersContext) {
  if (!std::getenv("ATTN_FAKE_CUDA_LOG"))
    GTEST_SKIP()
        << "needs the fake driver (test/Runtime/sequence-fake-driver.test)";
  void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(lib, nullptr);
  // (The driver's own signatures, without cuda.h: CUresult is an enum,
  // CUDA_SUCCESS 0, CUcontext a pointer.)
  auto set = reinterpret_cast<int (*)(void *)>(dlsym(lib, "cuCtxSetCurrent"));
  auto get = reinterpret_cast<int (*)(void **)>(dlsym(lib, "cuCtxGetCurrent"));
  ASSERT_TRUE(set && get);
  int callers;
  for (void *before :
       {static_cast<void *>(&callers), static_cast<void *>(nullptr)}) {
    ASSERT_EQ(set(before), 0);
    void *now = nullptr;
    {
      DeviceScope scope(0);
      ASSERT_EQ(get(&now), 0);
      EXPECT_NE(now, before); // the device's primary context
      EXPECT_NE(now, nullptr);
    }
    ASSERT_EQ(get(&now), 0);
    EXPECT_EQ(now, before);
  }
}

/// SequenceKernel::launch against the recording stand-in for the driver:
/// test/Runtime/fake-driver.test runs this with the fake libcuda first on
/// LD_LIBRARY_PATH, ATTN_FAKE_CUDA_LOG, and ATTN_TEST_SEQUENCE_PTX naming
/// the sequence kernels' PTX (their manifests beside them); skipped
/// otherwise. Each launch passes the two memref descriptors (10 words of
/// the sizes the PTX declares; check_cu_seqlens: T between them) on the
/// grid of the manifest; bad sizes and misaligned vectors launch nothing.
TEST(FakeDriver, SequenceKernelLaunches) {
  const char *paths = std::getenv("ATTN_TEST_SEQUENCE_PTX");
  const char *logPath = std::getenv("ATTN_FAKE_CUDA_LOG");
  if (!paths || !logPath)
    GTEST_SKIP() << "needs the fake driver (test/Runtime/fake-driver.test)";
  auto launches = [&] {
    std::vector<nlohmann::json> found;
    std::ifstream in(logPath);
    for (std::string line; std::getline(in, line);) {
      auto j = nlohmann::json::parse(line);
      if (j["call"] == "launch")
        found.push_back(j);
    }
    return found;
  };
  initDevice();
  std::stringstream list(paths);
  for (std::string path; std::getline(list, path, ':');) {
    SequenceKernel k(readFile(path), parseSequenceManifest(readFile(path + ".json")));
    bool positions = k.info().sequence == Sequence::DocPositions;
    bool check = k.info().sequence == Sequence::CheckCuSeqlens;
    // doc_positions: 5 entries of cu_seqlens, 300 tokens; segments: 300
    // token ids, 301 entries.
    int64_t in = positions ? 5 : 300, out = positions ? 300 : 301;
    auto *inPtr = reinterpret_cast<void *>(uintptr_t(0x10000));
    auto *outPtr = reinterpret_cast<void *>(uintptr_t(0x20000));
    size_t before = launches().size();
    if (check) {
      // 600 entries of cu_seqlens (3 blocks of 256), T = 5000, the record.
      in = 600;
      k.checkCuSeqlens(static_cast<const int32_t *>(inPtr), in, 5000,
                       static_cast<int32_t *>(outPtr));
    } else {
      k.launch(inPtr, in, outPtr, out);
    }
    std::vector<nlohmann::json> after = launches();
    ASSERT_EQ(after.size(), before + 1) << path;
    const nlohmann::json &l = after.back();
    EXPECT_EQ(l["kernel"], k.info().kernel);
    EXPECT_EQ(l["grid"],
              nlohmann::json::array({positions ? 2 : (check ? 3 : 1), 1, 1}));
    EXPECT_EQ(l["block"],
              nlohmann::json::array({positions || check ? 256 : 1024, 1, 1}));
    std::vector<uint64_t> expected = {0x10000, 0x10000, 0, uint64_t(in), 1,
                                      0x20000, 0x20000, 0, uint64_t(out), 1};
    if (check)
      expected = {0x10000, 0x10000, 0, 600, 1, 5000, 0x20000, 0x20000, 0, 1, 1};
    ASSERT_EQ(l["params"].size(), expected.size()) << path;
    for (size_t i = 0; i < expected.size(); ++i) {
      std::string hex = l["params"][i];
      ASSERT_EQ(hex.size(), 16u) << "parameter " << i << " of " << path;
      uint64_t v = 0;
      for (int b = 7; b >= 0; --b) // little-endian bytes
        v = v << 8 | std::stoul(hex.substr(2 * b, 2), nullptr, 16);
      EXPECT_EQ(v, expected[i]) << "parameter " << i << " of " << path;
    }
    // Refused, nothing launched: sizes that do not fit, a misaligned
    // output; nothing to launch: doc_positions of no tokens.
    if (check) {
      auto *cu = static_cast<const int32_t *>(inPtr);
      auto *record = static_cast<int32_t *>(outPtr);
      EXPECT_THROW(k.checkCuSeqlens(cu, 0, 0, record), InvalidInput);
      EXPECT_THROW(k.checkCuSeqlens(cu, 2, -1, record), InvalidInput);
      EXPECT_THROW(
          k.checkCuSeqlens(cu, 2, 5, reinterpret_cast<int32_t *>(0x20002)),
          InvalidInput);
      EXPECT_THROW(k.launch(inPtr, 2, outPtr, 1), Error);
      EXPECT_EQ(launches().size(), before + 1) << path;
      continue;
    }
    EXPECT_THROW(k.launch(inPtr, positions ? 1 : 300, outPtr, positions ? 3 : 300),
                 InvalidInput);
    EXPECT_THROW(k.launch(inPtr, in,
                          reinterpret_cast<void *>(uintptr_t(0x20002)), out),
                 InvalidInput);
    if (positions)
      k.launch(inPtr, 1, outPtr, 0);
    EXPECT_EQ(launches().size(), before + 1) << path;
  }
}

/// A manifest that describes another kernel's parameters is refused at
/// load, where the driver can say what the image declares
/// (cuFuncGetParamInfo, CUDA 12.4): doc_positions' image (two memrefs,
/// the first path of ATTN_TEST_SEQUENCE_PTX) described as check_cu_seqlens'
/// (a memref, the tokens, a memref). Without that entry point (the fake
/// driver built as an older one) it loads, as before.
TEST(FakeDriver, AnotherKernelsManifestIsRefused) {
  const char *paths = std::getenv("ATTN_TEST_SEQUENCE_PTX");
  if (!paths || !std::getenv("ATTN_FAKE_CUDA_LOG"))
    GTEST_SKIP() << "needs the fake driver (test/Runtime/fake-driver.test)";
  std::string path(paths, std::strcspn(paths, ":"));
  SequenceInfo info = parseSequenceManifest(readFile(path + ".json"));
  ASSERT_EQ(info.sequence, Sequence::DocPositions) << path;
  initDevice();
  SequenceKernel same(readFile(path), info); // its own manifest loads
  info.sequence = Sequence::CheckCuSeqlens;
  void *driver = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(driver, nullptr);
  bool canSay = dlsym(driver, "cuFuncGetParamInfo") != nullptr;
  try {
    SequenceKernel other(readFile(path), info);
    EXPECT_FALSE(canSay) << "another kernel's parameters were accepted";
  } catch (const Error &e) {
    EXPECT_TRUE(canSay) << e.what();
    EXPECT_NE(std::string(e.what()).find(
                  "does not take the parameters its manifest describes (the "
                  "image declares 10 parameters, the manifest's launch "
                  "passes 11)"),
              std::string::npos)
        << e.what();
  }
  dlclose(driver);
}
