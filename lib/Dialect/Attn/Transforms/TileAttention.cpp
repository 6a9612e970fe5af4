//===- TileAttention.cpp - tiled, fused online-softmax attention ----------===//
//
// attn.attention -> one loop nest over buffers that visits, for each
// (query tile, head), only the key tiles attn.key_tile_range names, with a
// masked body for partial tiles and a mask-free body for full tiles.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/Transforms/EmitterBase.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"
#include "attn/Dialect/Attn/Transforms/Transforms.h"
#include "attn/Support/EntryNames.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/Dominance.h"

#include <cmath>
#include <limits>

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNTILEATTENTION
#include "attn/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

/// Emits the loop nest of one attn.attention; holds what every part needs.
class AttentionEmitter : public AttentionEmitterBase {
public:
  AttentionEmitter(OpBuilder &b, Location loc, AttentionOp op,
                   const TileAttentionOptions &options)
      : AttentionEmitterBase(b, loc, op), opts(options) {}

  /// Emits the loops writing into `outBuf` and `lseBuf`.
  void emit(Value q, Value k, Value v, Value cu, Value numTokens, Value outBuf,
            Value lseBuf);

private:
  VectorType vec(int64_t n, Type t) { return VectorType::get({n}, t); }
  /// Loads buf[row, head, 0:n] as a vector of f32.
  Value loadRow(Value buf, Value row, Value head, int64_t n);

  /// One key tile, for all rows of the query tile.
  void emitKeyTile(Value kt, bool masked);
  /// Three loops over the partial, full and partial key tiles.
  void emitKeyTileLoops(Value begin, Value fullBegin, Value fullEnd, Value end);

  const TileAttentionOptions &opts;

  // Per work unit.
  Value qBuf, kBuf, vBuf, cuBuf, tokens;
  /// The documents of the current query tile's rows (attn.key_tile_range).
  Value docFirst, docLast;
  Value q0, rows, head, kvHead;
  Value accBuf, maxBuf, sumBuf, scoreBuf;
};

} // namespace

Value AttentionEmitter::loadRow(Value buf, Value row, Value h, int64_t n) {
  Value r = vector::LoadOp::create(b, loc, vec(n, elt), buf,
                                   ValueRange{row, h, idx(0)});
  if (elt != f32)
    r = arith::ExtFOp::create(b, loc, vec(n, f32), r);
  return r;
}

