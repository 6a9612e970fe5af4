//===- AllSchedules.h - every combination of the kernel choices -*- C++ -*-===//

#ifndef ATTN_UNITTESTS_CONVERSION_ALLSCHEDULES_H
#define ATTN_UNITTESTS_CONVERSION_ALLSCHEDULES_H

#include "attn/Conversion/AttnToNVGPU/KernelSchedule.h"

#include <vector>

namespace mlir::attn {

/// Every combination of the five choices, valid or not.
inline std::vector<KernelSchedule> allSchedules() {
  std::vector<KernelSchedule> all;
  for (unsigned m = 0; m <= getMaxEnumValForTensorCoreOp(); ++m)
    for (unsigned k = 0; k <= getMaxEnumValForKeyLoop(); ++k)
      for (unsigned g = 0; g <= getMaxEnumValForGridKind(); ++g)
        for (unsigned l = 0; l <= getMaxEnumValForLoadKind(); ++l)
          for (unsigned s = 0; s <= getMaxEnumValForStoreKind(); ++s)
            all.push_back({*symbolizeTensorCoreOp(m), *symbolizeKeyLoop(k),
                           *symbolizeGridKind(g), *symbolizeLoadKind(l),
                           *symbolizeStoreKind(s)});
  return all;
}

} // namespace mlir::attn

#endif // ATTN_UNITTESTS_CONVERSION_ALLSCHEDULES_H
