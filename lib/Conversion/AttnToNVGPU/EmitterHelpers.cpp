//===- EmitterHelpers.cpp - what every part of the kernel uses --------------===//
//
// The NVIDIA kernel emitter's shared helpers: exp2/log2 through PTX,
// quad reductions, operand packing, register fences, and the synchronous flavours' defaults of the asynchronous hooks.
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

Value KernelEmitter::pack(Value x, Value y) {
  Value v = vector::FromElementsOp::create(b, loc, VectorType::get({2}, f32),
                                           ValueRange{x, y});
  return mmaOperand(
      arith::TruncFOp::create(b, loc, VectorType::get({2}, elt), v));
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

Value KernelEmitter::issueScores(Value) {
  llvm_unreachable("this tensor-core flavour is synchronous");
}
Scores KernelEmitter::readScores(Value) {
  llvm_unreachable("this tensor-core flavour is synchronous");
}
SmallVector<Value> KernelEmitter::issuePV(POperands, Value, ValueRange) {
  llvm_unreachable("this tensor-core flavour is synchronous");
}
void KernelEmitter::waitMma(int64_t) {
  llvm_unreachable("this tensor-core flavour is synchronous");
}
