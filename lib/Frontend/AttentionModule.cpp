//===- AttentionModule.cpp - an attention problem as an MLIR module -------===//

#include "attn/Frontend/AttentionModule.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/Builders.h"

using namespace mlir;
using namespace mlir::attn;

/// Adds at `b`'s insertion point a function `name` of arguments `types`
/// (for NVIDIA a gpu.func kernel, for the CPU a func.func with a C
/// interface); `body` gets the first `numInputs` arguments (memrefs read as
/// tensors, other types as they are) and returns the results to
/// materialize into the arguments after them, or with `inPlace` into the
/// last input (one result).
static void addFunction(OpBuilder &b, Target target, StringRef name,
                        ArrayRef<Type> types, unsigned numInputs,
                        function_ref<ValueRange(ArrayRef<Value>)> body,
                        bool inPlace = false) {
  OpBuilder::InsertionGuard g(b);
  Location loc = b.getUnknownLoc();
  FunctionType type = b.getFunctionType(types, {});
  Block *entry;
  if (target == Target::CPU) {
    auto func = func::FuncOp::create(b, loc, name, type);
    func->setAttr("llvm.emit_c_interface", b.getUnitAttr());
    entry = func.addEntryBlock();
  } else {
    auto func = gpu::GPUFuncOp::create(b, loc, name, type);
    func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
    entry = &func.getBody().front();
  }
  b.setInsertionPointToStart(entry);
  SmallVector<Value> inputs;
  for (unsigned i = 0; i < numInputs; ++i) {
    auto memref = dyn_cast<MemRefType>(types[i]);
    inputs.push_back(memref
                         ? Value(bufferization::ToTensorOp::create(
                               b, loc,
                               RankedTensorType::get(memref.getShape(),
                                                     memref.getElementType()),
                               entry->getArgument(i), /*restrict=*/true))
                         : Value(entry->getArgument(i)));
  }
  for (auto [i, result] : llvm::enumerate(body(inputs))) {
    auto mat = bufferization::MaterializeInDestinationOp::create(
        b, loc, result,
        entry->getArgument(inPlace ? numInputs - 1 : numInputs + i));
    mat.setRestrict(!inPlace);
    mat.setWritable(true);
  }
  if (target == Target::CPU)
    func::ReturnOp::create(b, loc);
  else
    gpu::ReturnOp::create(b, loc);
}

/// A new module for `target`, `b` at the point where functions go (for
/// NVIDIA inside gpu.module @attn_kernels).
static OwningOpRef<ModuleOp> newModule(OpBuilder &b, Target target) {
  Location loc = b.getUnknownLoc();
  OwningOpRef<ModuleOp> module = ModuleOp::create(loc);
  b.setInsertionPointToEnd(module->getBody());
  if (target == Target::NVIDIA) {
    (*module)->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                       b.getUnitAttr());
    auto gpuModule = gpu::GPUModuleOp::create(b, loc, kKernelModule);
    b.setInsertionPointToStart(gpuModule.getBody());
  }
  return module;
}

