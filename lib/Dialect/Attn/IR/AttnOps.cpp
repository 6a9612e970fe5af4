//===- AttnOps.cpp - attn dialect operations ------------------------------===//

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Support/Scale.h"

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

/// A rank-1 tensor (or memref, when `allowMemRef`) of i32 or i64: token
/// offsets or positions.
static bool isOffsetVector(Type type, bool allowMemRef = false) {
  if (!isIntVector(type, allowMemRef))
    return false;
  Type elt = cast<ShapedType>(type).getElementType();
  return elt.isInteger(32) || elt.isInteger(64);
}

/// cu_seqlens: a rank-1 tensor (or memref, when `allowMemRef`) of i32 or
/// i64 with at least one entry (N + 1 for N documents).
static bool isCuSeqlens(Type type, bool allowMemRef = false) {
  return isOffsetVector(type, allowMemRef) &&
         cast<ShapedType>(type).getDimSize(0) != 0;
}

static std::string dimStr(int64_t d) {
  return ShapedType::isDynamic(d) ? "?" : std::to_string(d);
}

/// Two sizes agree unless both are static and differ.
static bool compatible(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
}

//===----------------------------------------------------------------------===//
// AttentionOp / AttentionGradOp
//===----------------------------------------------------------------------===//

static double scaleOrDefault(std::optional<llvm::APFloat> scale,
                             int64_t headDim) {
  if (scale)
    return scale->convertToDouble();
  return 1.0 / std::sqrt(double(headDim));
}

double AttentionOp::getScaleOrDefault() {
  return scaleOrDefault(getScale(), getHeadDim());
}

double AttentionGradOp::getScaleOrDefault() {
  return scaleOrDefault(getScale(), getHeadDim());
}

/// The first static size of `sizes`, else dynamic.
static int64_t firstStatic(ArrayRef<int64_t> sizes) {
  for (int64_t s : sizes)
    if (!ShapedType::isDynamic(s))
      return s;
  return ShapedType::kDynamic;
}

/// Fails with a diagnostic if a tensor of `types` has an encoding (a sparse
/// one, say): the lowerings read every operand as a dense buffer.
static LogicalResult verifyNoEncodings(Operation *op, TypeRange types) {
  for (Type type : types)
    if (auto tensor = dyn_cast<RankedTensorType>(type);
        tensor && tensor.getEncoding())
      return op->emitOpError("expects tensors without an encoding, got ")
             << type;
  return success();
}

/// What attn.attention and attn.attention_grad both require of query, key,
/// value, cu_seqlens, the forward's out and lse (types `out`, `lse`) and
/// the scale; `tokens` is then the token count T (dynamic if no operand's
/// is static).
static LogicalResult
verifyAttentionOperands(Operation *op, Value query, Value key, Value value,
                        Value cuSeqlens, Type outType, Type lseType,
                        std::optional<llvm::APFloat> s, int64_t &tokens) {
  auto q = cast<RankedTensorType>(query.getType());
  auto k = cast<RankedTensorType>(key.getType());
  auto v = cast<RankedTensorType>(value.getType());
  auto out = cast<RankedTensorType>(outType);
  auto lse = cast<RankedTensorType>(lseType);
  if (failed(verifyNoEncodings(op, {q, k, v, cuSeqlens.getType(), out, lse})))
    return failure();

  if (q.getRank() != 3 || k.getRank() != 3 || v.getRank() != 3)
    return op->emitOpError("expects query, key and value of rank 3 "
                           "([T, H, D]), got ranks ")
           << q.getRank() << ", " << k.getRank() << " and " << v.getRank();

  Type elt = q.getElementType();
  if (!elt.isF16() && !elt.isBF16() && !elt.isF32())
    return op->emitOpError("expects an f16, bf16 or f32 element type, got ")
           << elt;
  if (k.getElementType() != elt || v.getElementType() != elt ||
      out.getElementType() != elt)
    return op->emitOpError("expects query, key, value and out to share one "
                           "element type");

  int64_t t = firstStatic({q.getDimSize(0), k.getDimSize(0), v.getDimSize(0)});
  if (!compatible(t, q.getDimSize(0)) || !compatible(t, k.getDimSize(0)) ||
      !compatible(t, v.getDimSize(0)))
    return op->emitOpError("expects query, key and value to have the same "
                           "token count, got ")
           << dimStr(q.getDimSize(0)) << ", " << dimStr(k.getDimSize(0))
           << " and " << dimStr(v.getDimSize(0));

  int64_t hq = q.getDimSize(1), hkv = k.getDimSize(1);
  if (ShapedType::isDynamic(hq) || ShapedType::isDynamic(hkv) ||
      ShapedType::isDynamic(v.getDimSize(1)))
    return op->emitOpError("expects static head counts");
  if (v.getDimSize(1) != hkv)
    return op->emitOpError("expects key and value to have the same head "
                           "count, got ")
           << hkv << " and " << v.getDimSize(1);
  if (hq == 0 || hkv == 0)
    return op->emitOpError("expects at least one head, got ")
           << hq << " query and " << hkv << " key/value heads";
  if (hq % hkv != 0)
    return op->emitOpError("expects the query head count (")
           << hq << ") to be a multiple of the key/value head count (" << hkv
           << ")";

  int64_t d = q.getDimSize(2), dv = v.getDimSize(2);
  if (ShapedType::isDynamic(d) || ShapedType::isDynamic(dv))
    return op->emitOpError("expects static head dims");
  if (k.getDimSize(2) != d)
    return op->emitOpError("expects query and key to have the same head "
                           "dim, got ")
           << d << " and " << k.getDimSize(2);
  if (!AttentionOp::isSupportedHeadDim(d) ||
      !AttentionOp::isSupportedHeadDim(dv))
    return op->emitOpError("supports head dims ")
           << ::attn::headDimList() << ", got D = " << d << " and Dv = " << dv;

  if (!isCuSeqlens(cuSeqlens.getType()))
    return op->emitOpError("expects cu_seqlens to be a rank-1 tensor of i32 "
                           "or i64 with at least one entry, got ")
           << cuSeqlens.getType();

  if (out.getRank() != 3 || !compatible(out.getDimSize(0), t) ||
      out.getDimSize(1) != hq || out.getDimSize(2) != dv)
    return op->emitOpError("expects out of shape [T, Hq, Dv] = [")
           << dimStr(t) << ", " << hq << ", " << dv << "], got " << out;

  t = firstStatic({t, out.getDimSize(0)});
  if (lse.getRank() != 2 || !lse.getElementType().isF32() ||
      lse.getDimSize(0) != hq || !compatible(lse.getDimSize(1), t))
    return op->emitOpError("expects lse of shape [Hq, T] = [")
           << hq << ", " << dimStr(t) << "] and element type f32, got "
           << lse;
  tokens = firstStatic({t, lse.getDimSize(1)});

  if (s) {
    double scale = s->convertToDouble();
    if (!::attn::isSupportedScale(scale))
      return op->emitOpError() << ::attn::scaleRule(scale);
  }
  return success();
}

