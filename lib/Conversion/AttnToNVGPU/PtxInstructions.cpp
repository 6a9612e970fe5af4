//===- PtxInstructions.cpp - the PTX the kernels spell out ----------------===//

#include "PtxInstructions.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"

#include <string>

using namespace mlir;
using namespace mlir::attn::nvidia;

/// A PTX comment after an instruction, naming what it is for (tests find
/// the instruction by it); nothing for an empty note.
static std::string note(StringRef text) {
  return text.empty() ? std::string() : (" // " + text).str();
}

static Type voidType(OpBuilder &b) {
  return LLVM::LLVMVoidType::get(b.getContext());
}

Value ptx::asmWithSideEffects(OpBuilder &b, Location loc, Type result,
                              ValueRange operands, StringRef ptx,
                              StringRef constraints) {
  return LLVM::InlineAsmOp::create(
             b, loc, result, operands, ptx, constraints,
             /*has_side_effects=*/true, /*is_align_stack=*/false,
             LLVM::tailcallkind::TailCallKind::None,
             LLVM::AsmDialectAttr::get(b.getContext(),
                                       LLVM::AsmDialect::AD_ATT),
             /*operand_attrs=*/ArrayAttr())
      .getRes();
}

/// `code` ($0 = f($1)) on an f32, as nvvm.inline_ptx (no side effects).
static Value unaryF32(OpBuilder &b, Location loc, StringRef code, Value x) {
  return NVVM::InlinePtxOp::create(b, loc, TypeRange{b.getF32Type()},
                                   ValueRange{x}, ValueRange{}, code, Value())
      .getResult(0);
}

Value ptx::exp2Approx(OpBuilder &b, Location loc, Value x) {
  return unaryF32(b, loc, "ex2.approx.ftz.f32 $0, $1;", x);
}

Value ptx::log2Approx(OpBuilder &b, Location loc, Value x) {
  return unaryF32(b, loc, "lg2.approx.ftz.f32 $0, $1;", x);
}

Value ptx::threadIdX(OpBuilder &b, Location loc) {
  return asmWithSideEffects(b, loc, b.getI32Type(), {}, "mov.u32 $0, %tid.x;",
                            "=r");
}

Value ptx::blockIdX(OpBuilder &b, Location loc) {
  return asmWithSideEffects(b, loc, b.getI32Type(), {},
                            "mov.u32 $0, %ctaid.x;", "=r");
}

Value ptx::opaqueCopy64(OpBuilder &b, Location loc, Value x) {
  return asmWithSideEffects(b, loc, b.getI64Type(), {x}, "mov.b64 $0, $1;",
                            "=l,l");
}

void ptx::mbarrierInit(OpBuilder &b, Location loc, Value bar, int64_t count) {
  asmWithSideEffects(b, loc, voidType(b), {bar},
                     "mbarrier.init.shared::cta.b64 [$0], " +
                         std::to_string(count) + ";",
                     "r");
}

void ptx::fenceMbarrierInit(OpBuilder &b, Location loc) {
  asmWithSideEffects(b, loc, voidType(b), {},
                     "fence.mbarrier_init.release.cluster;", "");
}

Value ptx::mbarrierTryWaitParity(OpBuilder &b, Location loc, Value bar,
                                 Value parity, StringRef text) {
  return asmWithSideEffects(
      b, loc, b.getI32Type(), {bar, parity},
      "{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [$1], "
      "$2;" +
          note(text) + "\nselp.u32 $0, 1, 0, p;\n}",
      "=r,r,r");
}

void ptx::mbarrierArrive(OpBuilder &b, Location loc, Value bar,
                         StringRef text) {
  asmWithSideEffects(b, loc, voidType(b), {bar},
                     "mbarrier.arrive.shared::cta.b64 _, [$0];" + note(text),
                     "r");
}

void ptx::mbarrierArriveExpectTx(OpBuilder &b, Location loc, Value bar,
                                 int64_t bytes) {
  asmWithSideEffects(b, loc, voidType(b), {bar},
                     "mbarrier.arrive.expect_tx.shared::cta.b64 _, [$0], " +
                         std::to_string(bytes) + ";",
                     "r");
}

void ptx::cpAsyncMbarrierArriveNoinc(OpBuilder &b, Location loc, Value bar) {
  asmWithSideEffects(b, loc, voidType(b), {bar},
                     "cp.async.mbarrier.arrive.noinc.shared::cta.b64 [$0];",
                     "r");
}

