//===- KernelSchedule.td - the NVIDIA kernels' schedule enums -*- tablegen -*-===//
//
// The choices that make a kernel flavour, each declared once: the names
// are the values of attn-gpu-tile-attention's options and of the launch
// contract's keys of the same name (kernel manifest).
//===----------------------------------------------------------------------===//

#ifndef ATTN_CONVERSION_ATTNTONVGPU_KERNELSCHEDULE_TD
#define ATTN_CONVERSION_ATTNTONVGPU_KERNELSCHEDULE_TD

include "mlir/IR/EnumAttr.td"

class ScheduleEnum<string name, string summary, list<I32EnumAttrCase> cases>
    : I32EnumAttr<name, summary, cases> {
  let cppNamespace = "::mlir::attn";
  let genSpecializedAttr = 0;
}

def TensorCoreOp : ScheduleEnum<"TensorCoreOp", "tensor-core instruction", [
  I32EnumAttrCase<"MmaSync", 0, "mma-sync">,
  I32EnumAttrCase<"Wgmma", 1, "wgmma">
]>;

def KeyLoop : ScheduleEnum<"KeyLoop", "key loop", [
  I32EnumAttrCase<"Plain", 0, "plain">,
  I32EnumAttrCase<"SoftmaxOverlap", 1, "softmax-overlap">,
  I32EnumAttrCase<"WarpSpecialized", 2, "warp-specialized">,
  I32EnumAttrCase<"PingPong", 3, "warp-specialized-pingpong">
]>;

def GridKind : ScheduleEnum<"GridKind", "launch grid", [
  I32EnumAttrCase<"Tiles", 0, "tiles">,
  I32EnumAttrCase<"Persistent", 1, "persistent">,
  I32EnumAttrCase<"Dynamic", 2, "dynamic">
]>;

def LoadKind : ScheduleEnum<"LoadKind", "tile loads", [
  I32EnumAttrCase<"CpAsync", 0, "cp.async">,
  I32EnumAttrCase<"Tma", 1, "tma">
]>;

def StoreKind : ScheduleEnum<"StoreKind", "output stores", [
  I32EnumAttrCase<"StGlobal", 0, "st.global">,
  I32EnumAttrCase<"Tma", 1, "tma">
]>;

#endif // ATTN_CONVERSION_ATTNTONVGPU_KERNELSCHEDULE_TD
