//===- KernelSchedule.cpp - kernel flavours: rules and options ------------===//

#include "attn/Conversion/AttnToNVGPU/KernelSchedule.h"
#include "attn/Conversion/AttnToNVGPU/AttnToNVGPU.h"

#include "llvm/ADT/StringExtras.h"

using namespace mlir;
using namespace mlir::attn;

#include "attn/Conversion/AttnToNVGPU/KernelSchedule.cpp.inc"

std::optional<std::string> KernelSchedule::whyInvalid() const {
  auto named = [](StringRef option, StringRef value) {
    return (option + "=" + value).str();
  };
  if (softmaxOverlap() && mma != TensorCoreOp::Wgmma)
    return named("schedule", stringifyKeyLoop(keyLoop)) +
           " needs mma=wgmma (an asynchronous tensor-core product)";
  constexpr StringLiteral warpSpecializedLoops =
      "a warp-specialized schedule (warp-specialized or "
      "warp-specialized-pingpong)";
  if (persistent() && !warpSpecialized())
    return named("grid", stringifyGridKind(grid)) + " needs " +
           warpSpecializedLoops.str();
  if (tma() && !warpSpecialized())
    return "loads=tma needs " + warpSpecializedLoops.str();
  // One thread claims the items: the TMA producer's (128 copying threads
  // with 56 registers each spill with the claims, ptxas -v, D = 128).
  if (dynamicSchedule() && !tma())
    return std::string("grid=dynamic needs loads=tma");
  if (tmaStore() && !tma())
    return std::string("stores=tma needs loads=tma");
  return std::nullopt;
}

std::string KernelSchedule::optionString() const {
  return ("mma=" + stringifyTensorCoreOp(mma) +
          " schedule=" + stringifyKeyLoop(keyLoop) +
          " grid=" + stringifyGridKind(grid) +
          " loads=" + stringifyLoadKind(loads) +
          " stores=" + stringifyStoreKind(stores))
      .str();
}

/// Parses option `option`'s `value` into `out` (nullopt for "auto"), or
/// says which values it takes.
template <typename Enum>
static LogicalResult parseChoice(StringRef option, StringRef value,
                                 std::optional<Enum> &out,
                                 std::optional<Enum> (*symbolize)(uint32_t),
                                 unsigned maxValue, std::string &error) {
  if (value == kAutoChoice) {
    out = std::nullopt;
    return success();
  }
  SmallVector<std::string> names = {kAutoChoice.str()};
  for (unsigned i = 0; i <= maxValue; ++i) {
    std::optional<Enum> e = symbolize(i);
    if (stringifyEnum(*e) == value) {
      out = e;
      return success();
    }
    names.push_back(stringifyEnum(*e).str());
  }
  std::string last = names.pop_back_val();
  error = ("unknown " + option + " '" + value + "' (expected " +
           llvm::join(names, ", ") + " or " + last + ")")
              .str();
  return failure();
}

FailureOr<KernelScheduleRequest>
KernelScheduleRequest::parse(StringRef mma, StringRef keyLoop, StringRef grid,
                             StringRef loads, StringRef stores,
                             std::string &error) {
  KernelScheduleRequest r;
  if (failed(parseChoice<TensorCoreOp>("mma", mma, r.mma, symbolizeTensorCoreOp,
                                       getMaxEnumValForTensorCoreOp(),
                                       error)) ||
      failed(parseChoice<KeyLoop>("schedule", keyLoop, r.keyLoop,
                                  symbolizeKeyLoop, getMaxEnumValForKeyLoop(),
                                  error)) ||
      failed(parseChoice<GridKind>("grid", grid, r.grid, symbolizeGridKind,
                                   getMaxEnumValForGridKind(), error)) ||
      failed(parseChoice<LoadKind>("loads", loads, r.loads, symbolizeLoadKind,
                                   getMaxEnumValForLoadKind(), error)) ||
      failed(parseChoice<StoreKind>("stores", stores, r.stores,
                                    symbolizeStoreKind,
                                    getMaxEnumValForStoreKind(), error)))
    return failure();
  if (r.mma) {
    // A named mma resolves the same way for every chip and head dim.
    if (std::optional<std::string> why = r.resolve("", 64, 64).whyInvalid()) {
      error = *why;
      return failure();
    }
  }
  return r;
}

KernelSchedule KernelScheduleRequest::resolve(StringRef chip, int64_t headDim,
                                              int64_t valueDim) const {
  // wgmma takes every head dim; the default is only where it was measured
  // (bench/results/h200-2026-12-04: D = Dv = 64 and 128).
  auto measured = [](int64_t d) { return d == 64 || d == 128; };
  bool hopper = (chip.empty() || chip == "sm_90a") && measured(headDim) &&
                measured(valueDim);
  KernelSchedule s;
  if (!mma && hopper) {
    // bench/results/h200-2026-12-04: the fastest flavour on all eight cases.
    s = {TensorCoreOp::Wgmma, KeyLoop::PingPong, GridKind::Dynamic,
         LoadKind::Tma, StoreKind::Tma};
  } else {
    s.mma = mma.value_or(TensorCoreOp::MmaSync);
  }
  s.keyLoop = keyLoop.value_or(s.keyLoop);
  s.grid = grid.value_or(s.grid);
  s.loads = loads.value_or(s.loads);
  s.stores = stores.value_or(s.stores);
  return s;
}
