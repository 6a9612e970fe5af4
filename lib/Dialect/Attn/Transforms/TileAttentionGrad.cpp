//===- TileAttentionGrad.cpp - tiled backward pass of attn.attention ------===//
//
// attn.attention_grad -> loops over buffers, FlashAttention-2's backward
// over the packed sequence: delta = rowsum(dO * O); one unit of work per
// (key tile, key/value head) visits only the query tiles
// attn.query_tile_range names (partial, full, partial; mask math in partial
// tiles only), recomputes P from lse and accumulates dV += P^T dO and
// dK += dS^T Q; dQ += dS K goes out as f32 atomics, or comes from a second,
// query-major pass over attn.key_tile_range's key tiles (deterministic).
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/Transforms/EmitterBase.h"
#include "attn/Dialect/Attn/Transforms/Transforms.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::attn;

namespace {

/// The buffers attn.attention_grad reads.
struct GradInputs {
  Value q, k, v, out, dout, lse, cu, tokens;
};

/// What one query row brings to the products with a key: its q (scaled
/// into the log2 domain and plain), dO, the shift of its scores (lse in
/// the log2 domain) and delta.
struct GradRow {
  Value row, head, q, qScaled, dout, shift, delta;
};

/// Emits the loops of one attn.attention_grad.
class GradEmitter : public AttentionEmitterBase {
public:
  GradEmitter(OpBuilder &b, Location loc, AttentionGradOp op,
              const TileAttentionOptions &options)
      : AttentionEmitterBase(b, loc, op), opts(options),
        group(numHeads / numKvHeads) {}

  void emit(const GradInputs &in, Value dq, Value dk, Value dv);

private:
  VectorType vec(int64_t n) { return VectorType::get({n}, f32); }
  Value loadRow(Value buf, Value row, Value head, int64_t n);
  void storeRow(Value v, Value buf, Value row, Value head);
  Value dot(Value a, Value b);
  Value zeros(int64_t n);
  /// An scf.parallel over [0, ub0) x [0, ub1); `body` gets the indices.
  void parallel2(Value ub0, Value ub1,
                 function_ref<void(Value, Value)> body);
  /// Three scf.for loops over tiles: [begin, fullBegin) and [fullEnd, end)
  /// masked, [fullBegin, fullEnd) not; carrying `init`.
  ValueRange tileLoops(Value begin, Value fullBegin, Value fullEnd, Value end,
                       ValueRange init,
                       function_ref<SmallVector<Value>(Value, bool, ValueRange)>
                           body);
  GradRow loadGradRow(Value row, Value head);
  /// p and ds of `row` with one key: p = exp2(q.k - shift), masked to 0
  /// where `allowed` is false (when given), ds = p * (dO.v - delta).
  std::pair<Value, Value> probabilityAndGrad(const GradRow &row, Value kVec,
                                             Value vVec, Value allowed);

  void emitDelta(Value delta);
  void emitKeyMajor(Value delta, Value dqAcc, Value dk, Value dv);
  void emitQueryMajorDq(Value delta, Value dq);

  const TileAttentionOptions &opts;
  int64_t group;
  GradInputs in;
};

} // namespace

Value GradEmitter::loadRow(Value buf, Value row, Value head, int64_t n) {
  Type t = cast<MemRefType>(buf.getType()).getElementType();
  Value r = vector::LoadOp::create(b, loc, VectorType::get({n}, t), buf,
                                   ValueRange{row, head, idx(0)});
  if (t != f32)
    r = arith::ExtFOp::create(b, loc, vec(n), r);
  return r;
}

void GradEmitter::storeRow(Value v, Value buf, Value row, Value head) {
  Type t = cast<MemRefType>(buf.getType()).getElementType();
  if (t != f32)
    v = arith::TruncFOp::create(
        b, loc, VectorType::get({cast<VectorType>(v.getType()).getDimSize(0)}, t),
        v);
  vector::StoreOp::create(b, loc, v, buf, ValueRange{row, head, idx(0)});
}

Value GradEmitter::dot(Value a, Value c) {
  return vector::ReductionOp::create(b, loc, vector::CombiningKind::ADD,
                                     arith::MulFOp::create(b, loc, a, c));
}