OwningOpRef<ModuleOp>
mlir::attn::buildAttentionModule(MLIRContext &context,
                                 const ::attn::host::AttentionSpec &spec,
                                 Target target, Functions functions) {
  bool withGradient = functions != Functions::Forward;
  context.loadDialect<AttnDialect, bufferization::BufferizationDialect,
                      func::FuncDialect, gpu::GPUDialect>();
  OpBuilder b(&context);
  Location loc = b.getUnknownLoc();
  OwningOpRef<ModuleOp> module = newModule(b, target);

  Type elt = spec.dtype == ::attn::host::DType::F32    ? Type(b.getF32Type())
             : spec.dtype == ::attn::host::DType::BF16 ? Type(b.getBF16Type())
                                                       : Type(b.getF16Type());
  int64_t dyn = ShapedType::kDynamic;
  // q, k, v, cu_seqlens, out, lse; the backward adds dout, dq, dk, dv.
  SmallVector<SmallVector<int64_t>> shapes = {
      {dyn, spec.heads, spec.headDim},    {dyn, spec.kvHeads, spec.headDim},
      {dyn, spec.kvHeads, spec.valueDim}, {dyn},
      {dyn, spec.heads, spec.valueDim},   {spec.heads, dyn},
      {dyn, spec.heads, spec.valueDim},   {dyn, spec.heads, spec.headDim},
      {dyn, spec.kvHeads, spec.headDim},  {dyn, spec.kvHeads, spec.valueDim}};
  SmallVector<Type> elts = {
      elt, elt, elt, b.getI32Type(), elt, b.getF32Type(), elt, elt, elt, elt};
  SmallVector<Type> memrefs, tensors;
  for (auto [shape, t] : llvm::zip(shapes, elts)) {
    memrefs.push_back(MemRefType::get(shape, t));
    tensors.push_back(RankedTensorType::get(shape, t));
  }
  MaskAttr mask = MaskAttr::get(&context, spec.mask);
  FloatAttr scale = spec.scale ? b.getF64FloatAttr(*spec.scale) : FloatAttr();

  if (functions != Functions::Backward)
    addFunction(b, target, kAttentionEntry, ArrayRef(memrefs).take_front(6), 4,
                [&](ArrayRef<Value> in) {
                  return AttentionOp::create(
                             b, loc, TypeRange{tensors[4], tensors[5]}, in[0],
                             in[1], in[2], in[3], mask, scale)
                      ->getResults();
                });
  if (withGradient)
    addFunction(
        b, target, kAttentionGradEntry, memrefs, 7, [&](ArrayRef<Value> in) {
          return AttentionGradOp::create(
                     b, loc, TypeRange{tensors[7], tensors[8], tensors[9]},
                     in[0], in[1], in[2], in[4], in[6], in[5], in[3], mask,
                     scale)
              ->getResults();
        });
  return module;
}

OwningOpRef<ModuleOp> mlir::attn::buildSequenceModule(MLIRContext &context,
                                                      Sequence sequence,
                                                      int64_t separator,
                                                      Target target) {
  context.loadDialect<AttnDialect, bufferization::BufferizationDialect,
                      func::FuncDialect, gpu::GPUDialect>();
  OpBuilder b(&context);
  Location loc = b.getUnknownLoc();
  OwningOpRef<ModuleOp> module = newModule(b, target);
  auto vector = [&](Type elt) {
    return MemRefType::get({ShapedType::kDynamic}, elt);
  };
  auto i32 = b.getI32Type(), i64 = b.getI64Type();
  auto tensor = [&](Type elt) {
    return RankedTensorType::get({ShapedType::kDynamic}, elt);
  };
  if (sequence == Sequence::CheckCuSeqlens) {
    auto record = MemRefType::get({1}, i32);
    addFunction(
        b, target, kCheckCuSeqlensEntry,
        {vector(i32), b.getIndexType(), record}, 3,
        [&](ArrayRef<Value> in) {
          return CheckCuSeqlensOp::create(b, loc,
                                          RankedTensorType::get({1}, i32),
                                          in[0], in[2], in[1])
              ->getResults();
        },
        /*inPlace=*/true);
  } else if (sequence == Sequence::DocPositions)
    addFunction(b, target, kDocPositionsEntry, {vector(i32), vector(i32)}, 1,
                [&](ArrayRef<Value> in) {
                  return DocPositionsOp::create(b, loc, tensor(i32), in[0])
                      ->getResults();
                });
  else
    addFunction(b, target, kSegmentsEntry, {vector(i64), vector(i32)}, 1,
                [&](ArrayRef<Value> in) {
                  return SegmentsFromSeparatorsOp::create(
                             b, loc, tensor(i32), in[0],
                             b.getI64IntegerAttr(separator), b.getUnitAttr())
                      ->getResults();
                });
  return module;
}

llvm::Expected<std::string> mlir::attn::getKernelBinary(ModuleOp module) {
  auto binary = module.lookupSymbol<gpu::BinaryOp>(kKernelModule);
  if (!binary || binary.getObjects().empty())
    return llvm::createStringError("no gpu.binary @" +
                                   std::string(kKernelModule) + " in module");
  auto object = cast<gpu::ObjectAttr>(binary.getObjects()[0]);
  return object.getObject().getValue().str();
}
