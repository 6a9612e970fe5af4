//===- KernelFunction.h - an attn op's gpu.func as a kernel ---*- C++ -*-===//
//
// What every NVIDIA lowering of an attn op does around the kernel body it
// emits: find the chip, the memrefs the op reads and writes (the kernel's
// arguments), record the launch contract on the module, and once the body
// replaces the op, erase it and fix the block size. Shared by the attention
// kernels (GPUTileAttention.cpp) and the sequence kernels
// (SequenceKernels.cpp).
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTONVGPU_KERNELFUNCTION_H
#define ATTN_LIB_CONVERSION_ATTNTONVGPU_KERNELFUNCTION_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::attn::nvidia {

/// The chip of the #nvvm.target of the gpu.module around `op` (sm_90a
/// when it has none).
StringRef targetChip(Operation *op);

/// The gpu.func kernel around `op`, or failure (reported on `op`): every
/// NVIDIA lowering's first check.
FailureOr<gpu::GPUFuncOp> kernelFunction(Operation *op);

/// The memrefs the kernel reads `op`'s tensor operands from (its other
/// operands as they are) and writes its results to, in their order;
/// failure (reported) when one is not a kernel argument, or not dense in
/// global memory.
LogicalResult kernelBuffers(Operation *op, SmallVectorImpl<Value> &inputs,
                            SmallVectorImpl<Value> &outputs);

/// Sets `fields` as the launch contract of `func` in the top-level module's
/// kLaunchContractsAttr (AttnToNVGPU.h).
void addLaunchContract(gpu::GPUFuncOp func, const NamedAttrList &fields);

/// A new gpu.func kernel named `name` (made unique in its gpu.module) of
/// arguments `types`, right after `before`, with an empty entry block.
gpu::GPUFuncOp createKernel(RewriterBase &rewriter, gpu::GPUFuncOp before,
                            StringRef name, TypeRange types);

/// The body of a kernel of one thread per element, `threads` per block:
/// element i = block x threads + thread; `body(b, loc, i)` for i < `count`.
void forEachThreadElement(
    OpBuilder &b, Location loc, int64_t threads, Value count,
    function_ref<void(OpBuilder &, Location, Value)> body);

/// Index arithmetic at a builder's insertion point.
struct IndexMath {
  OpBuilder &b;
  Location loc;
  Value c(int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }
  Value add(Value x, Value y) { return arith::AddIOp::create(b, loc, x, y); }
  Value sub(Value x, Value y) { return arith::SubIOp::create(b, loc, x, y); }
  Value mul(Value x, Value y) { return arith::MulIOp::create(b, loc, x, y); }
  Value min(Value x, Value y) { return arith::MinUIOp::create(b, loc, x, y); }
  Value divu(Value x, Value y) { return arith::DivUIOp::create(b, loc, x, y); }
  Value remu(Value x, Value y) { return arith::RemUIOp::create(b, loc, x, y); }
  Value cmp(arith::CmpIPredicate p, Value x, Value y) {
    return arith::CmpIOp::create(b, loc, p, x, y);
  }
  Value select(Value c, Value x, Value y) {
    return arith::SelectOp::create(b, loc, c, x, y);
  }
  /// An index as an integer of `type`, and back.
  Value to(Type type, Value v) {
    return arith::IndexCastOp::create(b, loc, type, v);
  }
  Value index(Value v) { return to(b.getIndexType(), v); }
};

/// Once the kernel's body replaces `op`: erases `op` and the stores of its
/// results, and records the block size `threads` on `func`.
void finishKernel(RewriterBase &rewriter, Operation *op, gpu::GPUFuncOp func,
                  int64_t threads);

} // namespace mlir::attn::nvidia

#endif // ATTN_LIB_CONVERSION_ATTNTONVGPU_KERNELFUNCTION_H
