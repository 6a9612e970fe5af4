//===- Passes.td - attn -> NVIDIA GPU kernels --------------*- tablegen -*-===//

#ifndef ATTN_CONVERSION_ATTNTONVGPU_PASSES_TD
#define ATTN_CONVERSION_ATTNTONVGPU_PASSES_TD

include "mlir/Pass/PassBase.td"

def AttnGPUTileAttention : Pass<"attn-gpu-tile-attention", "::mlir::ModuleOp"> {
  let summary = "Lower attn.attention in a gpu.func kernel to a tiled, "
                "fused tensor-core kernel (NVIDIA, mma.sync or wgmma)";
  let description = [{
    The NVIDIA lowering of the tiled, fused form: one thread block per
    (query tile of 128 rows, head).

    - Longest first: block i (in launch order) takes head i % H of the
      query tile i / H counted from the end of the sequence, so all heads
      of a tile run together and, within each document, later tiles (more
      keys) run before earlier ones.
    - `attn.key_tile_range` gives the key tiles, split into partial, full,
      partial loops as on every target; a ragged last key tile (T not a
      multiple of the tile) is handled by the masked body.
    - Q is copied once to shared memory; K and V tiles are staged through
      shared memory with `cp.async` (`nvgpu.device_async_copy`),
      double-buffered so the next tile's copy overlaps this tile's math.
    - S = QK^T and O += PV run on tensor cores (f16/bf16 inputs, f32
      accumulation); the row max and sum are reduced with warp shuffles; P
      goes from the S accumulators straight into A operands (no
      shared-memory round trip).
    - Each thread's rows get their key interval (`attn.row_interval`)
      once; only partial tiles compare keys against it.
    - Outputs: out and lse (0 and -inf for rows with no allowed key).

    A kernel flavour is a tensor-core instruction (`mma`) and four
    choices (`schedule`, `grid`, `loads`, `stores`; their values are
    declared in KernelSchedule.td and named the same in the launch
    contract). Each may be left `auto`: `mma=auto` is the chip's measured
    default (sm_90a: wgmma, warp-specialized-pingpong, dynamic, tma, tma),
    otherwise an `auto` choice is the simplest. A combination that cannot
    be built is an error naming the rule it breaks.

    Two tensor-core flavours (`mma`):
    - `mma-sync`: four warps of 32 rows (two 16-row tiles, so every K/V
      fragment feeds two MMAs), `ldmatrix` from padded shared memory and
      `nvvm.mma.sync` m16n8k16.
    - `wgmma` (sm_90a): two warpgroups of 64 rows; K/V/Q in 128-byte
      swizzled shared memory read by `nvvm.wgmma.mma_async` through matrix
      descriptors (S = QK^T), and wgmma with P in registers and V
      transposed from shared memory (O += PV).

    `schedule=softmax-overlap` (wgmma only) software-pipelines the key loop: each
    iteration issues S_j = Q K_j^T and O += P_{j-1} V_{j-1} together,
    waits for S_j only, and computes the mask and softmax of tile j while
    the P V product runs; O is rescaled once that product is done. The
    first tile is peeled, the last P V follows the loops, K tiles are
    prefetched one tile ahead and V tiles in the iteration before their
    use, with one block barrier per key tile.

    `schedule=warp-specialized` (wgmma; softmax-overlap and more) adds a
    producer warpgroup:
    it copies Q and the K/V tiles into the two stages and signals each
    stage's "full" mbarrier (cp.async.mbarrier.arrive), and waits on its
    "empty" mbarrier before refilling it; the two compute warpgroups wait
    for the stage they read and release it once the product that reads it
    is done. The key loop has no block barrier; setmaxnreg gives the
    producer 56 registers and the compute warpgroups 224.

    `schedule=warp-specialized-pingpong` also makes the two compute
    warpgroups take turns issuing a key tile's two products: each waits
    on its own named barrier before S_j = Q K_j^T and, once O += P V is
    issued, arrives on the other's, so one warpgroup's softmax runs while
    the other's products occupy the tensor cores.

    `grid=persistent` (with a warp-specialized schedule) launches at most one block per
    SM slot instead of one per (query tile, head): each block takes the
    work items (query tile, head) of the longest-first order in rounds of
    the grid's size, alternating direction (block b takes position b of
    even rounds and position G - 1 - b of odd ones), and keeps its
    mbarrier phases running across items. The producer copies the next
    item's Q (after an "empty" Q mbarrier the compute warps arrive on once
    their last S = Q K^T is done) and first K/V tiles while the compute
    warpgroups finish the current item's last P V and epilogue. The
    runtime sizes the grid (manifest: "grid": "persistent").

    `grid=dynamic` (persistent blocks, with `loads=tma`) hands the items out
    at run time instead: block b starts with item b, and each next item is
    claimed from a tile counter in global memory (`atom.global.add`; one
    more kernel argument, `!llvm.ptr<1>` before any tensor maps, marked
    `attn.tile_counter_arg`). The TMA thread claims the next item once it
    has issued the current one's loads and publishes it in one of two
    shared-memory slots with an mbarrier each; every warp reads it from
    there. The counter must be zero at launch; the block that makes the
    launch's last claim (there is one claim per item run) sets it back to
    zero (manifest: "grid": "dynamic").

    `loads=tma` (with a warp-specialized schedule) loads the tiles with the Tensor Memory
    Accelerator: the kernel gets three more arguments, the tensor maps of
    Q, K and V (`!llvm.ptr`, made 128-byte by-value grid constants by
    attn-nvvm-tensor-map-args after the NVVM conversion; the runtime
    encodes them, manifest: "loads": "tma"), and one producer thread
    issues `cp.async.bulk.tensor` boxes of 64 columns into the swizzled
    stages after `mbarrier.arrive.expect_tx` on the stage's full barrier
    (count 1), which the copies complete by their bytes; rows past T are
    zero-filled by the hardware.

    `stores=tma` (with `loads=tma`) stores O through the Tensor Memory Accelerator
    as well: a fourth tensor-map argument (manifest: "stores": "tma",
    "store_rows"); each compute warpgroup writes its 64 rows of O into a
    shared tile in the 128-byte swizzle, fences them for the async proxy,
    meets at a named barrier, and its first thread issues one
    `cp.async.bulk.tensor` store per 64 columns (rows past T are clipped by
    the hardware); before the tile is rewritten (persistent blocks) and
    before the kernel exits, that thread waits for its stores
    (`cp.async.bulk.wait_group`).

    `attn.attention_grad` becomes the backward kernel, on the tensor core
    `mma` names (auto: wgmma on sm_90a up to head dim 128, mma-sync
    elsewhere; the other options are the forward's): key items, one per
    (key tile, kv head), compute dK and dV; dq is reduced either by f32
    atomics (the default: each key item also adds its dQ = dS K into an f32
    accumulator, a trailing `memref<?xHqxDxf32>` argument zero at launch,
    and a second kernel `@<kernel>_dq`, added after it, writes dq = scale x
    accumulator; manifest: "dq": "atomic", "dq_kernel", "dq_threads") or,
    with `deterministic`, by query items, one per (query tile, head), that
    recompute P and dS in key order (no atomics, the same bits on every
    run; "dq": "query-items").

    The attention must read `bufferization.to_tensor` of kernel arguments
    and its results must be materialized into kernel arguments.
  }];
  let options = [
    Option<"blockK", "block-k", "int64_t", /*default=*/"0",
           "Keys per tile (a multiple of 16; 0: chosen per head dim and "
           "the chip of the gpu.module's #nvvm.target)">,
    Option<"mma", "mma", "std::string", /*default=*/"\"auto\"",
           "Tensor-core instruction: mma-sync (sm_80 and later), wgmma "
           "(sm_90a), or auto: the chip's measured default (on sm_90a for "
           "head dims 64 and 128, wgmma with the choices below left auto "
           "taking warp-specialized-pingpong, dynamic, tma and tma; "
           "otherwise mma-sync; the backward: wgmma on sm_90a up to head "
           "dim 128, otherwise mma-sync)">,
    Option<"schedule", "schedule", "std::string", /*default=*/"\"auto\"",
           "The key loop: plain, softmax-overlap (wgmma), warp-specialized "
           "or warp-specialized-pingpong; auto: mma=auto's choice, or "
           "plain">,
    Option<"grid", "grid", "std::string", /*default=*/"\"auto\"",
           "The launch grid: tiles, persistent or dynamic (both with a "
           "warp-specialized schedule; dynamic with loads=tma); auto: "
           "mma=auto's choice, or tiles">,
    Option<"loads", "loads", "std::string", /*default=*/"\"auto\"",
           "Tile loads: cp.async, or tma (with a warp-specialized "
           "schedule); auto: mma=auto's choice, or cp.async">,
    Option<"stores", "stores", "std::string", /*default=*/"\"auto\"",
           "Stores of O: st.global, or tma (with loads=tma); auto: "
           "mma=auto's choice, or st.global">,

    Option<"deterministic", "deterministic", "bool", /*default=*/"false",
           "attn.attention_grad: dq from query items (the same bits on "
           "every run) instead of f32 atomics">,
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::gpu::GPUDialect",
                           "::mlir::LLVM::LLVMDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::NVVM::NVVMDialect",
                           "::mlir::nvgpu::NVGPUDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::vector::VectorDialect"];
}