Value GradEmitter::zeros(int64_t n) {
  return arith::ConstantOp::create(b, loc,
                                   DenseElementsAttr::get(vec(n), 0.0f));
}

void GradEmitter::parallel2(Value ub0, Value ub1,
                            function_ref<void(Value, Value)> body) {
  auto par = scf::ParallelOp::create(b, loc, ValueRange{idx(0), idx(0)},
                                     ValueRange{ub0, ub1},
                                     ValueRange{idx(1), idx(1)});
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(par.getBody());
  body(par.getInductionVars()[0], par.getInductionVars()[1]);
}

ValueRange GradEmitter::tileLoops(
    Value begin, Value fullBegin, Value fullEnd, Value end, ValueRange init,
    function_ref<SmallVector<Value>(Value, bool, ValueRange)> body) {
  SmallVector<Value> carried(init);
  scf::ForOp last;
  for (auto [lb, ub, masked] : {std::tuple{begin, fullBegin, true},
                                {fullBegin, fullEnd, false},
                                {fullEnd, end, true}}) {
    last = scf::ForOp::create(
        b, loc, lb, ub, idx(1), carried,
        [&, masked = masked](OpBuilder &, Location, Value t, ValueRange it) {
          scf::YieldOp::create(b, loc, body(t, masked, it));
        });
    carried.assign(last.getResults().begin(), last.getResults().end());
  }
  return last.getResults();
}

GradRow GradEmitter::loadGradRow(Value row, Value head) {
  GradRow r;
  r.row = row;
  r.head = head;
  r.q = loadRow(in.q, row, head, headDim);
  r.qScaled = arith::MulFOp::create(
      b, loc, r.q,
      vector::BroadcastOp::create(b, loc, vec(headDim),
                                  f32Const(scale / std::log(2.0))));
  r.dout = loadRow(in.dout, row, head, valueDim);
  // lse in the log2 domain; +inf for a row with no allowed key (lse =
  // -inf), so that its p is exp2(-inf) = 0 rather than NaN.
  Value lse = memref::LoadOp::create(b, loc, in.lse, ValueRange{head, row});
  Value none = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, lse,
                                     negInf());
  r.shift = arith::SelectOp::create(
      b, loc, none, f32Const(std::numeric_limits<double>::infinity()),
      arith::MulFOp::create(b, loc, lse, f32Const(1.0 / std::log(2.0))));
  return r;
}

std::pair<Value, Value> GradEmitter::probabilityAndGrad(const GradRow &row,
                                                        Value kVec, Value vVec,
                                                        Value allowed) {
  Value s = dot(row.qScaled, kVec);
  Value p =
      math::Exp2Op::create(b, loc, arith::SubFOp::create(b, loc, s, row.shift));
  if (allowed)
    p = arith::SelectOp::create(b, loc, allowed, p, f32Const(0.0));
  Value dp = dot(row.dout, vVec);
  Value ds = arith::MulFOp::create(
      b, loc, p, arith::SubFOp::create(b, loc, dp, row.delta));
  return {p, ds};
}

void GradEmitter::emitDelta(Value delta) {
  parallel2(in.tokens, idx(numHeads), [&](Value t, Value h) {
    Value d = dot(loadRow(in.dout, t, h, valueDim),
                  loadRow(in.out, t, h, valueDim));
    memref::StoreOp::create(b, loc, d, delta, ValueRange{h, t});
  });
}

