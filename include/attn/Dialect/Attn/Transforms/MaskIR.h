//===- MaskIR.h - the mask algebra, instantiated on MLIR values -*- C++ -*-===//

#ifndef ATTN_DIALECT_ATTN_TRANSFORMS_MASKIR_H
#define ATTN_DIALECT_ATTN_TRANSFORMS_MASKIR_H

#include "attn/Mask/MaskAlgebra.h"
#include "mlir/IR/Builders.h"

namespace mlir::attn {

/// The `Ctx` of MaskAlgebra.h over `index` values: each call emits arith ops
/// at the builder's insertion point; docIndex emits scf.while searches over
/// cu_seqlens (a rank-1 integer tensor or memref): a bisection, after a
/// forward gallop for DocSearch::FromFirst.
class MaskIRCtx {
public:
  using Value = ::mlir::Value;

  MaskIRCtx(OpBuilder &b, Location loc, Value cuSeqlens, Value seqLen)
      : b(b), loc(loc), cu(cuSeqlens), tokens(seqLen) {}

  Value constant(int64_t v);
  Value add(Value a, Value c);
  Value sub(Value a, Value c);
  Value min(Value a, Value c);
  Value max(Value a, Value c);
  Value floorDiv(Value a, int64_t c);
  Value ceilDiv(Value a, int64_t c);
  Value selectEq(Value a, Value c, Value t, Value f);
  Value selectLt(Value a, Value c, Value t, Value f);
  Value seqLen() { return tokens; }
  Value lastDoc();
  Value cuAt(Value d);
  Value docIndex(Value q, Value first, Value last, ::attn::mask::DocSearch how);

  /// Entry i of cu_seqlens as an index.
  Value load(Value i);
  /// Number of entries of cu_seqlens (N + 1).
  Value numEntries();

private:
  OpBuilder &b;
  Location loc;
  Value cu;
  Value tokens;
};

} // namespace mlir::attn

#endif // ATTN_DIALECT_ATTN_TRANSFORMS_MASKIR_H
