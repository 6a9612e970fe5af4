//===- Wgmma.cpp - the attention kernel on Hopper's wgmma.mma_async -------===//
//
// Warpgroup-level tensor cores (sm_90a). Two warpgroups of four warps; the
// warpgroup w owns query rows 64w .. 64w + 63 of the 128-row tile and warp
// i of the block owns rows 16i .. 16i + 15, one 16-row slice per warp
// (cfg.mTiles == 1), so S and P have the per-warp layout every flavour
// shares (KernelEmitter.h).
//
//  - S = Q K^T: wgmma m64nBKk16, A = Q and B = K both read from shared
//    memory through matrix descriptors (both K-major).
//  - O += P V: wgmma m64nNk16, N = Dv in whole 64-column blocks
//    (GPUKernelConfig::outputColumns), with A = P from registers (the S
//    accumulators converted in place, as on mma.sync) and B = V from shared
//    memory, MN-major (V rows are keys, contiguous along Dv): the
//    transposed-B form.
//
// Shared memory layout (the canonical 128-byte-swizzle layouts of the PTX
// matrix descriptors): a tile of R rows and D columns is stored as
// ceil(D / 64) column blocks of R rows x 128 bytes (rowElements; past D the
// last block holds what was there);
// in each row, the 16-byte unit u sits at position u ^ (row % 8). Every
// column block starts on a 1024-byte boundary, so eight rows form one
// swizzle atom. cp.async (16 bytes) writes the units, and a proxy fence
// makes them visible to the tensor cores before the block barrier; or
// (TMA) one box of 64 columns per column block writes them in this very
// swizzle, through the async proxy the tensor cores read.
//
// Descriptors (PTX ISA, "Matrix Descriptor Format"): start address >> 4 in
// bits 0-13, leading-dimension byte offset >> 4 in bits 16-29, stride-
// dimension byte offset >> 4 in bits 32-45, swizzle mode in bits 62-63
// (1: 128-byte). K-major operands: stride offset 1024 (eight rows), the
// leading offset unused; each 16-element k step advances the start by
// 32 bytes inside the swizzle atom, each 64-element block by one column
// block. MN-major operands (the forward's V; the backward's dO, Q and K as
// B, and dS^T as the A of dQ = dS K, the transposed-A form): leading
// offset = one column block (the M or N direction), stride offset 1024
// (eight rows of k); each 16-element k step advances 16 rows.
//===----------------------------------------------------------------------===//

#include "WgmmaEmitter.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::nvidia;

/// Bytes of one row of a swizzle atom, and of the atom (eight rows).
static constexpr int64_t kRowBytes = 128,
                         kAtomBytes = GPUKernelConfig::kSwizzleAtomBytes;

void WgmmaEmitter::viewTiles() {
  // 16-byte units, swizzled within each tile (swizzledUnit), and the
  // tile's address for the descriptors.
  int64_t unitElts = 16 / eltBytes();
  for (int t = 0; t < kTileKinds; ++t) {
    const SharedRegion &r = tiles[t].region;
    if (!r.allocated())
      continue;
    addresses[t] = sharedAddress(r.offset);
    views[t] = sharedView(r.offset, {r.bytes / 16, unitElts});
  }
  if (cfg.tmaStore())
    oAddr = sharedAddress(shared.o.offset);
}

Value WgmmaEmitter::swizzledUnit(Value r, Value u, int64_t rows) {
  Value block = divu(u, 8), inRow = remu(u, 8);
  Value swz = arith::XOrIOp::create(b, loc, inRow, remu(r, 8));
  return add(mul(block, idx(rows * 8)), add(mul(r, idx(8)), swz));
}

std::pair<Value, SmallVector<Value>>
WgmmaEmitter::unitDest(Tile tile, Value stage, Value r, Value u) {
  const TileRegion &t = tileRegion(tile);
  Value stageUnit0 = t.region.stages == 1
                         ? Value()
                         : mul(stage, idx(t.region.stageBytes() / 16));
  Value unit = swizzledUnit(r, u, t.rows);
  if (stageUnit0)
    unit = add(stageUnit0, unit);
  return {views[int(tile)], {unit, idx(0)}};
}