LogicalResult AttentionOp::verify() {
  int64_t tokens;
  return verifyAttentionOperands(*this, getQuery(), getKey(), getValue(),
                                 getCuSeqlens(), getOut().getType(),
                                 getLse().getType(), getScale(), tokens);
}

LogicalResult AttentionGradOp::verify() {
  int64_t tokens;
  if (failed(verifyAttentionOperands(*this, getQuery(), getKey(), getValue(),
                                     getCuSeqlens(), getOut().getType(),
                                     getLse().getType(), getScale(), tokens)) ||
      failed(verifyNoEncodings(*this, {getDout().getType(), getDq().getType(),
                                       getDk().getType(), getDv().getType()})))
    return failure();
  // `a` is `b`'s shape (its static heads and head dim; T below) and element
  // type.
  auto alike = [&](Type a, Type b) {
    auto x = cast<RankedTensorType>(a), y = cast<RankedTensorType>(b);
    return x.getRank() == 3 && x.getElementType() == y.getElementType() &&
           x.getDimSize(1) == y.getDimSize(1) &&
           x.getDimSize(2) == y.getDimSize(2);
  };
  if (!alike(getDout().getType(), getOut().getType()))
    return emitOpError("expects dout of the shape and element type of out (")
           << getOut().getType() << "), got " << getDout().getType();
  for (auto [name, grad, input] :
       {std::tuple<StringRef, Value, Value>{"dq", getDq(), getQuery()},
        {"dk", getDk(), getKey()},
        {"dv", getDv(), getValue()}})
    if (!alike(grad.getType(), input.getType()))
      return emitOpError("expects ")
             << name << " of the shape and element type of its input ("
             << input.getType() << "), got " << grad.getType();
  // T agrees across the operands and every gradient.
  for (auto [name, value] : {std::pair<StringRef, Value>{"dout", getDout()},
                             {"dq", getDq()},
                             {"dk", getDk()},
                             {"dv", getDv()}}) {
    int64_t t = cast<RankedTensorType>(value.getType()).getDimSize(0);
    if (!compatible(t, tokens))
      return emitOpError("expects ")
             << name << " of the other operands' token count (" << tokens
             << "), got " << t;
    tokens = firstStatic({tokens, t});
  }
  return success();
}

//===----------------------------------------------------------------------===//
// DocPositionsOp / SegmentsFromSeparatorsOp
//===----------------------------------------------------------------------===//

