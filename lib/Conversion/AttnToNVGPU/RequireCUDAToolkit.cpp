//===- RequireCUDAToolkit.cpp - the toolkit's libdevice, or an error ------===//
//
// gpu-module-to-binary reports a missing libdevice and goes on to write
// PTX calling undefined __nv_* functions; this pass, just before it, fails
// instead (Passes.td).
//===----------------------------------------------------------------------===//

#include "attn/Conversion/AttnToNVGPU/AttnToNVGPU.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Target/LLVM/NVVM/Utils.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNREQUIRECUDATOOLKIT
#include "attn/Conversion/AttnToNVGPU/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;

std::string mlir::attn::cudaToolkitPath() {
  StringRef mlirs = NVVM::getCUDAToolkitPath();
  return mlirs.empty() ? "/usr/local/cuda" : mlirs.str();
}

namespace {
struct AttnRequireCUDAToolkitPass
    : public mlir::attn::impl::AttnRequireCUDAToolkitBase<
          AttnRequireCUDAToolkitPass> {
  void runOnOperation() override {
    std::string toolkit = mlir::attn::cudaToolkitPath();
    SmallString<128> libdevice(toolkit);
    llvm::sys::path::append(libdevice, "nvvm", "libdevice", "libdevice.10.bc");
    if (llvm::sys::fs::exists(libdevice))
      return;
    InFlightDiagnostic error = getOperation().emitError();
    error << "no CUDA toolkit at '" << toolkit << "' (no " << libdevice << ")";
    error << "; set CUDA_ROOT to one (the NVIDIA kernels link its libdevice)";
    signalPassFailure();
  }
};
} // namespace
