//===- EmitterHelpers.cpp - what every part of the kernel uses --------------===//
//
// The NVIDIA kernel emitter's shared helpers: exp2/log2 through PTX,
// quad reductions, operand packing, register fences, accumulator tiles and
// the key loop's state, the generic product's defaults (a synchronous
// flavour's gemm from the asynchronous hooks) and the forward's products.
//===----------------------------------------------------------------------===//

#include "KernelEmitter.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::nvidia;

//===----------------------------------------------------------------------===//
// Shared helpers
//===----------------------------------------------------------------------===//

Value KernelEmitter::exp2(Value x) { return ptx::exp2Approx(b, loc, x); }

Value KernelEmitter::log2(Value x) { return ptx::log2Approx(b, loc, x); }

Value KernelEmitter::quadReduce(Value x, bool isMax) {
  for (int32_t offset : {1, 2}) {
    Value other =
        gpu::ShuffleOp::create(b, loc, x, offset, 32, gpu::ShuffleMode::XOR)
            .getShuffleResult();
    x = isMax ? fmax(x, other) : fadd(x, other);
  }
  return x;
}

Value KernelEmitter::mmaOperand(Value pair) {
  if (elt.isBF16())
    return LLVM::BitcastOp::create(b, loc, b.getI32Type(), pair);
  return pair;
}

Value KernelEmitter::truncPair(Value x, Value y) {
  Value v = vector::FromElementsOp::create(b, loc, VectorType::get({2}, f32),
                                           ValueRange{x, y});
  return arith::TruncFOp::create(b, loc, VectorType::get({2}, elt), v);
}

void KernelEmitter::ifRowInside(Value row, function_ref<void()> body) {
  auto ifOp = scf::IfOp::create(
      b, loc, cmp(arith::CmpIPredicate::slt, row, tokens), false);
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(ifOp.thenBlock());
  body();
}

Value KernelEmitter::asI32(Value reg) {
  if (reg.getType().isInteger(32))
    return reg;
  return LLVM::BitcastOp::create(b, loc, b.getI32Type(), reg);
}

SmallVector<Value> KernelEmitter::fenceRegisters(ValueRange values) {
  if (values.empty())
    return {};
  // One asm, every value tied in and out ("+f" / "+r" in CUDA C++).
  std::string constraints;
  SmallVector<Type> types;
  for (Value v : values) {
    constraints += v.getType().isF32() ? "=f," : "=r,";
    types.push_back(v.getType());
  }
  for (size_t i = 0; i < values.size(); ++i)
    constraints += std::to_string(i) + (i + 1 < values.size() ? "," : "");
  Value res = ptx::asmWithSideEffects(
      b, loc, LLVM::LLVMStructType::getLiteral(b.getContext(), types), values,
      "", constraints);
  SmallVector<Value> out;
  for (size_t i = 0; i < values.size(); ++i)
    out.push_back(LLVM::ExtractValueOp::create(b, loc, res, i));
  return out;
}

AccTiles KernelEmitter::fenceRegisters(const AccTiles &tiles) {
  return unflatten(fenceRegisters(flatten(tiles)), tiles.size(),
                   tiles.empty() ? 0 : tiles[0].size());
}

SmallVector<Value> nvidia::flatten(const AccTiles &tiles) {
  SmallVector<Value> values;
  for (const SmallVector<Acc> &row : tiles)
    for (const Acc &acc : row)
      values.append(acc.begin(), acc.end());
  return values;
}

AccTiles nvidia::unflatten(ValueRange values, int64_t mTiles, int64_t slices) {
  assert(int64_t(values.size()) == mTiles * slices * 4);
  AccTiles tiles(mTiles, SmallVector<Acc>(slices));
  for (int64_t mt = 0; mt < mTiles; ++mt)
    for (int64_t n = 0; n < slices; ++n)
      for (int64_t j = 0; j < 4; ++j)
        tiles[mt][n][j] = values[(mt * slices + n) * 4 + j];
  return tiles;
}

SmallVector<Value> KeyLoopState::values() const {
  SmallVector<Value> all = flatten(o);
  for (ArrayRef<Value> part : {ArrayRef<Value>(rowMax), ArrayRef<Value>(rowSum),
                               ArrayRef<Value>(p), ArrayRef<Value>(alpha)})
    all.append(part.begin(), part.end());
  return all;
}

KeyLoopState KeyLoopState::fromValues(ValueRange values,
                                      const KeyLoopState &like) {
  KeyLoopState s;
  int64_t slices = like.o.empty() ? 0 : like.o[0].size();
  int64_t numO = like.o.size() * slices * 4;
  s.o = unflatten(values.take_front(numO), like.o.size(), slices);
  values = values.drop_front(numO);
  for (auto [part, n] :
       {std::make_pair(&s.rowMax, like.rowMax.size()),
        std::make_pair(&s.rowSum, like.rowSum.size()),
        std::make_pair(&s.p, like.p.size()),
        std::make_pair(&s.alpha, like.alpha.size())}) {
    part->assign(values.begin(), values.begin() + n);
    values = values.drop_front(n);
  }
  assert(values.empty() && "more values than the state holds");
  return s;
}

AccTiles KernelEmitter::gemm(const Operand &a, const Operand &b, int64_t n,
                              int64_t k, const AccTiles *acc) {
  PendingGemm p = issueGemm(a, b, n, k, acc);
  waitMma(0);
  return retireGemm(p);
}
KernelEmitter::PendingGemm KernelEmitter::issueGemm(const Operand &,
                                                    const Operand &, int64_t,
                                                    int64_t, const AccTiles *) {
  llvm_unreachable("this tensor-core flavour is synchronous");
}
void KernelEmitter::waitMma(int64_t) {
  llvm_unreachable("this tensor-core flavour is synchronous");
}

AccTiles KernelEmitter::retireGemm(const PendingGemm &p) {
  SmallVector<Value> values = p.values;
  if (p.result)
    for (int64_t i = 0; i < p.n / 2; ++i)
      values.push_back(LLVM::ExtractValueOp::create(b, loc, p.result, i));
  // One m-tile per warp: the accumulator registers in flatten's order.
  return unflatten(fenceRegisters(values), 1, p.n / 8);
}

Scores KernelEmitter::scores(Value stage) {
  return gemm(Operand::shared(Tile::Q, Value(), /*kMajor=*/true),
              Operand::shared(Tile::K, stage, /*kMajor=*/true), cfg.blockK,
              headDim, nullptr);
}

void KernelEmitter::accumulatePV(POperands p, Value stage, AccTiles &o) {
  o = gemm(Operand::registers(p),
           Operand::shared(Tile::V, stage, /*kMajor=*/false), nvt() * 8,
           cfg.blockK, &o);
}

KernelEmitter::PendingGemm KernelEmitter::issueScores(Value stage) {
  return issueGemm(Operand::shared(Tile::Q, Value(), /*kMajor=*/true),
                   Operand::shared(Tile::K, stage, /*kMajor=*/true),
                   cfg.blockK, headDim, nullptr);
}

KernelEmitter::PendingGemm KernelEmitter::issuePV(POperands p, Value stage,
                                                  const AccTiles &o) {
  return issueGemm(Operand::registers(p),
                   Operand::shared(Tile::V, stage, /*kMajor=*/false),
                   nvt() * 8, cfg.blockK, &o);
}