void AttentionEmitter::emitKeyTile(Value kt, bool masked) {
  int64_t blockK = opts.blockK;
  // Keys [k0, k0 + nk).
  Value k0 = arith::MulIOp::create(b, loc, kt, idx(blockK));
  Value k1 = arith::MinSIOp::create(
      b, loc, arith::AddIOp::create(b, loc, k0, idx(blockK)), tokens);
  Value nk = arith::SubIOp::create(b, loc, k1, k0);
  // Scores in log2 units: the scale and log2(e) folded into Q.
  double scaleLog2 = scale / std::log(2.0);
  auto rowLoop = scf::ForOp::create(b, loc, idx(0), rows, idx(1));
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(rowLoop.getBody());
    Value r = rowLoop.getInductionVar();
    Value qRow = arith::AddIOp::create(b, loc, q0, r);
    Value qVec = arith::MulFOp::create(
        b, loc, loadRow(qBuf, qRow, head, headDim),
        vector::BroadcastOp::create(b, loc, vec(headDim, f32),
                                    f32Const(scaleLog2)));
    Value lo, hi;
    if (masked) {
      auto interval = RowIntervalOp::create(b, loc, cuBuf, tokens, qRow,
                                            docFirst, docLast, mask);
      lo = interval.getLo();
      hi = interval.getHi();
    }
    // S row: s[j] = <q, k_j>, masked to -inf outside [lo, hi); its max.
    auto scoreLoop = scf::ForOp::create(
        b, loc, idx(0), nk, idx(1), ValueRange{negInf()},
        [&](OpBuilder &, Location, Value j, ValueRange iter) {
          Value key = arith::AddIOp::create(b, loc, k0, j);
          Value prod = arith::MulFOp::create(
              b, loc, qVec, loadRow(kBuf, key, kvHead, headDim));
          Value s = vector::ReductionOp::create(
              b, loc, vector::CombiningKind::ADD, prod);
          if (masked) {
            Value geLo = arith::CmpIOp::create(
                b, loc, arith::CmpIPredicate::sge, key, lo);
            Value ltHi = arith::CmpIOp::create(
                b, loc, arith::CmpIPredicate::slt, key, hi);
            Value allowed = arith::AndIOp::create(b, loc, geLo, ltHi);
            s = arith::SelectOp::create(b, loc, allowed, s, negInf());
          }
          memref::StoreOp::create(b, loc, s, scoreBuf, ValueRange{j});
          scf::YieldOp::create(
              b, loc,
              ValueRange{arith::MaximumFOp::create(b, loc, iter[0], s)});
        });
    // Online softmax update.
    Value mOld = memref::LoadOp::create(b, loc, maxBuf, ValueRange{r});
    Value mNew =
        arith::MaximumFOp::create(b, loc, mOld, scoreLoop.getResult(0));
    Value mUse = softmaxShift(mNew);
    Value alpha =
        math::Exp2Op::create(b, loc, arith::SubFOp::create(b, loc, mOld, mUse));
    VectorType accType = vec(valueDim, f32);
    Value accRow =
        vector::LoadOp::create(b, loc, accType, accBuf, ValueRange{r, idx(0)});
    accRow = arith::MulFOp::create(
        b, loc, accRow, vector::BroadcastOp::create(b, loc, accType, alpha));
    auto pvLoop = scf::ForOp::create(
        b, loc, idx(0), nk, idx(1), ValueRange{accRow, f32Const(0.0)},
        [&](OpBuilder &, Location, Value j, ValueRange iter) {
          Value s = memref::LoadOp::create(b, loc, scoreBuf, ValueRange{j});
          Value p = math::Exp2Op::create(
              b, loc, arith::SubFOp::create(b, loc, s, mUse));
          Value key = arith::AddIOp::create(b, loc, k0, j);
          Value acc = vector::FMAOp::create(
              b, loc, vector::BroadcastOp::create(b, loc, accType, p),
              loadRow(vBuf, key, kvHead, valueDim), iter[0]);
          Value sum = arith::AddFOp::create(b, loc, iter[1], p);
          scf::YieldOp::create(b, loc, ValueRange{acc, sum});
        });
    vector::StoreOp::create(b, loc, pvLoop.getResult(0), accBuf,
                            ValueRange{r, idx(0)});
    Value lOld = memref::LoadOp::create(b, loc, sumBuf, ValueRange{r});
    Value lNew = arith::AddFOp::create(
        b, loc, arith::MulFOp::create(b, loc, lOld, alpha),
        pvLoop.getResult(1));
    memref::StoreOp::create(b, loc, lNew, sumBuf, ValueRange{r});
    memref::StoreOp::create(b, loc, mNew, maxBuf, ValueRange{r});
  }
}

void AttentionEmitter::emitKeyTileLoops(Value begin, Value fullBegin,
                                        Value fullEnd, Value end) {
  auto loop = [&](Value lb, Value ub, bool masked) {
    auto forOp = scf::ForOp::create(b, loc, lb, ub, idx(1));
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(forOp.getBody());
    emitKeyTile(forOp.getInductionVar(), masked);
  };
  loop(begin, fullBegin, /*masked=*/true);
  loop(fullBegin, fullEnd, /*masked=*/false);
  loop(fullEnd, end, /*masked=*/true);
}

