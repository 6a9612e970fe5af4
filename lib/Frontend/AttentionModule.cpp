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
                                 Target target) {
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
  SmallVector<SmallVector<int64_t>> shapes = {
      {dyn, spec.heads, spec.headDim},    {dyn, spec.kvHeads, spec.headDim},
      {dyn, spec.kvHeads, spec.valueDim}, {dyn},
      {dyn, spec.heads, spec.valueDim},   {spec.heads, dyn}};
  SmallVector<Type> elts = {elt, elt, elt, b.getI32Type(), elt, b.getF32Type()};
  SmallVector<Type> memrefs, tensors;
  for (auto [shape, t] : llvm::zip(shapes, elts)) {
    memrefs.push_back(MemRefType::get(shape, t));
    tensors.push_back(RankedTensorType::get(shape, t));
  }
  Block *body;
  if (target == Target::CPU) {
    auto func = func::FuncOp::create(b, loc, kAttentionEntry,
                                     b.getFunctionType(memrefs, {}));
    func->setAttr("llvm.emit_c_interface", b.getUnitAttr());
    body = func.addEntryBlock();
  } else {
    (*module)->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                       b.getUnitAttr());
    auto gpuModule = gpu::GPUModuleOp::create(b, loc, kKernelModule);
    b.setInsertionPointToStart(gpuModule.getBody());
    auto func = gpu::GPUFuncOp::create(b, loc, kAttentionEntry,
                                       b.getFunctionType(memrefs, {}));
    func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
    body = &func.getBody().front();
  }
  b.setInsertionPointToStart(body);

  SmallVector<Value> inputs;
  for (int i = 0; i < 4; ++i)
    inputs.push_back(bufferization::ToTensorOp::create(
        b, loc, tensors[i], body->getArgument(i), /*restrict=*/true));
  auto attention = AttentionOp::create(
      b, loc, TypeRange{tensors[4], tensors[5]}, inputs[0], inputs[1],
      inputs[2], inputs[3], MaskAttr::get(&context, spec.mask),
      spec.scale ? b.getF64FloatAttr(*spec.scale) : FloatAttr());
  for (int i = 0; i < 2; ++i) {
    auto mat = bufferization::MaterializeInDestinationOp::create(
        b, loc, attention->getResult(i), body->getArgument(4 + i));
    mat.setRestrict(true);
    mat.setWritable(true);
  }
  if (target == Target::CPU)
    func::ReturnOp::create(b, loc);
  else
    gpu::ReturnOp::create(b, loc);
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
