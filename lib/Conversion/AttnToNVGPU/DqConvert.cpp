//===- DqConvert.cpp - the atomic backward's dq out of its accumulator ----===//
//
// With atomic dq the backward's key items add dQ into an f32 accumulator;
// this kernel, launched after it, writes dq = scale x accumulator in dq's
// element type: one thread per pair of columns of [T, Hq, D].
//===----------------------------------------------------------------------===//

#include "KernelEmitter.h"
#include "KernelFunction.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::nvidia;

void nvidia::emitDqConvertKernel(OpBuilder &b, Location loc,
                                 gpu::GPUFuncOp func, double scale) {
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(&func.getBody().front());
  Value acc = func.getArgument(0), dq = func.getArgument(1);
  auto dqType = cast<MemRefType>(dq.getType());
  int64_t heads = dqType.getDimSize(1), pairs = dqType.getDimSize(2) / 2;
  IndexMath m{b, loc};
  Value total = m.mul(memref::DimOp::create(b, loc, dq, 0), m.c(heads * pairs));
  forEachThreadElement(
      b, loc, kDqConvertThreads, total, [&](OpBuilder &nb, Location l, Value i) {
        // i = (row x Hq + head) x D / 2 + column / 2.
        IndexMath n{nb, l};
        Value rest = n.remu(i, n.c(heads * pairs));
        SmallVector<Value> at = {n.divu(i, n.c(heads * pairs)),
                                 n.divu(rest, n.c(pairs)),
                                 n.mul(n.remu(rest, n.c(pairs)), n.c(2))};
        VectorType f32Pair = VectorType::get({2}, nb.getF32Type());
        // (An even column of rows of an even number of elements: one
        // aligned 8-byte load and one 4-byte store.)
        Value v = vector::LoadOp::create(nb, l, f32Pair, acc, at,
                                         /*nontemporal=*/false,
                                         llvm::MaybeAlign(8));
        Value s = arith::ConstantOp::create(
            nb, l, DenseElementsAttr::get(f32Pair, nb.getF32FloatAttr(scale)));
        v = arith::TruncFOp::create(
            nb, l, VectorType::get({2}, dqType.getElementType()),
            arith::MulFOp::create(nb, l, v, s));
        vector::StoreOp::create(nb, l, v, dq, at, /*nontemporal=*/false,
                                llvm::MaybeAlign(4));
      });
  b.setInsertionPointToEnd(&func.getBody().front());
  gpu::ReturnOp::create(b, loc);
  func.setKnownBlockSizeAttr(
      b.getDenseI32ArrayAttr({int32_t(kDqConvertThreads), 1, 1}));
}