void AttentionEmitter::emit(Value q, Value k, Value v, Value cu,
                            Value numTokens, Value outBuf, Value lseBuf) {
  qBuf = q;
  kBuf = k;
  vBuf = v;
  cuBuf = cu;
  tokens = numTokens;
  int64_t blockQ = opts.blockQ, blockK = opts.blockK;
  int64_t group = numHeads / numKvHeads;
  Value numQTiles = arith::CeilDivUIOp::create(b, loc, tokens, idx(blockQ));

  // One unit of work per (query tile, head).
  auto par = scf::ParallelOp::create(b, loc, ValueRange{idx(0), idx(0)},
                                     ValueRange{numQTiles, idx(numHeads)},
                                     ValueRange{idx(1), idx(1)});
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(par.getBody());
  Value qt = par.getInductionVars()[0];
  head = par.getInductionVars()[1];
  kvHead = arith::DivUIOp::create(b, loc, head, idx(group));
  q0 = arith::MulIOp::create(b, loc, qt, idx(blockQ));
  Value q1 = arith::MinSIOp::create(
      b, loc, arith::AddIOp::create(b, loc, q0, idx(blockQ)), tokens);
  rows = arith::SubIOp::create(b, loc, q1, q0);

  // Per-unit scratch (correct whatever order or concurrency the units run
  // in); the buffer deallocation pipeline frees it at the end of the unit.
  accBuf =
      memref::AllocOp::create(b, loc, MemRefType::get({blockQ, valueDim}, f32));
  maxBuf = memref::AllocOp::create(b, loc, MemRefType::get({blockQ}, f32));
  sumBuf = memref::AllocOp::create(b, loc, MemRefType::get({blockQ}, f32));
  scoreBuf = memref::AllocOp::create(b, loc, MemRefType::get({blockK}, f32));
  {
    auto init = scf::ForOp::create(b, loc, idx(0), rows, idx(1));
    OpBuilder::InsertionGuard ig(b);
    b.setInsertionPointToStart(init.getBody());
    Value r = init.getInductionVar();
    memref::StoreOp::create(b, loc, negInf(), maxBuf, ValueRange{r});
    memref::StoreOp::create(b, loc, f32Const(0.0), sumBuf, ValueRange{r});
    vector::StoreOp::create(
        b, loc,
        arith::ConstantOp::create(
            b, loc, DenseElementsAttr::get(vec(valueDim, f32), 0.0f)),
        accBuf, ValueRange{r, idx(0)});
  }

  auto range = KeyTileRangeOp::create(b, loc, cuBuf, tokens, q0, q1,
                                      mask, blockK);
  docFirst = range.getDocFirst();
  docLast = range.getDocLast();
  countTiles(opts.tileCountsGlobal, head, range.getBegin(),
             range.getFullBegin(), range.getFullEnd(), range.getEnd());
  emitKeyTileLoops(range.getBegin(), range.getFullBegin(), range.getFullEnd(),
                   range.getEnd());

  // out = acc / sum, lse = ln2 * (max + log2(sum)); 0 and -inf for rows
  // that saw no allowed key.
  {
    auto fin = scf::ForOp::create(b, loc, idx(0), rows, idx(1));
    OpBuilder::InsertionGuard fg(b);
    b.setInsertionPointToStart(fin.getBody());
    Value r = fin.getInductionVar();
    Value qRow = arith::AddIOp::create(b, loc, q0, r);
    Value l = memref::LoadOp::create(b, loc, sumBuf, ValueRange{r});
    Value m = memref::LoadOp::create(b, loc, maxBuf, ValueRange{r});
    Value inv = inverseSum(l);
    VectorType accType = vec(valueDim, f32);
    Value o = arith::MulFOp::create(
        b, loc,
        vector::LoadOp::create(b, loc, accType, accBuf, ValueRange{r, idx(0)}),
        vector::BroadcastOp::create(b, loc, accType, inv));
    if (elt != f32)
      o = arith::TruncFOp::create(b, loc, vec(valueDim, elt), o);
    vector::StoreOp::create(b, loc, o, outBuf, ValueRange{qRow, head, idx(0)});
    Value lse = logSumExp(m, l, math::Log2Op::create(b, loc, l));
    memref::StoreOp::create(b, loc, lse, lseBuf, ValueRange{head, qRow});
  }
}

Value mlir::attn::getSourceBuffer(Value tensor) {
  if (auto toTensor = tensor.getDefiningOp<bufferization::ToTensorOp>())
    return toTensor.getBuffer();
  return {};
}

Value mlir::attn::getMaterializedDestination(Operation *op, Value result) {
  if (!result.hasOneUse())
    return {};
  auto mat =
      dyn_cast<bufferization::MaterializeInDestinationOp>(*result.user_begin());
  if (!mat || !mat.getWritable() || !isa<MemRefType>(mat.getDest().getType()))
    return {};
  if (mat.getDest().getType() !=
      MemRefType::get(
          cast<RankedTensorType>(result.getType()).getShape(),
          cast<RankedTensorType>(result.getType()).getElementType()))
    return {};
  DominanceInfo dom(op->getParentOp());
  if (!dom.properlyDominates(mat.getDest(), op))
    return {};
  return mat.getDest();
}

Value mlir::attn::readBuffer(OpBuilder &b, Location loc, Value tensor) {
  auto type = cast<RankedTensorType>(tensor.getType());
  return bufferization::ToBufferOp::create(
      b, loc, MemRefType::get(type.getShape(), type.getElementType()), tensor,
      /*read_only=*/true);
}

ResultBuffers mlir::attn::resultBuffers(RewriterBase &rewriter, Operation *op,
                                        Value numTokens) {
  // Results go straight into their destination buffer when there is one,
  // else into a new buffer.
  ResultBuffers out;
  for (Value result : op->getResults()) {
    if (Value dest = getMaterializedDestination(op, result)) {
      out.buffers.push_back(dest);
      out.materializations.push_back(*result.user_begin());
      continue;
    }
    auto type = cast<RankedTensorType>(result.getType());
    SmallVector<Value> dynSizes;
    for (int64_t i = 0; i < type.getRank(); ++i)
      if (type.isDynamicDim(i))
        dynSizes.push_back(numTokens); // only T is dynamic
    out.buffers.push_back(memref::AllocOp::create(
        rewriter, op->getLoc(),
        MemRefType::get(type.getShape(), type.getElementType()), dynSizes));
  }
  return out;
}