void ptx::tmaLoad3d(OpBuilder &b, Location loc, Value dst, Value map,
                    std::array<Value, 3> coords, Value bar) {
  asmWithSideEffects(
      b, loc, voidType(b), {dst, map, coords[0], coords[1], coords[2], bar},
      "cp.async.bulk.tensor.3d.shared::cluster.global.tile.mbarrier::"
      "complete_tx::bytes [$0], [$1, {$2, $3, $4}], [$5];",
      "r,l,r,r,r,r");
}

void ptx::tmaStore3d(OpBuilder &b, Location loc, Value map,
                     std::array<Value, 3> coords, Value src) {
  asmWithSideEffects(b, loc, voidType(b),
                     {map, coords[0], coords[1], coords[2], src},
                     "cp.async.bulk.tensor.3d.global.shared::cta.bulk_group "
                     "[$0, {$1, $2, $3}], [$4];",
                     "l,r,r,r,r");
}

void ptx::bulkCommitGroup(OpBuilder &b, Location loc) {
  asmWithSideEffects(b, loc, voidType(b), {}, "cp.async.bulk.commit_group;",
                     "");
}

void ptx::bulkWaitGroup(OpBuilder &b, Location loc, bool readOnly) {
  asmWithSideEffects(b, loc, voidType(b), {},
                     readOnly ? "cp.async.bulk.wait_group.read 0;"
                              : "cp.async.bulk.wait_group 0;",
                     "");
}

void ptx::storeShared32(OpBuilder &b, Location loc, Value addr, Value value) {
  asmWithSideEffects(b, loc, voidType(b), {addr, value},
                     "st.shared.b32 [$0], $1;", "r,r");
}

Value ptx::loadShared32(OpBuilder &b, Location loc, Value addr) {
  return asmWithSideEffects(b, loc, b.getI32Type(), {addr},
                            "ld.shared.u32 $0, [$1];", "=r,r");
}

Value ptx::atomicIncrementGlobal(OpBuilder &b, Location loc, Value ptr,
                                 StringRef text) {
  return asmWithSideEffects(b, loc, b.getI32Type(), {ptr},
                            "atom.global.add.u32 $0, [$1], 1;" + note(text),
                            "=r,l");
}

void ptx::storeGlobal32(OpBuilder &b, Location loc, Value ptr, Value value,
                        StringRef text) {
  asmWithSideEffects(b, loc, voidType(b), {ptr, value},
                     "st.global.u32 [$0], $1;" + note(text), "l,r");
}

SmallVector<Value> ptx::wgmmaRegisterA(OpBuilder &b, Location loc, int64_t n,
                                       bool bf16, bool transposeB,
                                       ValueRange acc, ValueRange a,
                                       Value bDesc) {
  // Operands: the accumulators ($0..), tied to the inputs $nAcc.., then
  // a0..a3 and the B descriptor; scale-d is always 1 (accumulate), the
  // scales of A and B 1, then B's transpose.
  int64_t nAcc = n / 2;
  assert(int64_t(acc.size()) == nAcc && a.size() == 4 && "one wgmma's fragment");
  std::string accList;
  for (int64_t i = 0; i < nAcc; ++i)
    accList += (i ? ", $" : "$") + std::to_string(i);
  int64_t a0 = 2 * nAcc;
  auto reg = [](int64_t i) { return "$" + std::to_string(i); };
  std::string code = "{\n.reg .pred p;\nsetp.ne.b32 p, 1, 0;\n"
                     "wgmma.mma_async.sync.aligned.m64n" +
                     std::to_string(n) + "k16.f32." +
                     (bf16 ? "bf16.bf16" : "f16.f16") + " {" + accList +
                     "}, {" + reg(a0) + ", " + reg(a0 + 1) + ", " +
                     reg(a0 + 2) + ", " + reg(a0 + 3) + "}, " + reg(a0 + 4) +
                     ", p, 1, 1, " + (transposeB ? "1" : "0") + ";\n}\n";
  std::string constraints;
  for (int64_t i = 0; i < nAcc; ++i)
    constraints += "=f,";
  for (int64_t i = 0; i < nAcc; ++i)
    constraints += std::to_string(i) + ",";
  constraints += "r,r,r,r,l";
  auto structType = LLVM::LLVMStructType::getLiteral(
      b.getContext(), SmallVector<Type>(nAcc, b.getF32Type()));
  SmallVector<Value> ops(acc);
  ops.append(a.begin(), a.end());
  ops.push_back(bDesc);
  Value res = asmWithSideEffects(b, loc, structType, ops, code, constraints);
  SmallVector<Value> out;
  for (int64_t i = 0; i < nAcc; ++i)
    out.push_back(LLVM::ExtractValueOp::create(b, loc, res, i));
  return out;
}
