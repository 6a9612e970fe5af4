//===- AttnOps.cpp - attn dialect operations ------------------------------===//

#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"

#include <cmath>

using namespace mlir;
using namespace mlir::attn;

/// Rank-1 tensor (or memref, when `allowMemRef`) of signless integers.
static bool isIntVector(Type type, bool allowMemRef = false) {
  auto shaped = dyn_cast<ShapedType>(type);
  if (!shaped || !shaped.hasRank() || shaped.getRank() != 1)
    return false;
  if (!isa<RankedTensorType>(type) && !(allowMemRef && isa<MemRefType>(type)))
    return false;
  return shaped.getElementType().isSignlessInteger();
}

static std::string dimStr(int64_t d) {
  return ShapedType::isDynamic(d) ? "?" : std::to_string(d);
}

/// Two sizes agree unless both are static and differ.
static bool compatible(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
}

//===----------------------------------------------------------------------===//
// AttentionOp
//===----------------------------------------------------------------------===//

double AttentionOp::getScaleOrDefault() {
  if (std::optional<llvm::APFloat> s = getScale())
    return s->convertToDouble();
  return 1.0 / std::sqrt(double(getHeadDim()));
}

LogicalResult AttentionOp::verify() {
  auto q = cast<RankedTensorType>(getQuery().getType());
  auto k = cast<RankedTensorType>(getKey().getType());
  auto v = cast<RankedTensorType>(getValue().getType());
  auto out = cast<RankedTensorType>(getOut().getType());
  auto lse = cast<RankedTensorType>(getLse().getType());

  if (q.getRank() != 3 || k.getRank() != 3 || v.getRank() != 3)
    return emitOpError("expects query, key and value of rank 3 ([T, H, D]), "
                       "got ranks ")
           << q.getRank() << ", " << k.getRank() << " and " << v.getRank();

  Type elt = q.getElementType();
  if (!elt.isF16() && !elt.isBF16() && !elt.isF32())
    return emitOpError("expects an f16, bf16 or f32 element type, got ")
           << elt;
  if (k.getElementType() != elt || v.getElementType() != elt ||
      out.getElementType() != elt)
    return emitOpError("expects query, key, value and out to share one "
                       "element type");

  int64_t t = q.getDimSize(0);
  if (!compatible(t, k.getDimSize(0)) || !compatible(t, v.getDimSize(0)))
    return emitOpError("expects query, key and value to have the same token "
                       "count, got ")
           << dimStr(t) << ", " << dimStr(k.getDimSize(0)) << " and "
           << dimStr(v.getDimSize(0));

  int64_t hq = q.getDimSize(1), hkv = k.getDimSize(1);
  if (ShapedType::isDynamic(hq) || ShapedType::isDynamic(hkv) ||
      ShapedType::isDynamic(v.getDimSize(1)))
    return emitOpError("expects static head counts");
  if (v.getDimSize(1) != hkv)
    return emitOpError("expects key and value to have the same head count, "
                       "got ")
           << hkv << " and " << v.getDimSize(1);
  if (hkv == 0 || hq % hkv != 0)
    return emitOpError("expects the query head count (")
           << hq << ") to be a multiple of the key/value head count (" << hkv
           << ")";

  int64_t d = q.getDimSize(2), dv = v.getDimSize(2);
  if (ShapedType::isDynamic(d) || ShapedType::isDynamic(dv))
    return emitOpError("expects static head dims");
  if (k.getDimSize(2) != d)
    return emitOpError("expects query and key to have the same head dim, got ")
           << d << " and " << k.getDimSize(2);
  if (!isSupportedHeadDim(d) || !isSupportedHeadDim(dv))
    return emitOpError("supports head dims 64 and 128, got D = ")
           << d << " and Dv = " << dv;

  if (!isIntVector(getCuSeqlens().getType()))
    return emitOpError("expects cu_seqlens to be a rank-1 tensor of "
                       "integers, got ")
           << getCuSeqlens().getType();

  if (out.getRank() != 3 || !compatible(out.getDimSize(0), t) ||
      out.getDimSize(1) != hq || out.getDimSize(2) != dv)
    return emitOpError("expects out of shape [T, Hq, Dv] = [")
           << dimStr(t) << ", " << hq << ", " << dv << "], got " << out;

  if (lse.getRank() != 2 || !lse.getElementType().isF32() ||
      lse.getDimSize(0) != hq || !compatible(lse.getDimSize(1), t))
    return emitOpError("expects lse of shape [Hq, T] = [")
           << hq << ", " << dimStr(t) << "] and element type f32, got "
           << lse;

  if (std::optional<llvm::APFloat> s = getScale()) {
    double scale = s->convertToDouble();
    if (!(std::isfinite(scale) && scale > 0.0))
      return emitOpError("expects a positive, finite scale, got ") << scale;
  }
  return success();
}

//===----------------------------------------------------------------------===//
// DocPositionsOp / SegmentsFromSeparatorsOp
//===----------------------------------------------------------------------===//

LogicalResult DocPositionsOp::verify() {
  if (!isIntVector(getCuSeqlens().getType()))
    return emitOpError("expects cu_seqlens to be a rank-1 tensor of "
                       "integers, got ")
           << getCuSeqlens().getType();
  if (!isIntVector(getPositions().getType()))
    return emitOpError("expects a rank-1 tensor of integers as result, got ")
           << getPositions().getType();
  return success();
}

LogicalResult SegmentsFromSeparatorsOp::verify() {
  if (!isIntVector(getTokens().getType()))
    return emitOpError("expects tokens to be a rank-1 tensor of integers, "
                       "got ")
           << getTokens().getType();
  if (!isIntVector(getCuSeqlens().getType()))
    return emitOpError("expects a rank-1 tensor of integers as result, got ")
           << getCuSeqlens().getType();
  return success();
}

//===----------------------------------------------------------------------===//
// KeyTileRangeOp / RowIntervalOp
//===----------------------------------------------------------------------===//

LogicalResult KeyTileRangeOp::verify() {
  if (!isIntVector(getCuSeqlens().getType(), /*allowMemRef=*/true))
    return emitOpError("expects cu_seqlens to be a rank-1 tensor or memref "
                       "of integers");
  if (getBlockK() < 1)
    return emitOpError("expects block_k to be at least 1, got ")
           << getBlockK();
  return success();
}

LogicalResult RowIntervalOp::verify() {
  if (!isIntVector(getCuSeqlens().getType(), /*allowMemRef=*/true))
    return emitOpError("expects cu_seqlens to be a rank-1 tensor or memref "
                       "of integers");
  if (bool(getDocFirst()) != bool(getDocLast()))
    return emitOpError("expects both doc_first and doc_last, or neither");
  return success();
}

#define GET_OP_CLASSES
#include "attn/Dialect/Attn/IR/AttnOps.cpp.inc"