void GradEmitter::emitKeyMajor(Value delta, Value dqAcc, Value dk, Value dv) {
  int64_t blockK = opts.blockK;
  Value numKTiles = arith::CeilDivUIOp::create(b, loc, in.tokens, idx(blockK));
  parallel2(numKTiles, idx(numKvHeads), [&](Value kt, Value g) {
    Value k0 = arith::MulIOp::create(b, loc, kt, idx(blockK));
    Value k1 = arith::MinSIOp::create(
        b, loc, arith::AddIOp::create(b, loc, k0, idx(blockK)), in.tokens);
    Value nk = arith::SubIOp::create(b, loc, k1, k0);
    // Per-unit scratch: dK and dV of the tile's keys (f32), and each key's
    // column interval (the queries that may see it) for the masked tiles.
    Value dkAcc = memref::AllocOp::create(
        b, loc, MemRefType::get({blockK, headDim}, f32));
    Value dvAcc = memref::AllocOp::create(
        b, loc, MemRefType::get({blockK, valueDim}, f32));
    Type index = b.getIndexType();
    Value colLo =
        memref::AllocOp::create(b, loc, MemRefType::get({blockK}, index));
    Value colHi =
        memref::AllocOp::create(b, loc, MemRefType::get({blockK}, index));
    auto range = QueryTileRangeOp::create(b, loc, in.cu, in.tokens, k0, k1,
                                          mask, opts.blockQ);
    scf::ForOp::create(
        b, loc, idx(0), nk, idx(1), ValueRange{},
        [&](OpBuilder &, Location, Value j, ValueRange) {
          vector::StoreOp::create(b, loc, zeros(headDim), dkAcc,
                                  ValueRange{j, idx(0)});
          vector::StoreOp::create(b, loc, zeros(valueDim), dvAcc,
                                  ValueRange{j, idx(0)});
          auto col = ColIntervalOp::create(
              b, loc, in.cu, in.tokens, arith::AddIOp::create(b, loc, k0, j),
              range.getDocFirst(), range.getDocLast(), mask);
          memref::StoreOp::create(b, loc, col.getLo(), colLo, ValueRange{j});
          memref::StoreOp::create(b, loc, col.getHi(), colHi, ValueRange{j});
          scf::YieldOp::create(b, loc);
        });
    countTiles(opts.gradTileCountsGlobal, g, range.getBegin(),
               range.getFullBegin(), range.getFullEnd(), range.getEnd());
    Value dqRow =
        dqAcc ? memref::AllocOp::create(b, loc, MemRefType::get({headDim}, f32))
              : Value();
    tileLoops(
        range.getBegin(), range.getFullBegin(), range.getFullEnd(),
        range.getEnd(), {},
        [&](Value qt, bool masked, ValueRange) -> SmallVector<Value> {
          Value q0 = arith::MulIOp::create(b, loc, qt, idx(opts.blockQ));
          Value q1 = arith::MinSIOp::create(
              b, loc, arith::AddIOp::create(b, loc, q0, idx(opts.blockQ)),
              in.tokens);
          // Every query head of the group, every row of the tile.
          scf::ForOp::create(
              b, loc, idx(0), idx(group), idx(1), ValueRange{},
              [&](OpBuilder &, Location, Value hh, ValueRange) {
                Value h = arith::AddIOp::create(
                    b, loc, arith::MulIOp::create(b, loc, g, idx(group)), hh);
                scf::ForOp::create(
                    b, loc, q0, q1, idx(1), ValueRange{},
                    [&](OpBuilder &, Location, Value r, ValueRange) {
                      GradRow row = loadGradRow(r, h);
                      row.delta = memref::LoadOp::create(b, loc, delta,
                                                         ValueRange{h, r});
                      auto keys = scf::ForOp::create(
                          b, loc, idx(0), nk, idx(1),
                          ValueRange{zeros(headDim)},
                          [&](OpBuilder &, Location, Value j, ValueRange it) {
                            Value key = arith::AddIOp::create(b, loc, k0, j);
                            Value kVec = loadRow(in.k, key, g, headDim);
                            Value vVec = loadRow(in.v, key, g, valueDim);
                            Value allowed;
                            if (masked) {
                              Value lo = memref::LoadOp::create(
                                  b, loc, colLo, ValueRange{j});
                              Value hi = memref::LoadOp::create(
                                  b, loc, colHi, ValueRange{j});
                              allowed = arith::AndIOp::create(
                                  b, loc,
                                  arith::CmpIOp::create(
                                      b, loc, arith::CmpIPredicate::sle, lo,
                                      r),
                                  arith::CmpIOp::create(
                                      b, loc, arith::CmpIPredicate::slt, r,
                                      hi));
                            }
                            auto [p, ds] =
                                probabilityAndGrad(row, kVec, vVec, allowed);
                            auto accumulate = [&](Value acc, int64_t n,
                                                  Value s, Value x) {
                              Value cur = vector::LoadOp::create(
                                  b, loc, vec(n), acc, ValueRange{j, idx(0)});
                              vector::StoreOp::create(
                                  b, loc,
                                  vector::FMAOp::create(
                                      b, loc,
                                      vector::BroadcastOp::create(b, loc,
                                                                  vec(n), s),
                                      x, cur),
                                  acc, ValueRange{j, idx(0)});
                            };
                            accumulate(dvAcc, valueDim, p, row.dout);
                            accumulate(dkAcc, headDim, ds, row.q);
                            scf::YieldOp::create(
                                b, loc,
                                ValueRange{vector::FMAOp::create(
                                    b, loc,
                                    vector::BroadcastOp::create(
                                        b, loc, vec(headDim), ds),
                                    kVec, it[0])});
                          });
                      if (dqAcc) {
                        // dQ += scale * dS K, one atomic add per element.
                        Value contribution = arith::MulFOp::create(
                            b, loc, keys.getResult(0),
                            vector::BroadcastOp::create(b, loc, vec(headDim),
                                                        f32Const(scale)));
                        vector::StoreOp::create(b, loc, contribution, dqRow,
                                                ValueRange{idx(0)});
                        scf::ForOp::create(
                            b, loc, idx(0), idx(headDim), idx(1), ValueRange{},
                            [&](OpBuilder &, Location, Value e, ValueRange) {
                              memref::AtomicRMWOp::create(
                                  b, loc, arith::AtomicRMWKind::addf,
                                  memref::LoadOp::create(b, loc, dqRow,
                                                         ValueRange{e}),
                                  dqAcc, ValueRange{r, h, e});
                              scf::YieldOp::create(b, loc);
                            });
                      }
                      scf::YieldOp::create(b, loc);
                    });
                scf::YieldOp::create(b, loc);
              });
          return {};
        });
    // dK = scale * dS^T Q, dV = P^T dO: 0 for keys no query sees.
    scf::ForOp::create(
        b, loc, idx(0), nk, idx(1), ValueRange{},
        [&](OpBuilder &, Location, Value j, ValueRange) {
          Value key = arith::AddIOp::create(b, loc, k0, j);
          Value dkRow = arith::MulFOp::create(
              b, loc,
              vector::LoadOp::create(b, loc, vec(headDim), dkAcc,
                                     ValueRange{j, idx(0)}),
              vector::BroadcastOp::create(b, loc, vec(headDim),
                                          f32Const(scale)));
          storeRow(dkRow, dk, key, g);
          storeRow(vector::LoadOp::create(b, loc, vec(valueDim), dvAcc,
                                          ValueRange{j, idx(0)}),
                   dv, key, g);
          scf::YieldOp::create(b, loc);
        });
  });
}

