//===- KernelFunction.cpp - an attn op's gpu.func as a kernel -------------===//

#include "KernelFunction.h"
#include "attn/Conversion/AttnToNVGPU/AttnToNVGPU.h"
#include "attn/Dialect/Attn/Transforms/Transforms.h"

#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace mlir::attn;

StringRef nvidia::targetChip(Operation *op) {
  auto module = op->getParentOfType<gpu::GPUModuleOp>();
  if (module && module.getTargetsAttr())
    for (Attribute t : module.getTargetsAttr())
      if (auto nvvm = dyn_cast<NVVM::NVVMTargetAttr>(t))
        return nvvm.getChip();
  return "sm_90a";
}

FailureOr<gpu::GPUFuncOp> nvidia::kernelFunction(Operation *op) {
  auto func = op->getParentOfType<gpu::GPUFuncOp>();
  if (!func || !func.isKernel())
    return op->emitOpError("the NVIDIA lowering needs the op in a gpu.func "
                           "kernel");
  return func;
}

LogicalResult nvidia::kernelBuffers(Operation *op,
                                    SmallVectorImpl<Value> &inputs,
                                    SmallVectorImpl<Value> &outputs) {
  for (Value t : op->getOperands()) {
    // (A scalar operand is read as it is: a kernel argument.)
    if (!isa<TensorType>(t.getType())) {
      inputs.push_back(t);
      continue;
    }
    inputs.push_back(getSourceBuffer(t));
    if (!inputs.back())
      return op->emitOpError("the NVIDIA lowering needs inputs read with "
                             "bufferization.to_tensor from memrefs");
  }
  for (Value r : op->getResults()) {
    outputs.push_back(getMaterializedDestination(op, r));
    if (!outputs.back())
      return op->emitOpError("the NVIDIA lowering needs every result "
                             "materialized into kernel arguments");
  }
  // The runtime passes each tensor as a kernel argument, dense, in global
  // memory (and TMA's maps assume that): a view of one, a strided layout
  // or another memory space would be read wrongly.
  auto func = op->getParentOfType<gpu::GPUFuncOp>();
  for (Value buffer : llvm::concat<Value>(inputs, outputs)) {
    auto type = dyn_cast<MemRefType>(buffer.getType());
    if (!type)
      continue;
    auto arg = dyn_cast<BlockArgument>(buffer);
    if (!arg || !func || arg.getOwner() != &func.getBody().front())
      return op->emitOpError("the NVIDIA lowering needs the kernel's "
                             "arguments themselves, not views of them");
    if (!type.getLayout().isIdentity() || type.getMemorySpace())
      return op->emitOpError("the NVIDIA lowering needs memrefs of the "
                             "identity layout in global memory (dense, as "
                             "the runtime passes them), got ")
             << type;
  }
  return success();
}

void nvidia::addLaunchContract(gpu::GPUFuncOp func,
                               const NamedAttrList &fields) {
  auto gpuModule = func->getParentOfType<gpu::GPUModuleOp>();
  Operation *top = gpuModule ? gpuModule->getParentOp() : nullptr;
  if (!top)
    return;
  MLIRContext *context = func.getContext();
  NamedAttrList all(top->getAttrOfType<DictionaryAttr>(kLaunchContractsAttr));
  all.set(launchContractName(gpuModule.getName(), func.getName()),
          fields.getDictionary(context));
  top->setAttr(kLaunchContractsAttr, all.getDictionary(context));
}

gpu::GPUFuncOp nvidia::createKernel(RewriterBase &rewriter,
                                    gpu::GPUFuncOp before, StringRef name,
                                    TypeRange types) {
  OpBuilder::InsertionGuard g(rewriter);
  rewriter.setInsertionPointAfter(before);
  auto func = gpu::GPUFuncOp::create(rewriter, before.getLoc(), name,
                                     rewriter.getFunctionType(types, {}));
  func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(),
                rewriter.getUnitAttr());
  SymbolTable(before->getParentOp()).insert(func);
  return func;
}

void nvidia::forEachThreadElement(
    OpBuilder &b, Location loc, int64_t threads, Value count,
    function_ref<void(OpBuilder &, Location, Value)> body) {
  IndexMath m{b, loc};
  Value thread = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
  Value block = gpu::BlockIdOp::create(b, loc, gpu::Dimension::x);
  Value i = m.add(m.mul(block, m.c(threads)), thread);
  scf::IfOp::create(b, loc, m.cmp(arith::CmpIPredicate::ult, i, count),
                    [&](OpBuilder &nb, Location l) {
                      body(nb, l, i);
                      scf::YieldOp::create(nb, l);
                    });
}

void nvidia::finishKernel(RewriterBase &rewriter, Operation *op,
                          gpu::GPUFuncOp func, int64_t threads) {
  for (Value r : op->getResults())
    rewriter.eraseOp(*r.user_begin());
  rewriter.eraseOp(op);
  func.setKnownBlockSizeAttr(
      rewriter.getDenseI32ArrayAttr({int32_t(threads), 1, 1}));
}