std::pair<Value, SmallVector<Value>>
WgmmaEmitter::elementAt(Tile tile, Value stage, Value r, Value c) {
  auto [memref, indices] = unitDest(tile, stage, r, divu(c, 8));
  indices.back() = remu(c, 8);
  return {memref, indices};
}

Value WgmmaEmitter::tileAddress(Tile tile, Value stage) {
  const SharedRegion &r = tileRegion(tile).region;
  if (r.stages == 1)
    return addresses[int(tile)];
  return add(addresses[int(tile)], toI64(mul(stage, idx(r.stageBytes()))));
}

Value WgmmaEmitter::outputUnitAddress(Value r, Value u) {
  Value unit = swizzledUnit(r, u, cfg.blockQ());
  return arith::TruncIOp::create(b, loc, b.getI32Type(),
                                 add(oAddr, toI64(mul(unit, idx(16)))));
}

void WgmmaEmitter::fenceCopies() {
  NVVM::FenceProxyOp::create(
      b, loc, NVVM::ProxyKind::async_shared,
      NVVM::SharedSpaceAttr::get(b.getContext(),
                                 NVVM::SharedSpace::shared_cta));
}

Value WgmmaEmitter::descriptor(Value addr, int64_t leadingBytes,
                               int64_t strideBytes) {
  Value start = arith::ShRUIOp::create(
      b, loc, arith::AndIOp::create(b, loc, addr, i64Const(0x3FFFF)),
      i64Const(4));
  int64_t fields = ((leadingBytes >> 4) << 16) | ((strideBytes >> 4) << 32) |
                   (int64_t(1) << 62);
  return arith::OrIOp::create(b, loc, start, i64Const(fields));
}

Value WgmmaEmitter::advance(Value desc, int64_t bytes) {
  if (bytes == 0)
    return desc;
  return arith::AddIOp::create(b, loc, desc, i64Const(bytes >> 4));
}

void WgmmaEmitter::waitMma(int64_t pending) {
  NVVM::WgmmaWaitGroupSyncOp::create(b, loc, pending);
}

Value WgmmaEmitter::operandDescriptor(const Operand &op, bool isA) {
  Value addr = tileAddress(op.tile, op.stage);
  if (scarceRegisters)
    addr = ptx::opaqueCopy64(b, loc, addr);
  if (!op.kMajor) {
    // k rows; the next 64 columns one column block on. An MN-major operand
    // from column `firstColumn` (a multiple of 64) starts that many blocks
    // on; an MN-major A, at its tile's first column (one warpgroup's M).
    int64_t blockBytes = operandRows(op) * kRowBytes;
    if (op.firstColumn)
      addr = add(addr, toI64(mul(divu(op.firstColumn, 64), idx(blockBytes))));
    return descriptor(addr, /*leading=*/blockBytes, kAtomBytes);
  }
  // A K-major A of more rows than a warpgroup's starts at its own 64.
  if (isA && operandRows(op) > 64)
    addr = add(addr, toI64(mul(divu(warp, 4), idx(64 * kRowBytes))));
  return descriptor(addr, /*leading=*/16, kAtomBytes);
}

int64_t WgmmaEmitter::stepBytes(const Operand &op, int64_t kk) {
  if (!op.kMajor) // 16 rows of k
    return kk * 16 * kRowBytes;
  // Each 64-element block of k is a column block, each 16-element step 32
  // bytes into it.
  int64_t kStepsPerBlock = 64 / 16;
  int64_t block = kk / kStepsPerBlock, step = kk % kStepsPerBlock;
  return block * operandRows(op) * kRowBytes + step * 16 * eltBytes();
}

