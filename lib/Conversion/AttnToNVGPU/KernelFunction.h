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

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::attn::nvidia {

/// The chip of the #nvvm.target of the gpu.module around `op` (sm_90a
/// when it has none).
StringRef targetChip(Operation *op);

/// The gpu.func kernel around `op`, or failure (reported on `op`): every
/// NVIDIA lowering's first check.
FailureOr<gpu::GPUFuncOp> kernelFunction(Operation *op);

/// The memrefs the kernel reads `op`'s operands from and writes its
/// results to, in their order; failure (reported) when one is not a
/// kernel argument's buffer.
LogicalResult kernelBuffers(Operation *op, SmallVectorImpl<Value> &inputs,
                            SmallVectorImpl<Value> &outputs);

/// Sets `fields` as the launch contract of `func` in the top-level module's
/// kLaunchContractsAttr (AttnToNVGPU.h).
void addLaunchContract(gpu::GPUFuncOp func, const NamedAttrList &fields);

/// Once the kernel's body replaces `op`: erases `op` and the stores of its
/// results, and records the block size `threads` on `func`.
void finishKernel(RewriterBase &rewriter, Operation *op, gpu::GPUFuncOp func,
                  int64_t threads);

} // namespace mlir::attn::nvidia

#endif // ATTN_LIB_CONVERSION_ATTNTONVGPU_KERNELFUNCTION_H
