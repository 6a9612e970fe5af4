//===- CApiTest.cpp - the runtime's C API ---------------------------------===//
//
// Every failure returns NULL or a nonzero status with a message, whether or
// not a GPU is present; with one, a bad image is the driver's error.
//===----------------------------------------------------------------------===//

#include "attn-c/Runtime.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace {

std::string lastError() { return attnRtLastError(); }

bool contains(const std::string &s, const std::string &part) {
  return s.find(part) != std::string::npos;
}

/// A file in the test's temporary directory with `text`.
std::string writeFile(const std::string &name, const std::string &text) {
  std::string path = ::testing::TempDir() + name;
  std::ofstream(path) << text;
  return path;
}

const char *kManifest =
    R"({"kernel": "attn", "arch": "sm_90a", "format": "cubin", "dtype": "bf16", "heads": 16, "kv_heads": 4, "head_dim": 128, "value_dim": 128, "mask": "document,causal", "scale": 0.0883883, "block_q": 128, "block_k": 64, "threads": 128, "shared_bytes": 87040})";

TEST(CApi, LoadReportsMissingFiles) {
  EXPECT_EQ(nullptr, attnRtKernelLoad(nullptr, nullptr));
  EXPECT_TRUE(contains(lastError(), "no image path")) << lastError();
  std::string image = ::testing::TempDir() + "no-such-kernel.cubin";
  EXPECT_EQ(nullptr, attnRtKernelLoad(image.c_str(), nullptr));
  EXPECT_EQ("cannot read " + image + ".json: No such file or directory",
            lastError());
  std::string manifest = writeFile("only-manifest.cubin.json", kManifest);
  EXPECT_EQ(nullptr, attnRtKernelLoad(image.c_str(), manifest.c_str()));
  EXPECT_EQ("cannot read " + image + ": No such file or directory",
            lastError());
  // A directory where the manifest should be (which would open).
  std::string dir = ::testing::TempDir() + "dir-manifest.cubin.json";
  std::filesystem::create_directories(dir);
  EXPECT_EQ(nullptr, attnRtKernelLoad(image.c_str(), dir.c_str()));
  EXPECT_EQ("cannot read " + dir + ": it is a directory", lastError());
}

TEST(CApi, LoadReportsBadManifests) {
  std::string image = writeFile("k.cubin", "not a cubin");
  std::string manifest = writeFile("k.cubin.json", R"({"kernel": "attn"})");
  EXPECT_EQ(nullptr, attnRtKernelLoad(image.c_str(), nullptr));
  EXPECT_TRUE(contains(lastError(), "kernel manifest lacks")) << lastError();
}

TEST(CApi, LoadReportsTheDriverOrTheImage) {
  std::string image = writeFile("bad.cubin", "not a cubin");
  writeFile("bad.cubin.json", kManifest);
  int available = attnRtDriverAvailable();
  std::string why = lastError();
  EXPECT_EQ(nullptr, attnRtKernelLoad(image.c_str(), nullptr));
  if (available)
    EXPECT_TRUE(contains(lastError(), "cuModuleLoadData failed"))
        << lastError();
  else
    EXPECT_FALSE(lastError().empty()) << "no device (" << why << ")";
}

TEST(CApi, NullKernelIsAnError) {
  EXPECT_NE(0, attnRtKernelLimitResidentBlocks(nullptr, 4));
  EXPECT_TRUE(contains(lastError(), "no kernel")) << lastError();
  int32_t cu[2] = {0, 10};
  EXPECT_NE(0, attnRtKernelLaunch(nullptr, cu, 2, 10, nullptr, nullptr, nullptr,
                                  nullptr, nullptr, nullptr, nullptr));
  EXPECT_TRUE(contains(lastError(), "no kernel")) << lastError();
  EXPECT_EQ(nullptr, attnRtKernelManifest(nullptr));
  attnRtKernelDestroy(nullptr); // nothing, and a call that succeeded
  EXPECT_EQ("", lastError());
}

TEST(CApi, LoadRefusesABackwardKernel) {
  // (Refused before the image is read or a device is touched.)
  std::string manifest = kManifest;
  manifest.replace(manifest.find(R"("kernel": "attn")"), 16,
                   R"("kernel": "attn_grad", "direction": "backward", )"
                   R"("dq": "query-items")");
  std::string path = writeFile("grad.cubin.json", manifest);
  EXPECT_EQ(nullptr, attnRtKernelLoad("grad.cubin", path.c_str()));
  EXPECT_EQ("attnRtKernelLoad: attn_grad is a backward kernel; this API "
            "launches forward ones (attnRtKernelLaunch)",
            lastError());
}

TEST(CApi, DriverAvailabilityIsReported) {
  int available = attnRtDriverAvailable();
  EXPECT_EQ(available == 1, lastError().empty()) << lastError();
}

} // namespace
