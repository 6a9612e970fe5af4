//===- EmitterBase.h - what every attention emitter shares ----*- C++ -*-===//
//
// The CPU loop nest (attn-tile-attention) and the NVIDIA kernel
// (attn-gpu-tile-attention) map the same online softmax onto different
// hardware. The rules of that softmax that do not depend on the hardware
// live here once, with the builder helpers both use.
//===----------------------------------------------------------------------===//

#ifndef ATTN_DIALECT_ATTN_TRANSFORMS_EMITTERBASE_H
#define ATTN_DIALECT_ATTN_TRANSFORMS_EMITTERBASE_H

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "mlir/IR/Builders.h"

namespace mlir::attn {

class AttentionEmitterBase {
protected:
  /// From an attn.attention or attn.attention_grad (the same shape facts).
  template <typename AttentionLikeOp>
  AttentionEmitterBase(OpBuilder &b, Location loc, AttentionLikeOp op)
      : b(b), loc(loc), elt(op.getElementType()), f32(b.getF32Type()),
        numHeads(op.getNumHeads()), numKvHeads(op.getNumKvHeads()),
        headDim(op.getHeadDim()), valueDim(op.getValueDim()),
        mask(op.getMask()), scale(op.getScaleOrDefault()) {}

  Value idx(int64_t v);
  Value f32Const(double v);
  Value negInf();

  /// Online softmax: what a row's scores are shifted by before exp2 — its
  /// running max `m` (log2 domain), or 0 while the row has seen no allowed
  /// key, so that no -inf - (-inf) NaN arises.
  Value softmaxShift(Value m);
  /// End of a row: 1 / l, or 0 for a row with no allowed key (l == 0), so
  /// such rows give out = 0.
  Value inverseSum(Value l);
  /// End of a row: lse = ln 2 * (m + log2 l) from the log2-domain max `m`
  /// and `log2l` = log2(l) (each target computes the log its own way);
  /// -inf for a row with no allowed key.
  Value logSumExp(Value m, Value l, Value log2l);

  /// Adds a tile range's visited, partial and full tile counts to the
  /// memref<3xi64> global `counts` when `head` is 0 (nothing for "").
  void countTiles(StringRef counts, Value head, Value begin, Value fullBegin,
                  Value fullEnd, Value end);

  OpBuilder &b;
  Location loc;
  Type elt, f32;
  int64_t numHeads, numKvHeads, headDim, valueDim;
  MaskAttr mask;
  /// The softmax scale (the op's, or 1/sqrt(D)).
  double scale;
};

} // namespace mlir::attn

#endif // ATTN_DIALECT_ATTN_TRANSFORMS_EMITTERBASE_H
