//===- RegisterPasses.cpp -------------------------------------------------===//

#include "attn/Conversion/AttnToNVGPU/AttnToNVGPU.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"
#include "attn/Pipelines/Pipelines.h"
#include "attn/Registration/Registration.h"

#include "mlir/InitAllPasses.h"

void mlir::attn::registerAttnPasses() {
  registerAllPasses();
  registerAttnTransformsPasses();
  registerAttnToNVGPUPasses();
  registerAttnPipelines();
}