LogicalResult DocPositionsOp::verify() {
  if (!isCuSeqlens(getCuSeqlens().getType()))
    return emitOpError("expects cu_seqlens to be a rank-1 tensor of i32 or "
                       "i64 with at least one entry, got ")
           << getCuSeqlens().getType();
  if (!isOffsetVector(getPositions().getType()))
    return emitOpError("expects a rank-1 tensor of i32 or i64 as result, got ")
           << getPositions().getType();
  return verifyNoEncodings(
      *this, {getCuSeqlens().getType(), getPositions().getType()});
}

LogicalResult SegmentsFromSeparatorsOp::verify() {
  if (!isIntVector(getTokens().getType()) ||
      cast<ShapedType>(getTokens().getType()).getElementTypeBitWidth() < 8)
    return emitOpError("expects tokens to be a rank-1 tensor of integers of "
                       "at least 8 bits, got ")
           << getTokens().getType();
  if (failed(verifyNoEncodings(
          *this, {getTokens().getType(), getCuSeqlens().getType()})))
    return failure();
  if (!isCuSeqlens(getCuSeqlens().getType()))
    return emitOpError("expects a rank-1 tensor of i32 or i64 with at least "
                       "one entry as result, got ")
           << getCuSeqlens().getType();
  // The separator must be a value of the token type (signed or unsigned).
  unsigned width =
      cast<ShapedType>(getTokens().getType()).getElementTypeBitWidth();
  int64_t sep = getSeparatorAttr().getInt();
  if (width < 64 && (sep < -(int64_t(1) << (width - 1)) ||
                     sep >= (int64_t(1) << width)))
    return emitOpError("expects a separator that fits the ")
           << width << "-bit tokens, got " << sep;
  auto tokens = cast<ShapedType>(getTokens().getType());
  auto result = cast<ShapedType>(getCuSeqlens().getType());
  if (getPadded() && !tokens.isDynamicDim(0) && !result.isDynamicDim(0) &&
      result.getDimSize(0) != tokens.getDimSize(0) + 1)
    return emitOpError("with padded, expects T + 1 = ")
           << tokens.getDimSize(0) + 1 << " result entries, got "
           << result.getDimSize(0);
  return success();
}

LogicalResult CheckCuSeqlensOp::verify() {
  auto cu = dyn_cast<RankedTensorType>(getCuSeqlens().getType());
  if (failed(verifyNoEncodings(*this, {getCuSeqlens().getType()})))
    return failure();
  if (!cu || cu.getRank() != 1 || cu.getDimSize(0) == 0 ||
      !cu.getElementType().isInteger(32))
    return emitOpError("expects cu_seqlens to be a rank-1 tensor of i32 with "
                       "at least one entry, got ")
           << getCuSeqlens().getType();
  auto record = RankedTensorType::get({1}, IntegerType::get(getContext(), 32));
  if (getErrors().getType() != record)
    return emitOpError("expects errors to be ")
           << record << ", got " << getErrors().getType();
  if (getResult().getType() != record)
    return emitOpError("expects a result of type ")
           << record << ", got " << getResult().getType();
  return success();
}

//===----------------------------------------------------------------------===//
// Tile-level ops
//===----------------------------------------------------------------------===//

/// What key_tile_range and query_tile_range require: integer cu_seqlens
/// and a tile size of at least 1 (read signed: an i64 attribute's plain
/// getter is unsigned).
static LogicalResult verifyTileRange(Operation *op, Value cuSeqlens,
                                     StringRef blockName, IntegerAttr block) {
  if (!isCuSeqlens(cuSeqlens.getType(), /*allowMemRef=*/true))
    return op->emitOpError("expects cu_seqlens to be a rank-1 tensor or "
                           "memref of i32 or i64 with at least one entry");
  if (block.getInt() < 1)
    return op->emitOpError("expects ")
           << blockName << " to be at least 1, got " << block.getInt();
  return success();
}

/// What row_interval and col_interval require.
static LogicalResult verifyInterval(Operation *op, Value cuSeqlens,
                                    Value docFirst, Value docLast) {
  if (!isCuSeqlens(cuSeqlens.getType(), /*allowMemRef=*/true))
    return op->emitOpError("expects cu_seqlens to be a rank-1 tensor or "
                           "memref of i32 or i64 with at least one entry");
  if (bool(docFirst) != bool(docLast))
    return op->emitOpError("expects both doc_first and doc_last, or neither");
  return success();
}

LogicalResult KeyTileRangeOp::verify() {
  return verifyTileRange(*this, getCuSeqlens(), "block_k", getBlockKAttr());
}

LogicalResult QueryTileRangeOp::verify() {
  return verifyTileRange(*this, getCuSeqlens(), "block_q", getBlockQAttr());
}

LogicalResult RowIntervalOp::verify() {
  return verifyInterval(*this, getCuSeqlens(), getDocFirst(), getDocLast());
}

LogicalResult ColIntervalOp::verify() {
  return verifyInterval(*this, getCuSeqlens(), getDocFirst(), getDocLast());
}

#define GET_OP_CLASSES
#include "attn/Dialect/Attn/IR/AttnOps.cpp.inc"