void GradEmitter::emitQueryMajorDq(Value delta, Value dq) {
  int64_t blockQ = opts.blockQ, blockK = opts.blockK;
  Value numQTiles = arith::CeilDivUIOp::create(b, loc, in.tokens, idx(blockQ));
  parallel2(numQTiles, idx(numHeads), [&](Value qt, Value h) {
    Value g = arith::DivUIOp::create(b, loc, h, idx(group));
    Value q0 = arith::MulIOp::create(b, loc, qt, idx(blockQ));
    Value q1 = arith::MinSIOp::create(
        b, loc, arith::AddIOp::create(b, loc, q0, idx(blockQ)), in.tokens);
    auto range =
        KeyTileRangeOp::create(b, loc, in.cu, in.tokens, q0, q1, mask, blockK);
    scf::ForOp::create(
        b, loc, q0, q1, idx(1), ValueRange{},
        [&](OpBuilder &, Location, Value r, ValueRange) {
          GradRow row = loadGradRow(r, h);
          row.delta = memref::LoadOp::create(b, loc, delta, ValueRange{h, r});
          auto interval =
              RowIntervalOp::create(b, loc, in.cu, in.tokens, r,
                                    range.getDocFirst(), range.getDocLast(),
                                    mask);
          // dq = scale * sum over the row's key tiles of dS K, in key order.
          ValueRange acc = tileLoops(
              range.getBegin(), range.getFullBegin(), range.getFullEnd(),
              range.getEnd(), ValueRange{zeros(headDim)},
              [&](Value kt, bool masked, ValueRange it) -> SmallVector<Value> {
                Value k0 = arith::MulIOp::create(b, loc, kt, idx(blockK));
                Value k1 = arith::MinSIOp::create(
                    b, loc, arith::AddIOp::create(b, loc, k0, idx(blockK)),
                    in.tokens);
                auto keys = scf::ForOp::create(
                    b, loc, k0, k1, idx(1), it,
                    [&](OpBuilder &, Location, Value key, ValueRange kit) {
                      Value kVec = loadRow(in.k, key, g, headDim);
                      Value vVec = loadRow(in.v, key, g, valueDim);
                      Value allowed;
                      if (masked)
                        allowed = arith::AndIOp::create(
                            b, loc,
                            arith::CmpIOp::create(b, loc,
                                                  arith::CmpIPredicate::sle,
                                                  interval.getLo(), key),
                            arith::CmpIOp::create(b, loc,
                                                  arith::CmpIPredicate::slt,
                                                  key, interval.getHi()));
                      Value ds =
                          probabilityAndGrad(row, kVec, vVec, allowed).second;
                      scf::YieldOp::create(
                          b, loc,
                          ValueRange{vector::FMAOp::create(
                              b, loc,
                              vector::BroadcastOp::create(b, loc,
                                                          vec(headDim), ds),
                              kVec, kit[0])});
                    });
                return {keys.getResult(0)};
              });
          storeRow(arith::MulFOp::create(
                       b, loc, acc[0],
                       vector::BroadcastOp::create(b, loc, vec(headDim),
                                                   f32Const(scale))),
                   dq, r, h);
          scf::YieldOp::create(b, loc);
        });
  });
}

