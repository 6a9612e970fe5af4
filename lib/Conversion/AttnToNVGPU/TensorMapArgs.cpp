//===- TensorMapArgs.cpp - tensor maps as by-value grid constants ---------===//
//
// A kernel compiled with TMA loads takes the tensor maps of Q, K and V as
// its last arguments. cp.async.bulk.tensor reads a map from the parameter
// space (or global / constant memory) by its generic address, so each map
// is passed by value (CUtensorMap: 128 bytes, 64-byte aligned) and marked
// a grid constant: the kernel's pointer is then the parameter's own
// address (cvta.param), not that of a local copy.
//===----------------------------------------------------------------------===//

#include "attn/Conversion/AttnToNVGPU/AttnToNVGPU.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNNVVMTENSORMAPARGS
#include "attn/Conversion/AttnToNVGPU/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;

namespace {
struct AttnNVVMTensorMapArgsPass
    : public mlir::attn::impl::AttnNVVMTensorMapArgsBase<
          AttnNVVMTensorMapArgsPass> {
  void runOnOperation() override {
    LLVM::LLVMFuncOp func = getOperation();
    Attribute attr = func->getAttr(mlir::attn::kTensorMapArgsAttr);
    if (!attr)
      return;
    auto count = dyn_cast<IntegerAttr>(attr);
    if (!count) {
      func.emitOpError("'") << mlir::attn::kTensorMapArgsAttr
                            << "' must be an integer (how many trailing "
                               "arguments are tensor maps), got "
                            << attr;
      return signalPassFailure();
    }
    func->removeAttr(mlir::attn::kTensorMapArgsAttr);
    int64_t n = count.getInt(), args = func.getNumArguments();
    auto ptr = LLVM::LLVMPointerType::get(&getContext());
    if (!func->hasAttr(NVVM::NVVMDialect::getKernelFuncAttrName()) || n < 0 ||
        n > args ||
        llvm::any_of(func.getArgumentTypes().drop_front(args - n),
                     [&](Type t) { return t != ptr; })) {
      func.emitOpError("'")
          << mlir::attn::kTensorMapArgsAttr << "' = " << n
          << " needs an NVVM kernel with that many trailing !llvm.ptr "
             "arguments";
      return signalPassFailure();
    }
    Builder b(&getContext());
    auto map = LLVM::LLVMArrayType::get(b.getI8Type(), 128);
    for (int64_t i = args - n; i < args; ++i)
      if (Attribute byval =
              func.getArgAttr(i, LLVM::LLVMDialect::getByValAttrName());
          byval && byval != TypeAttr::get(map)) {
        func.emitOpError("argument ") << i << " is already passed by value as "
                                      << byval << ", not as a tensor map";
        return signalPassFailure();
      }
    for (int64_t i = args - n; i < args; ++i) {
      func.setArgAttr(i, LLVM::LLVMDialect::getByValAttrName(),
                      TypeAttr::get(map));
      func.setArgAttr(i, LLVM::LLVMDialect::getAlignAttrName(),
                      b.getI64IntegerAttr(64));
      func.setArgAttr(i, NVVM::NVVMDialect::getGridConstantAttrName(),
                      b.getUnitAttr());
    }
  }
};
} // namespace
