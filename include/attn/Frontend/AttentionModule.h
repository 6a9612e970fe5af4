//===- AttentionModule.h - an attention problem as an MLIR module -*- C++ -*-===//

#ifndef ATTN_FRONTEND_ATTENTIONMODULE_H
#define ATTN_FRONTEND_ATTENTIONMODULE_H

#include "attn/Host/Host.h"
#include "attn/Support/EntryNames.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/Support/Error.h"

namespace mlir::attn {

using ::attn::kAttentionEntry;
using ::attn::kAttentionGradEntry;
using ::attn::kCheckCuSeqlensEntry;
using ::attn::kDocPositionsEntry;
using ::attn::kKernelModule;
using ::attn::kSegmentsEntry;

/// A module with the function
///   func @attn(%q: memref<?xHqxDxT>, %k: memref<?xHkvxDxT>,
///              %v: memref<?xHkvxDvxT>, %cu: memref<?xi32>,
///              %out: memref<?xHqxDvxT>, %lse: memref<Hqx?xf32>)
/// that computes `attn.attention` for the spec (T dynamic: one compiled
/// function serves every packing) and writes out and lse in place. The
/// function has a C interface (_mlir_ciface_attn).
///
/// For `Target::NVIDIA` the same function is a `gpu.func` kernel in
/// `gpu.module @attn_kernels` (module attribute gpu.container_module).
///
/// With `functions` Backward the function (for NVIDIA a kernel too)
///   func @attn_grad(%q, %k, %v, %cu, %out, %lse, %dout: memref<?xHqxDvxT>,
///                   %dq: memref<?xHqxDxT>, %dk: memref<?xHkvxDxT>,
///                   %dv: memref<?xHkvxDvxT>)
/// computes `attn.attention_grad` from the forward's out and lse and writes
/// dq, dk and dv in place (_mlir_ciface_attn_grad) instead; with Both the
/// module has both functions.
enum class Target { CPU, NVIDIA };
enum class Functions { Forward, Backward, Both };
OwningOpRef<ModuleOp>
buildAttentionModule(MLIRContext &context,
                     const ::attn::host::AttentionSpec &spec,
                     Target target = Target::CPU,
                     Functions functions = Functions::Forward);

/// A module with one sequence helper's function (for NVIDIA a kernel):
///   func @doc_positions(%cu: memref<?xi32>, %positions: memref<?xi32>)
///     positions[t] = t - c[d] for token t of document d (T entries);
///   func @segments_from_separators(%tokens: memref<?xi64>,
///                                  %cu: memref<?xi32>)
///     cu_seqlens of the documents ended by tokens equal to `separator`,
///     padded to T + 1 entries (attn.segments_from_separators {padded});
///   func @check_cu_seqlens(%cu: memref<?xi32>, %tokens: index,
///                          %errors: memref<1xi32>)
///     errors[0] = 1 if cu is not a packing of `tokens` tokens, else
///     unchanged (attn.check_cu_seqlens, in place).
/// Each serves every T and has a C interface on the CPU. `sequence` is not
/// None.
using ::attn::Sequence;
OwningOpRef<ModuleOp> buildSequenceModule(MLIRContext &context,
                                          Sequence sequence,
                                          int64_t separator, Target target);

/// The PTX or cubin of the `gpu.binary @attn_kernels` the NVIDIA pipeline
/// produced in `module`.
llvm::Expected<std::string> getKernelBinary(ModuleOp module);

} // namespace mlir::attn

#endif // ATTN_FRONTEND_ATTENTIONMODULE_H
