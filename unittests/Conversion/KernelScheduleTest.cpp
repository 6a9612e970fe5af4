//===- KernelScheduleTest.cpp - kernel flavours: rules and auto ----------===//

#include "AllSchedules.h"
#include "attn/Conversion/AttnToNVGPU/KernelSchedule.h"

#include "gtest/gtest.h"

#include <vector>

using namespace mlir;
using namespace mlir::attn;

namespace {

bool operator==(const KernelSchedule &a, const KernelSchedule &b) {
  return a.optionString() == b.optionString();
}

FailureOr<KernelScheduleRequest> parse(const KernelSchedule &s,
                                       std::string &error) {
  return KernelScheduleRequest::parse(
      stringifyTensorCoreOp(s.mma), stringifyKeyLoop(s.keyLoop),
      stringifyGridKind(s.grid), stringifyLoadKind(s.loads),
      stringifyStoreKind(s.stores), error);
}

// Counted by hand from the rules: mma.sync has only the plain flavour;
// wgmma's plain and overlapped loops only tiles/cp.async/st.global; each
// warp-specialized loop (2) takes cp.async with tiles or persistent (2), or
// tma with any grid and either store (6).
TEST(KernelSchedule, NineteenFlavoursCanBeBuilt) {
  int valid = 0;
  for (const KernelSchedule &s : allSchedules())
    valid += !s.whyInvalid();
  EXPECT_EQ(valid, 1 + 2 + 2 * (2 + 6));
}

// Named in full, every combination parses to itself or fails with the
// rule it breaks, whatever the chip and head dim.
TEST(KernelSchedule, NamedChoicesResolveToThemselves) {
  for (const KernelSchedule &s : allSchedules()) {
    std::string error;
    FailureOr<KernelScheduleRequest> r = parse(s, error);
    std::optional<std::string> why = s.whyInvalid();
    ASSERT_EQ(failed(r), why.has_value()) << s.optionString();
    if (why) {
      EXPECT_EQ(error, *why);
      continue;
    }
    for (StringRef chip : {"", "sm_80", "sm_90a"})
      for (int64_t d : {32, 64, 128})
        EXPECT_TRUE(r->resolve(chip, d, d) == s) << s.optionString();
  }
}

TEST(KernelSchedule, AutoIsTheChipsMeasuredDefault) {
  std::string error;
  auto all = KernelScheduleRequest::parse("auto", "auto", "auto", "auto",
                                          "auto", error);
  ASSERT_TRUE(succeeded(all)) << error;
  KernelSchedule hopper{TensorCoreOp::Wgmma, KeyLoop::PingPong,
                        GridKind::Dynamic, LoadKind::Tma, StoreKind::Tma};
  EXPECT_TRUE(all->resolve("sm_90a", 128, 128) == hopper);
  EXPECT_TRUE(all->resolve("", 64, 64) == hopper);
  // wgmma's head dims only; other chips: mma.sync's plain kernel.
  EXPECT_TRUE(all->resolve("sm_90a", 32, 32) == KernelSchedule());
  EXPECT_TRUE(all->resolve("sm_90", 128, 128) == KernelSchedule());
  EXPECT_TRUE(all->resolve("sm_80", 64, 64) == KernelSchedule());
  // Both head dims must be wgmma's: D = 64 with Dv = 32 is mma.sync's.
  EXPECT_TRUE(all->resolve("sm_90a", 64, 32) == KernelSchedule());
  EXPECT_TRUE(all->resolve("sm_90a", 32, 64) == KernelSchedule());
}

TEST(KernelSchedule, AutoKeepsWhatIsNamed) {
  std::string error;
  auto r = KernelScheduleRequest::parse("auto", "auto", "tiles", "auto",
                                        "st.global", error);
  ASSERT_TRUE(succeeded(r)) << error;
  KernelSchedule s = r->resolve("sm_90a", 128, 128);
  EXPECT_EQ(s.optionString(), "mma=wgmma schedule=warp-specialized-pingpong "
                              "grid=tiles loads=tma stores=st.global");
  // On sm_80 the same request is mma.sync's plain kernel.
  EXPECT_TRUE(r->resolve("sm_80", 128, 128) == KernelSchedule());
  // A named mma with nothing else: its simplest kernel.
  auto w = KernelScheduleRequest::parse("wgmma", "auto", "auto", "auto",
                                        "auto", error);
  ASSERT_TRUE(succeeded(w)) << error;
  EXPECT_EQ(w->resolve("sm_90a", 128, 128).optionString(),
            "mma=wgmma schedule=plain grid=tiles loads=cp.async "
            "stores=st.global");
}

TEST(KernelSchedule, UnknownValuesNameTheChoices) {
  std::string error;
  EXPECT_TRUE(failed(KernelScheduleRequest::parse("wgmma", "auto", "auto",
                                                  "ldg", "auto", error)));
  EXPECT_EQ(error, "unknown loads 'ldg' (expected auto, cp.async or tma)");
}

} // namespace
