//===- AttentionModule.cpp - an attention problem as an MLIR module -------===//

#include "attn/Frontend/AttentionModule.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/Builders.h"

using namespace mlir;
using namespace mlir::attn;

OwningOpRef<ModuleOp>
mlir::attn::buildAttentionModule(MLIRContext &context,
                                 const ::attn::host::AttentionSpec &spec,
                                 Target target, Functions functions) {
  bool withGradient = functions != Functions::Forward;
  context.loadDialect<AttnDialect, bufferization::BufferizationDialect,
                      func::FuncDialect, gpu::GPUDialect>();
  OpBuilder b(&context);
  Location loc = b.getUnknownLoc();
  OwningOpRef<ModuleOp> module = ModuleOp::create(loc);
  b.setInsertionPointToEnd(module->getBody());

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
  SmallVector<Type> elts = {elt, elt, elt, b.getI32Type(), elt,
                            b.getF32Type(), elt, elt, elt, elt};
  SmallVector<Type> memrefs, tensors;
  for (auto [shape, t] : llvm::zip(shapes, elts)) {
    memrefs.push_back(MemRefType::get(shape, t));
    tensors.push_back(RankedTensorType::get(shape, t));
  }
  MaskAttr mask = MaskAttr::get(&context, spec.mask);
  FloatAttr scale = spec.scale ? b.getF64FloatAttr(*spec.scale) : FloatAttr();

  // A function named `name` over the first `numArgs` memrefs; `body` gets
  // its arguments read as tensors (the first `numInputs`) and returns the
  // results to materialize into the arguments after them.
  auto addFunction = [&](StringRef name, unsigned numArgs, unsigned numInputs,
                         function_ref<ValueRange(ArrayRef<Value>)> body) {
    OpBuilder::InsertionGuard g(b);
    FunctionType type =
        b.getFunctionType(ArrayRef<Type>(memrefs).take_front(numArgs), {});
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
    for (unsigned i = 0; i < numInputs; ++i)
      inputs.push_back(bufferization::ToTensorOp::create(
          b, loc, tensors[i], entry->getArgument(i), /*restrict=*/true));
    for (auto [i, result] : llvm::enumerate(body(inputs))) {
      auto mat = bufferization::MaterializeInDestinationOp::create(
          b, loc, result, entry->getArgument(numInputs + i));
      mat.setRestrict(true);
      mat.setWritable(true);
    }
    if (target == Target::CPU)
      func::ReturnOp::create(b, loc);
    else
      gpu::ReturnOp::create(b, loc);
  };

  if (target == Target::NVIDIA) {
    (*module)->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                       b.getUnitAttr());
    auto gpuModule = gpu::GPUModuleOp::create(b, loc, kKernelModule);
    b.setInsertionPointToStart(gpuModule.getBody());
  }
  if (functions != Functions::Backward)
    addFunction(kAttentionEntry, 6, 4, [&](ArrayRef<Value> in) {
      return AttentionOp::create(b, loc, TypeRange{tensors[4], tensors[5]},
                                 in[0], in[1], in[2], in[3], mask, scale)
          ->getResults();
    });
  if (withGradient)
    addFunction(kAttentionGradEntry, 10, 7, [&](ArrayRef<Value> in) {
      return AttentionGradOp::create(
                 b, loc, TypeRange{tensors[7], tensors[8], tensors[9]}, in[0],
                 in[1], in[2], in[4], in[6], in[5], in[3], mask, scale)
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
