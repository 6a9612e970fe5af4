//===- SequenceKernels.cpp - the sequence helpers as NVIDIA kernels -------===//
//
// attn.doc_positions, attn.segments_from_separators and
// attn.check_cu_seqlens in gpu.func kernels become SIMT code over the
// kernel's memrefs, with the mask algebra's docPosition for the first (the
// same bisection over cu_seqlens as every target), a block-wide prefix
// count for the second and cuSeqlensEntryError for the third. Each records its
// launch contract ("sequence", "grid", "threads") on the module, as the
// attention kernels do.
//===----------------------------------------------------------------------===//

#include "KernelFunction.h"
#include "attn/Conversion/AttnToNVGPU/AttnToNVGPU.h"
#include "attn/Dialect/Attn/Transforms/MaskIR.h"
#include "attn/Support/EntryNames.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNGPUSEQUENCEOPS
#include "attn/Conversion/AttnToNVGPU/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::nvidia;
using ::attn::kCheckCuSeqlensEntry;
using ::attn::kDocPositionsEntry;
using ::attn::kSegmentsEntry;

namespace {

/// Threads per block: doc_positions' blocks of one token per thread (and
/// check_cu_seqlens' of one entry per thread), and
/// segments_from_separators' single block (a power of two, for its scan).
constexpr int64_t kPositionsThreads = 256;
constexpr int64_t kSegmentsThreads = 1024;

/// The launch contract of a sequence kernel: blocks of `threads`, one per
/// `threads` tokens (grid "tokens") or input entries ("entries"), or one
/// (grid "one"); segments_from_separators' also names its separator.
void recordSequenceContract(gpu::GPUFuncOp func, Operation *op,
                            StringRef sequence, StringRef grid,
                            int64_t threads) {
  Builder b(op->getContext());
  NamedAttrList fields;
  fields.append("kernel", b.getStringAttr(func.getName()));
  fields.append("sequence", b.getStringAttr(sequence));
  // (The token id the kernel ends documents at, which its code holds.)
  if (auto segments = dyn_cast<SegmentsFromSeparatorsOp>(op))
    fields.append("separator", segments.getSeparatorAttr());
  fields.append("arch", b.getStringAttr(targetChip(op)));
  fields.append("grid", b.getStringAttr(grid));
  fields.append("threads", b.getI64IntegerAttr(threads));
  fields.append("shared_bytes", b.getI64IntegerAttr(0));
  addLaunchContract(func, fields);
}

/// doc_positions: token t = block * threads + thread writes
/// positions[t] = t - c[d] for its document d (found by bisection over
/// cu_seqlens); T is the size of positions.
LogicalResult lowerDocPositions(RewriterBase &rewriter, DocPositionsOp op) {
  FailureOr<gpu::GPUFuncOp> func = kernelFunction(op);
  SmallVector<Value> in, out;
  if (failed(func) || failed(kernelBuffers(op, in, out)))
    return failure();
  Value cu = in[0], positions = out[0];
  Type elt = cast<MemRefType>(positions.getType()).getElementType();
  rewriter.setInsertionPoint(op);
  Location loc = op.getLoc();
  Value tokens = memref::DimOp::create(rewriter, loc, positions, 0);
  forEachThreadElement(rewriter, loc, kPositionsThreads, tokens,
                       [&](OpBuilder &b, Location l, Value token) {
                         MaskIRCtx ctx(b, l, cu, tokens);
                         Value pos = ::attn::mask::docPosition(ctx, token);
                         memref::StoreOp::create(b, l,
                                                 IndexMath{b, l}.to(elt, pos),
                                                 positions, ValueRange{token});
                       });
  recordSequenceContract(*func, op, kDocPositionsEntry, "tokens",
                         kPositionsThreads);
  finishKernel(rewriter, op, *func, kPositionsThreads);
  return success();
}

/// segments_from_separators {padded}, one block: thread i takes the i-th
/// run of ceil(T / threads) tokens, counts its separators, a block-wide
/// inclusive scan of the counts (Hillis-Steele, in shared memory) gives
/// each run the documents before it, and the run writes the end of each of
/// its documents; then cu[0] = 0 and cu[N+1 .. T] = T.
LogicalResult lowerSegments(RewriterBase &rewriter,
                            SegmentsFromSeparatorsOp op) {
  FailureOr<gpu::GPUFuncOp> func = kernelFunction(op);
  if (failed(func))
    return failure();
  if (!op.getPadded())
    return op.emitOpError("the NVIDIA lowering computes the padded form "
                          "only (T + 1 entries, known without reading the "
                          "tokens)");
  SmallVector<Value> in, out;
  if (failed(kernelBuffers(op, in, out)))
    return failure();
  Value tokens = in[0], cu = out[0];
  Type tokenElt = cast<MemRefType>(tokens.getType()).getElementType();
  Type cuElt = cast<MemRefType>(cu.getType()).getElementType();
  rewriter.setInsertionPoint(op);
  Location loc = op.getLoc();
  OpBuilder &b = rewriter;
  IndexMath m{b, loc};
  using P = arith::CmpIPredicate;

  auto i32 = b.getI32Type();
  auto workgroup = gpu::AddressSpaceAttr::get(
      b.getContext(), gpu::GPUDialect::getWorkgroupAddressSpace());
  Value counts = func->addWorkgroupAttribution(
      MemRefType::get({kSegmentsThreads}, i32, MemRefLayoutAttrInterface(),
                      workgroup),
      loc);
  Value sep = arith::ConstantOp::create(
      b, loc, b.getIntegerAttr(tokenElt, op.getSeparator()));
  Value thread = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
  Value numTokens = memref::DimOp::create(b, loc, tokens, 0);
  Value run =
      arith::CeilDivUIOp::create(b, loc, numTokens, m.c(kSegmentsThreads));
  Value lo = m.min(m.mul(thread, run), numTokens);
  Value hi = m.min(m.add(lo, run), numTokens);
  auto isSeparator = [&](OpBuilder &nb, Location l, Value i) -> Value {
    Value token = memref::LoadOp::create(nb, l, tokens, ValueRange{i});
    return arith::CmpIOp::create(nb, l, P::eq, token, sep);
  };

  // The run's separators.
  Value count =
      scf::ForOp::create(
          b, loc, lo, hi, m.c(1), ValueRange{m.c(0)},
          [&](OpBuilder &nb, Location l, Value i, ValueRange acc) {
            IndexMath n{nb, l};
            scf::YieldOp::create(
                nb, l,
                ValueRange{n.add(
                    acc[0], n.select(isSeparator(nb, l, i), n.c(1), n.c(0)))});
          })
          .getResult(0);
  // counts[i] = separators in runs 0..i.
  memref::StoreOp::create(b, loc, m.to(i32, count), counts, ValueRange{thread});
  gpu::BarrierOp::create(b, loc);
  for (int64_t offset = 1; offset < kSegmentsThreads; offset *= 2) {
    Value mine = memref::LoadOp::create(b, loc, counts, ValueRange{thread});
    Value has = m.cmp(P::uge, thread, m.c(offset));
    Value from = m.select(has, m.sub(thread, m.c(offset)), thread);
    Value other = memref::LoadOp::create(b, loc, counts, ValueRange{from});
    Value zero = arith::ConstantIntOp::create(b, loc, i32, 0);
    Value sum = arith::AddIOp::create(
        b, loc, mine, arith::SelectOp::create(b, loc, has, other, zero));
    gpu::BarrierOp::create(b, loc);
    memref::StoreOp::create(b, loc, sum, counts, ValueRange{thread});
    gpu::BarrierOp::create(b, loc);
  }
  Value through =
      m.index(memref::LoadOp::create(b, loc, counts, ValueRange{thread}));
  Value separators = m.index(memref::LoadOp::create(
      b, loc, counts, ValueRange{m.c(kSegmentsThreads - 1)}));

  // Document ends: cu[d + 1] = i + 1 for the d-th separator, at i.
  scf::ForOp::create(b, loc, lo, hi, m.c(1), ValueRange{m.sub(through, count)},
                     [&](OpBuilder &nb, Location l, Value i, ValueRange acc) {
                       auto ifSep = scf::IfOp::create(
                           nb, l, isSeparator(nb, l, i),
                           [&](OpBuilder &tb, Location tl) {
                             IndexMath t{tb, tl};
                             Value next = t.add(acc[0], t.c(1));
                             memref::StoreOp::create(
                                 tb, tl, t.to(cuElt, t.add(i, t.c(1))), cu,
                                 ValueRange{next});
                             scf::YieldOp::create(tb, tl, ValueRange{next});
                           },
                           [&](OpBuilder &eb, Location el) {
                             scf::YieldOp::create(eb, el, acc);
                           });
                       scf::YieldOp::create(nb, l, ifSep.getResults());
                     });
  // cu[0] = 0; cu[N + 1 .. T] = T (the trailing document's end, then the
  // padding; N + 1 = separators + 1 > T when the last token ends one).
  scf::IfOp::create(b, loc, m.cmp(P::eq, thread, m.c(0)),
                    [&](OpBuilder &nb, Location l) {
                      IndexMath n{nb, l};
                      memref::StoreOp::create(nb, l, n.to(cuElt, n.c(0)), cu,
                                              ValueRange{n.c(0)});
                      scf::YieldOp::create(nb, l);
                    });
  Value end = m.to(cuElt, numTokens);
  scf::ForOp::create(b, loc, m.add(m.add(separators, m.c(1)), thread),
                     m.add(numTokens, m.c(1)), m.c(kSegmentsThreads),
                     ValueRange{},
                     [&](OpBuilder &nb, Location l, Value j, ValueRange) {
                       memref::StoreOp::create(nb, l, end, cu, ValueRange{j});
                       scf::YieldOp::create(nb, l);
                     });
  recordSequenceContract(*func, op, kSegmentsEntry, "one",
                         kSegmentsThreads);
  finishKernel(rewriter, op, *func, kSegmentsThreads);
  return success();
}

/// check_cu_seqlens, in place: entry i = block * threads + thread ors 1
/// into errors[0] (atomically) if it breaks a rule (the mask algebra's
/// cuSeqlensEntryError); nothing is stored for a valid packing.
LogicalResult lowerCheckCuSeqlens(RewriterBase &rewriter, CheckCuSeqlensOp op) {
  FailureOr<gpu::GPUFuncOp> func = kernelFunction(op);
  SmallVector<Value> in, out;
  if (failed(func) || failed(kernelBuffers(op, in, out)))
    return failure();
  Value cu = in[0], errors = in[1], tokens = in[2];
  if (out[0] != errors)
    return op.emitOpError("the NVIDIA lowering updates the error record in "
                          "place (the result materialized into the errors' "
                          "buffer)");
  rewriter.setInsertionPoint(op);
  Location loc = op.getLoc();
  Value entries = memref::DimOp::create(rewriter, loc, cu, 0);
  forEachThreadElement(
      rewriter, loc, kPositionsThreads, entries,
      [&](OpBuilder &b, Location l, Value i) {
        MaskIRCtx ctx(b, l, cu, tokens);
        Value error = ::attn::mask::cuSeqlensEntryError(ctx, i, tokens);
        Value broken = arith::CmpIOp::create(b, l, arith::CmpIPredicate::ne,
                                             error, ctx.constant(0));
        // (Atomic: several threads may find an error at once.)
        scf::IfOp::create(b, l, broken, [&](OpBuilder &tb, Location tl) {
          Value one = arith::ConstantIntOp::create(tb, tl, tb.getI32Type(), 1);
          memref::AtomicRMWOp::create(
              tb, tl, arith::AtomicRMWKind::ori, one, errors,
              ValueRange{arith::ConstantIndexOp::create(tb, tl, 0)});
          scf::YieldOp::create(tb, tl);
        });
      });
  recordSequenceContract(*func, op, kCheckCuSeqlensEntry, "entries",
                         kPositionsThreads);
  finishKernel(rewriter, op, *func, kPositionsThreads);
  return success();
}

struct AttnGPUSequenceOpsPass
    : public mlir::attn::impl::AttnGPUSequenceOpsBase<AttnGPUSequenceOpsPass> {
  void runOnOperation() override {
    SmallVector<Operation *> found;
    getOperation().walk([&](Operation *op) {
      if (isa<DocPositionsOp, SegmentsFromSeparatorsOp, CheckCuSeqlensOp>(op))
        found.push_back(op);
    });
    IRRewriter rewriter(&getContext());
    for (Operation *op : found) {
      LogicalResult r = success();
      if (auto positions = dyn_cast<DocPositionsOp>(op))
        r = lowerDocPositions(rewriter, positions);
      else if (auto segments = dyn_cast<SegmentsFromSeparatorsOp>(op))
        r = lowerSegments(rewriter, segments);
      else
        r = lowerCheckCuSeqlens(rewriter, cast<CheckCuSeqlensOp>(op));
      if (failed(r))
        return signalPassFailure();
    }
  }
};

} // namespace