void mlir::attn::replaceWithBuffers(RewriterBase &rewriter, Operation *op,
                                    const ResultBuffers &results) {
  for (Operation *mat : results.materializations)
    rewriter.eraseOp(mat);
  for (auto [result, buffer] : llvm::zip(op->getResults(), results.buffers))
    if (!result.use_empty())
      rewriter.replaceAllUsesWith(
          result, bufferization::ToTensorOp::create(
                      rewriter, op->getLoc(), result.getType(), buffer,
                      /*restrict=*/true, /*writable=*/true));
  rewriter.eraseOp(op);
}

LogicalResult mlir::attn::tileAttention(RewriterBase &rewriter, AttentionOp op,
                                        const TileAttentionOptions &options) {
  if (!areCpuTileSizes(options.blockQ, options.blockK))
    return op.emitOpError("tile sizes must be 1 to ")
           << kMaxCpuTileSize << ", got " << options.blockQ << " and "
           << options.blockK;
  Location loc = op.getLoc();
  rewriter.setInsertionPoint(op);
  Value q = readBuffer(rewriter, loc, op.getQuery()),
        k = readBuffer(rewriter, loc, op.getKey()),
        v = readBuffer(rewriter, loc, op.getValue()),
        cu = readBuffer(rewriter, loc, op.getCuSeqlens());
  Value numTokens = memref::DimOp::create(rewriter, loc, q, 0);
  ResultBuffers results = resultBuffers(rewriter, op, numTokens);
  AttentionEmitter(rewriter, loc, op, options)
      .emit(q, k, v, cu, numTokens, results.buffers[0], results.buffers[1]);
  replaceWithBuffers(rewriter, op, results);
  return success();
}

namespace {
/// A zero memref<3xi64> global `name` in `module`, unless there is one.
void declareCounts(ModuleOp module, StringRef name) {
  if (module.lookupSymbol(name))
    return;
  OpBuilder b(module.getBodyRegion());
  auto type = MemRefType::get({3}, b.getI64Type());
  memref::GlobalOp::create(
      b, module.getLoc(), name, /*sym_visibility=*/StringAttr(), type,
      DenseElementsAttr::get(RankedTensorType::get({3}, b.getI64Type()),
                             int64_t(0)),
      /*constant=*/false, /*alignment=*/IntegerAttr());
}

struct AttnTileAttentionPass
    : public mlir::attn::impl::AttnTileAttentionBase<AttnTileAttentionPass> {
  using Base::Base;
  // A bad option is an error naming the pass (MLIR's own is empty).
  LogicalResult initializeOptions(
      StringRef options,
      function_ref<LogicalResult(const Twine &)> errorHandler) override {
    // (MLIR's parser passes on an empty message when llvm::cl has printed
    // what was wrong with a value.)
    if (succeeded(Base::initializeOptions(
            options, [&](const Twine &msg) {
              return msg.isTriviallyEmpty() || msg.str().empty()
                         ? failure()
                         : errorHandler(msg);
            })))
      return success();
    return errorHandler(getArgument() + ": bad options '" + options + "'");
  }
  void runOnOperation() override {
    ModuleOp module = getOperation();
    TileAttentionOptions options;
    options.blockQ = blockQ;
    options.blockK = blockK;
    options.deterministic = deterministic;
    SmallVector<AttentionOp> ops;
    SmallVector<AttentionGradOp> grads;
    module.walk([&](Operation *op) {
      if (auto a = dyn_cast<AttentionOp>(op))
        ops.push_back(a);
      else if (auto g = dyn_cast<AttentionGradOp>(op))
        grads.push_back(g);
    });
    if (countTiles && !ops.empty()) {
      options.tileCountsGlobal = ::attn::kTileCounts;
      declareCounts(module, options.tileCountsGlobal);
    }
    if (countTiles && !grads.empty()) {
      options.gradTileCountsGlobal = ::attn::kGradTileCounts;
      declareCounts(module, options.gradTileCountsGlobal);
    }
    IRRewriter rewriter(&getContext());
    for (AttentionOp op : ops)
      if (failed(tileAttention(rewriter, op, options)))
        return signalPassFailure();
    for (AttentionGradOp op : grads)
      if (failed(tileAttentionGrad(rewriter, op, options)))
        return signalPassFailure();
  }
};
} // namespace
