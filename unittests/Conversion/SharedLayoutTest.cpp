//===- SharedLayoutTest.cpp - shared memory laid out as data --------------===//

#include "AllSchedules.h"
#include "attn/Conversion/AttnToNVGPU/AttnToNVGPU.h"
#include "attn/Conversion/AttnToNVGPU/SharedLayout.h"

#include "gtest/gtest.h"

#include <algorithm>
#include <vector>

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::nvidia;

namespace {

std::vector<GPUKernelConfig> validConfigs() {
  std::vector<GPUKernelConfig> valid;
  for (const KernelSchedule &s : allSchedules())
    if (!s.whyInvalid()) {
      GPUKernelConfig c;
      static_cast<KernelSchedule &>(c) = s;
      valid.push_back(c);
    }
  return valid;
}

TEST(SharedAllocator, AlignsEachRegionAndReservesTheBaseSkip) {
  SharedAllocator a(1024);
  SharedRegion x = a.allocate(100, 1, 16);
  SharedRegion y = a.allocate(64, 2, 1024);
  SharedRegion z = a.allocateMbarriers(3);
  EXPECT_EQ(x.offset, 0);
  EXPECT_EQ(y.offset, 1024);
  EXPECT_EQ(y.stageBytes(), 64);
  EXPECT_EQ(y.end(), 1152);
  EXPECT_EQ(z.offset, 1152);
  EXPECT_EQ(z.stageBytes(), 8);
  EXPECT_EQ(a.requestBytes(), 1152 + 24 + 1024);
  SharedAllocator w(16);
  w.allocate(40, 1, 8);
  EXPECT_EQ(w.allocate(4, 1, 16).offset, 48);
  EXPECT_EQ(w.requestBytes(), 52); // the window is 16-byte aligned itself
}

/// Every region of every valid flavour's layout: aligned, disjoint, within
/// the bytes the launch requests, and there exactly when the flavour uses it.
TEST(ForwardSharedLayout, RegionsAreDisjointAlignedAndWhatTheFlavourUses) {
  for (const GPUKernelConfig &c : validConfigs()) {
    for (int64_t d : {32, 64, 80, 96, 128, 192, 256}) {
      SCOPED_TRACE(c.optionString() + " D=" + std::to_string(d));
      ForwardSharedLayout l = forwardSharedLayout(c, d, d, 2);
      bool wgmma = c.mma == TensorCoreOp::Wgmma;
      EXPECT_EQ(l.baseAlign, wgmma ? 1024 : 16);
      std::vector<std::pair<SharedRegion, int64_t>> regions = {
          {l.q, l.baseAlign}, {l.k, l.baseAlign}, {l.v, l.baseAlign}};
      if (c.tmaStore())
        regions.push_back({l.o, l.baseAlign});
      for (const SharedRegion *r : {&l.fullK, &l.fullV, &l.emptyK, &l.emptyV,
                                    &l.fullQ, &l.emptyQ, &l.item})
        if (r->allocated())
          regions.push_back({*r, 8});
      if (l.itemSlots.allocated())
        regions.push_back({l.itemSlots, 4});
      EXPECT_EQ(l.o.allocated(), c.tmaStore());
      EXPECT_EQ(l.fullK.allocated(), c.warpSpecialized());
      EXPECT_EQ(l.emptyQ.allocated(), c.warpSpecialized() && c.persistent());
      EXPECT_EQ(l.item.allocated(), c.dynamicSchedule());
      EXPECT_EQ(l.k.stages, 2);
      // wgmma: rows of whole 64-column swizzle blocks (D = 32, 80, 96:
      // the last one part filled); mma.sync: padded rows.
      int64_t rowElements = wgmma ? (d + 63) / 64 * 64 : d + c.pad;
      EXPECT_EQ(l.k.stageBytes(), c.blockK * rowElements * 2);
      EXPECT_EQ(l.q.stageBytes(), c.blockQ() * rowElements * 2);
      if (c.tmaStore())
        EXPECT_EQ(l.o.stageBytes(), c.blockQ() * rowElements * 2);
      std::sort(regions.begin(), regions.end(), [](auto &a, auto &b) {
        return a.first.offset < b.first.offset;
      });
      int64_t end = 0;
      for (auto &[r, align] : regions) {
        EXPECT_EQ(r.offset % align, 0);
        EXPECT_GE(r.offset, end);
        end = r.end();
      }
      int64_t skip = l.baseAlign > 16 ? l.baseAlign : 0;
      EXPECT_EQ(l.requestBytes, end + skip);
    }
  }
}

/// mma.sync's layout is the one its measured kernels were built with.
TEST(ForwardSharedLayout, MmaSyncTilesArePaddedRowsBackToBack) {
  GPUKernelConfig c; // mma.sync, plain
  ForwardSharedLayout l = forwardSharedLayout(c, 128, 128, 2);
  int64_t row = (128 + 8) * 2;
  EXPECT_EQ(l.q.offset, 0);
  EXPECT_EQ(l.k.offset, 128 * row);
  EXPECT_EQ(l.v.offset, 128 * row + 2 * 64 * row);
  EXPECT_EQ(l.requestBytes, 128 * row + 4 * 64 * row);
}

} // namespace
