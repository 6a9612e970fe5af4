//===- attn-opt.cpp - the attn optimizer driver ---------------------------===//

#include "attn/JIT/Version.inc"
#include "attn/Registration/Registration.h"
#include "attn/Support/CommandLine.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  attn::addVersionPrinter(ATTN_OPT_VERSION);
  mlir::attn::registerAttnPasses();
  mlir::DialectRegistry registry;
  mlir::attn::registerAttnDialects(registry);
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "attn optimizer driver\n", registry));
}