void GradEmitter::emit(const GradInputs &inputs, Value dq, Value dk,
                       Value dv) {
  in = inputs;
  int64_t dynT = ShapedType::kDynamic;
  Value delta = memref::AllocOp::create(
      b, loc, MemRefType::get({numHeads, dynT}, f32), ValueRange{in.tokens});
  emitDelta(delta);
  Value dqAcc;
  if (!opts.deterministic) {
    dqAcc = memref::AllocOp::create(
        b, loc, MemRefType::get({dynT, numHeads, headDim}, f32),
        ValueRange{in.tokens});
    parallel2(in.tokens, idx(numHeads), [&](Value t, Value h) {
      vector::StoreOp::create(b, loc, zeros(headDim), dqAcc,
                              ValueRange{t, h, idx(0)});
    });
  }
  emitKeyMajor(delta, dqAcc, dk, dv);
  if (opts.deterministic) {
    emitQueryMajorDq(delta, dq);
    return;
  }
  parallel2(in.tokens, idx(numHeads), [&](Value t, Value h) {
    storeRow(vector::LoadOp::create(b, loc, vec(headDim), dqAcc,
                                    ValueRange{t, h, idx(0)}),
             dq, t, h);
  });
}

LogicalResult mlir::attn::tileAttentionGrad(RewriterBase &rewriter,
                                            AttentionGradOp op,
                                            const TileAttentionOptions &options) {
  if (!areCpuTileSizes(options.blockQ, options.blockK))
    return op.emitOpError("tile sizes must be 1 to ")
           << kMaxCpuTileSize << ", got " << options.blockQ << " and "
           << options.blockK;
  Location loc = op.getLoc();
  rewriter.setInsertionPoint(op);
  GradInputs in;
  in.q = readBuffer(rewriter, loc, op.getQuery());
  in.k = readBuffer(rewriter, loc, op.getKey());
  in.v = readBuffer(rewriter, loc, op.getValue());
  in.out = readBuffer(rewriter, loc, op.getOut());
  in.dout = readBuffer(rewriter, loc, op.getDout());
  in.lse = readBuffer(rewriter, loc, op.getLse());
  in.cu = readBuffer(rewriter, loc, op.getCuSeqlens());
  in.tokens = memref::DimOp::create(rewriter, loc, in.q, 0);
  ResultBuffers results = resultBuffers(rewriter, op, in.tokens);
  GradEmitter(rewriter, loc, op, options)
      .emit(in, results.buffers[0], results.buffers[1], results.buffers[2]);
  replaceWithBuffers(rewriter, op, results);
  return success();
}
