//===- PtxInstructions.h - the PTX the kernels spell out --------*- C++ -*-===//
//
// Every PTX instruction the NVIDIA kernels emit as inline assembly, one
// typed function each, so that the schedule code names what it does and
// no PTX text appears anywhere else. They are inline assembly where MLIR 22
// has no op that prints the same instruction (mbarrier arrivals with a
// transaction count or on cp.async completion, try_wait with a parity,
// 3-d TMA boxes completing an mbarrier, bulk groups, wgmma with A in
// registers and an immediate scale) or where its op would let LLVM move the
// access across the mbarrier protocol (shared and global words, the tile
// counter's atomic): an asm with side effects keeps its place among the
// kernel's other side effects. Shared-memory addresses are 32-bit
// (shared-window) values; global ones 64-bit pointers.
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTONVGPU_PTXINSTRUCTIONS_H
#define ATTN_LIB_CONVERSION_ATTNTONVGPU_PTXINSTRUCTIONS_H

#include "mlir/IR/Builders.h"

#include <array>

namespace mlir::attn::nvidia::ptx {

/// Inline PTX with side effects (kept in order with every other side
/// effect), AT&T dialect; the result (or none: void).
Value asmWithSideEffects(OpBuilder &b, Location loc, Type result,
                         ValueRange operands, StringRef ptx,
                         StringRef constraints);

/// ex2.approx.ftz / lg2.approx.ftz of an f32: what the hardware's MUFU
/// computes.
Value exp2Approx(OpBuilder &b, Location loc, Value x);
Value log2Approx(OpBuilder &b, Location loc, Value x);

/// %tid.x and %ctaid.x as i32s, each read by an asm the compiler cannot
/// merge with other reads.
Value threadIdX(OpBuilder &b, Location loc);
Value blockIdX(OpBuilder &b, Location loc);
/// A copy of the i64 `x` by an asm the compiler can neither merge nor move
/// out of a loop: what derives from it is computed where it is used.
Value opaqueCopy64(OpBuilder &b, Location loc, Value x);

//===--- mbarriers (shared::cta, 64-bit) ---------------------------------===//
/// Initializes `bar` for `count` arrivals.
void mbarrierInit(OpBuilder &b, Location loc, Value bar, int64_t count);
/// The initialized mbarriers visible to the async proxy (TMA's complete_tx).
void fenceMbarrierInit(OpBuilder &b, Location loc);
/// One try_wait.parity of `bar`'s phase `parity` (i32): i32 1 once that
/// phase is complete, else 0 (the thread may have been suspended a while).
/// `note` is a PTX comment naming the wait ("" for none).
Value mbarrierTryWaitParity(OpBuilder &b, Location loc, Value bar,
                            Value parity, StringRef note = "");
/// One arrival on `bar` (release semantics).
void mbarrierArrive(OpBuilder &b, Location loc, Value bar,
                    StringRef note = "");
/// One arrival on `bar` that also expects `bytes` of transactions (TMA).
void mbarrierArriveExpectTx(OpBuilder &b, Location loc, Value bar,
                            int64_t bytes);
/// An arrival on `bar` once this thread's cp.async copies are done, without
/// counting one more expected arrival.
void cpAsyncMbarrierArriveNoinc(OpBuilder &b, Location loc, Value bar);

//===--- The Tensor Memory Accelerator -----------------------------------===//
/// Loads the 3-d box at `coords` (innermost first) of tensor map `map`
/// into shared `dst`, completing `bar`'s transactions by its bytes.
void tmaLoad3d(OpBuilder &b, Location loc, Value dst, Value map,
               std::array<Value, 3> coords, Value bar);
/// Stores shared `src` to the 3-d box at `coords` of `map`, in this
/// thread's current bulk group.
void tmaStore3d(OpBuilder &b, Location loc, Value map,
                std::array<Value, 3> coords, Value src);
/// Closes this thread's current bulk group.
void bulkCommitGroup(OpBuilder &b, Location loc);
/// Waits for this thread's bulk groups: until their sources may be rewritten
/// (`readOnly`) or until they are complete.
void bulkWaitGroup(OpBuilder &b, Location loc, bool readOnly);

//===--- Words kept in order with the protocol ---------------------------===//
void storeShared32(OpBuilder &b, Location loc, Value addr, Value value);
Value loadShared32(OpBuilder &b, Location loc, Value addr);
/// Adds 1 to the global u32 at `ptr`; its old value. `note`: a PTX comment.
Value atomicIncrementGlobal(OpBuilder &b, Location loc, Value ptr,
                            StringRef note = "");
void storeGlobal32(OpBuilder &b, Location loc, Value ptr, Value value,
                   StringRef note = "");

//===--- wgmma ------------------------------------------------------------===//
/// acc += A B for one m64nNk16 step: A in four 32-bit registers (this
/// thread's fragment), B through matrix descriptor `bDesc` (i64), K-major
/// or (`transposeB`) MN-major, `acc` the N/2 f32 accumulators of this
/// thread; the new accumulators.
SmallVector<Value> wgmmaRegisterA(OpBuilder &b, Location loc, int64_t n,
                                  bool bf16, bool transposeB, ValueRange acc,
                                  ValueRange a, Value bDesc);

} // namespace mlir::attn::nvidia::ptx

#endif // ATTN_LIB_CONVERSION_ATTNTONVGPU_PTXINSTRUCTIONS_H