def AttnGPUSequenceOps : Pass<"attn-gpu-sequence-ops", "::mlir::ModuleOp"> {
  let summary = "Lower attn.doc_positions, attn.segments_from_separators "
                "and attn.check_cu_seqlens in gpu.func kernels to SIMT "
                "code (NVIDIA)";
  let description = [{
    The sequence helpers as kernels over their memrefs (read with
    `bufferization.to_tensor`, results materialized into kernel arguments),
    each recording its launch contract in `attn.launch` like the attention
    kernels (`sequence`, `grid`, `threads`):

    - `attn.doc_positions`: one thread per token, in blocks of 256 (grid
      `tokens`: ceil(T / 256) blocks, T the size of the result's memref);
      each finds its document by the mask algebra's bisection over
      cu_seqlens, as every target does.
    - `attn.segments_from_separators {padded}`: one block of 1024 threads
      (grid `one`); thread i counts the separators in the i-th run of
      ceil(T / 1024) tokens, an inclusive scan of the counts in shared
      memory gives each run the documents before it, and each run writes
      the ends of its documents; then cu[0] = 0 and T from the entry after
      the last separator's on. Only the padded form: its T + 1 entries are
      known without reading the tokens.
    - `attn.check_cu_seqlens`, with its result materialized into the
      errors' own buffer: one thread per entry of cu_seqlens, in blocks of
      256 (grid `entries`); an entry that breaks a rule of a packing (the
      mask algebra's `cuSeqlensEntryError`) sets the record to 1 by an
      atomic or; a valid packing writes nothing.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::gpu::GPUDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::scf::SCFDialect"];
}

def AttnNVVMTensorMapArgs
    : Pass<"attn-nvvm-tensor-map-args", "::mlir::LLVM::LLVMFuncOp"> {
  let summary = "Make the tensor-map arguments of attn kernels by-value "
                "grid constants";
  let description = [{
    After the NVVM conversion: the trailing `attn.tensor_map_args`
    arguments of an `llvm.func` kernel (`!llvm.ptr`, the tensor maps of a
    kernel with `tma`) become 128-byte, 64-byte-aligned by-value kernel
    parameters marked `nvvm.grid_constant`, so the pointer the kernel
    holds is the parameter's own address (`cvta.param`), as
    `cp.async.bulk.tensor` requires, and not that of a local copy. The
    GPU-to-NVVM conversion does not carry `llvm.byval` from a `gpu.func`,
    and `nvvm.grid_constant` is only valid on an LLVM kernel, hence this
    step. The attribute is removed.
  }];
  let dependentDialects = ["::mlir::NVVM::NVVMDialect"];
}

def AttnRequireCUDAToolkit
    : Pass<"attn-require-cuda-toolkit", "::mlir::ModuleOp"> {
  let summary = "Fail unless the CUDA toolkit's libdevice is there";
  let description = [{
    Placed just before `gpu-module-to-binary`, which links the toolkit's
    libdevice into the kernels for PTX and cubin, from the toolkit the
    NVIDIA pipeline gives it: CUDA_ROOT, CUDA_HOME or CUDA_PATH (MLIR's
    `NVVM::getCUDAToolkitPath()`, else the path MLIR was built with), else
    /usr/local/cuda. When the libdevice is missing that pass reports an
    error but goes on, and writes PTX that calls `__nv_*` functions it
    never defines. This pass looks in the same place and fails with an
    error saying where it looked. Every error in the kernels' own lowering
    comes before it.
  }];
}

#endif // ATTN_CONVERSION_ATTNTONVGPU_PASSES_TD
