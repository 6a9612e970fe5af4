//===- Compiler.h - kernels compiled on demand ------------------*- C++ -*-===//
//
// The JIT library's compiler: a kernel configuration (attn/Runtime/
// KernelConfig.h) as an attn module, lowered by the CPU or NVIDIA pipeline
// into a binary the runtime loads without MLIR: for the CPU a shared object
// (LLVM's code generator for this host, linked by ld.lld), for NVIDIA a
// cubin (ptxas) with its launch contract. attn::rt::KernelLibrary puts it
// behind a cache in memory and on disk:
//
//   auto library = std::make_shared<attn::rt::KernelLibrary>(
//       attn::rt::KernelCache::defaultDir(), attn::jit::makeCompiler());
//   auto kernel = library->get(config);     // compiled at most once
//   kernel->cpu->run(tensors);
// (Compiled without exceptions, like LLVM: the code here reports errors as
// values; the runtime turns them into attn::rt::Error.)
//===----------------------------------------------------------------------===//

#ifndef ATTN_JIT_COMPILER_H
#define ATTN_JIT_COMPILER_H

#include "attn/Runtime/KernelLibrary.h"
#include "llvm/Support/Error.h"

#include <memory>
#include <string>

namespace mlir {
class ModuleOp;
} // namespace mlir

namespace attn::jit {

/// The compiler's version: the project's, its git commit and, for a tree
/// with changes to the compiler's sources, a hash of those changes.
const char *compilerVersion();

/// The MLIR compiler (thread-safe: each compile uses its own MLIRContext,
/// and each thread prints keys in one of its own).
std::shared_ptr<rt::Compiler> makeCompiler();

/// A module lowered by the CPU pipeline (the LLVM dialect) as a shared
/// object for this host.
llvm::Expected<std::string> emitSharedObject(mlir::ModuleOp module);

/// The launch contract the NVIDIA pipeline recorded on `module`
/// (attn.launch), as the runtime's JSON manifest, with `format` ("cubin" or
/// "ptx"): the forward kernel's, with the backward's as member "backward"
/// when the image holds both, or the backward's alone, or a sequence
/// helper's (doc_positions, segments_from_separators).
llvm::Expected<std::string> launchManifest(mlir::ModuleOp module,
                                           const std::string &format);

} // namespace attn::jit

#endif // ATTN_JIT_COMPILER_H
