//===- DqConvert.cpp - the atomic backward's dq out of its accumulator ----===//
//
// With atomic dq the backward's key items add dQ into an f32 accumulator;
// this kernel, launched after it, writes dq = scale x accumulator in dq's
// element type: one thread per pair of columns of [T, Hq, D].
//===----------------------------------------------------------------------===//

#include "KernelEmitter.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::attn;

void nvidia::emitDqConvertKernel(OpBuilder &b, Location loc,
                                 gpu::GPUFuncOp func, double scale) {
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(&func.getBody().front());
  Value acc = func.getArgument(0), dq = func.getArgument(1);
  auto dqType = cast<MemRefType>(dq.getType());
  int64_t heads = dqType.getDimSize(1), pairs = dqType.getDimSize(2) / 2;
  auto c = [&](int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); };
  Value block = gpu::BlockIdOp::create(b, loc, gpu::Dimension::x);
  Value thread = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
  Value i = arith::AddIOp::create(
      b, loc, arith::MulIOp::create(b, loc, block, c(kDqConvertThreads)),
      thread);
  Value tokens = memref::DimOp::create(b, loc, dq, 0);
  Value total =
      arith::MulIOp::create(b, loc, tokens, c(heads * pairs)).getResult();
  auto inside = scf::IfOp::create(
      b, loc,
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, i, total),
      /*withElse=*/false);
  b.setInsertionPointToStart(inside.thenBlock());
  Value row = arith::DivUIOp::create(b, loc, i, c(heads * pairs));
  Value rest = arith::RemUIOp::create(b, loc, i, c(heads * pairs));
  Value head = arith::DivUIOp::create(b, loc, rest, c(pairs));
  Value col = arith::MulIOp::create(
      b, loc, arith::RemUIOp::create(b, loc, rest, c(pairs)), c(2));
  VectorType f32Pair = VectorType::get({2}, b.getF32Type());
  // (An even column of rows of an even number of elements: one aligned
  // 8-byte load and one 4-byte store.)
  Value v = vector::LoadOp::create(b, loc, f32Pair, acc,
                                   ValueRange{row, head, col},
                                   /*nontemporal=*/false, llvm::MaybeAlign(8));
  Value s = arith::ConstantOp::create(
      b, loc, DenseElementsAttr::get(f32Pair, b.getF32FloatAttr(scale)));
  v = arith::MulFOp::create(b, loc, v, s);
  v = arith::TruncFOp::create(
      b, loc, VectorType::get({2}, dqType.getElementType()), v);
  vector::StoreOp::create(b, loc, v, dq, ValueRange{row, head, col},
                          /*nontemporal=*/false, llvm::MaybeAlign(4));
  b.setInsertionPointToEnd(&func.getBody().front());
  gpu::ReturnOp::create(b, loc);
  func.setKnownBlockSizeAttr(
      b.getDenseI32ArrayAttr({int32_t(kDqConvertThreads), 1, 1}));
}