KernelEmitter::PendingGemm WgmmaEmitter::issueGemm(const Operand &a,
                                                  const Operand &bOp, int64_t n,
                                                  int64_t k,
                                                  const AccTiles *acc) {
  assert(!bOp.inRegisters() && "B comes from shared memory");
  assert(!a.firstColumn && (!bOp.firstColumn || !bOp.kMajor) &&
         "a first column is an MN-major B's");
  // Every register a wgmma reads is written before the fence (else ptxas
  // injects a fence before each wgmma): operands first.
  SmallVector<SmallVector<Value>> aRegs;
  SmallVector<Value> aDescs, bDescs;
  Value aDesc = a.inRegisters() ? Value() : operandDescriptor(a, true);
  Value bDesc = operandDescriptor(bOp, false);
  for (int64_t kk = 0; kk < k / 16; ++kk) {
    if (a.inRegisters()) {
      SmallVector<Value> &regs = aRegs.emplace_back();
      for (Value r : a.fragments(0, kk))
        regs.push_back(asI32(r));
    } else {
      aDescs.push_back(advance(aDesc, stepBytes(a, kk)));
    }
    bDescs.push_back(advance(bDesc, stepBytes(bOp, kk)));
  }
  SmallVector<Value> out =
      acc ? flatten(*acc) : SmallVector<Value>(n / 2, f32Const(0.0));
  if (a.inRegisters()) {
    NVVM::WgmmaFenceAlignedOp::create(b, loc);
    for (int64_t kk = 0; kk < k / 16; ++kk)
      out = ptx::wgmmaRegisterA(b, loc, n, elt.isBF16(), !bOp.kMajor, out,
                                aRegs[kk], bDescs[kk]);
    NVVM::WgmmaGroupSyncAlignedOp::create(b, loc);
  } else {
    auto wgmmaType =
        elt.isBF16() ? NVVM::WGMMATypes::bf16 : NVVM::WGMMATypes::f16;
    auto structType = accType(n);
    Value c = LLVM::PoisonOp::create(b, loc, structType);
    if (acc)
      for (auto [i, v] : llvm::enumerate(out))
        c = LLVM::InsertValueOp::create(b, loc, c, v, int64_t(i));
    auto layout = [&](NVVM::MMALayout l) {
      return NVVM::MMALayoutAttr::get(b.getContext(), l);
    };
    NVVM::WgmmaFenceAlignedOp::create(b, loc);
    for (int64_t kk = 0; kk < k / 16; ++kk) {
      bool fromZero = !acc && kk == 0;
      c = NVVM::WgmmaMmaAsyncOp::create(
          b, loc, structType, c, aDescs[kk], bDescs[kk],
          NVVM::MMAShapeAttr::get(b.getContext(), 64, n, 16),
          NVVM::WGMMATypesAttr::get(b.getContext(), wgmmaType),
          NVVM::WGMMATypesAttr::get(b.getContext(), wgmmaType),
          NVVM::WGMMATypesAttr::get(b.getContext(), NVVM::WGMMATypes::f32),
          NVVM::WGMMAScaleOutAttr::get(b.getContext(),
                                       fromZero ? NVVM::WGMMAScaleOut::zero
                                                : NVVM::WGMMAScaleOut::one),
          NVVM::WGMMAScaleInAttr::get(b.getContext(), NVVM::WGMMAScaleIn::one),
          NVVM::WGMMAScaleInAttr::get(b.getContext(), NVVM::WGMMAScaleIn::one),
          layout(a.kMajor ? NVVM::MMALayout::row : NVVM::MMALayout::col),
          layout(bOp.kMajor ? NVVM::MMALayout::col : NVVM::MMALayout::row),
          /*satfinite=*/nullptr);
    }
    NVVM::WgmmaGroupSyncAlignedOp::create(b, loc);
    return {c, {}, n};
  }
  return {Value(), out, n};
}

std::unique_ptr<KernelEmitter> mlir::attn::nvidia::createWgmmaEmitter(
    OpBuilder &b, Location loc, AttentionOp op, const GPUKernelConfig &cfg) {
  return std::make_unique<WgmmaEmitter>(b, loc, op, cfg);
}
