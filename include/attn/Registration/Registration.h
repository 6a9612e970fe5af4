//===- Registration.h - what attn tools register --------------*- C++ -*-===//

#ifndef ATTN_REGISTRATION_REGISTRATION_H
#define ATTN_REGISTRATION_REGISTRATION_H

namespace mlir {
class DialectRegistry;
namespace attn {

/// The attn dialect, the upstream dialects and interfaces the pipelines use
/// (gpu, nvgpu, nvvm, llvm, scf, vector, memref, arith, math, func,
/// bufferization, ...), and the LLVM IR translations (so that
/// gpu-module-to-binary and the JIT work).
void registerAttnDialects(DialectRegistry &registry);

/// The attn passes and pipelines, and the upstream passes.
void registerAttnPasses();

} // namespace attn
} // namespace mlir

#endif // ATTN_REGISTRATION_REGISTRATION_H
