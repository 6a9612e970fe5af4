"""A functional emulator for the PTX that attn-opt's NVIDIA lowering emits.

It runs a kernel on the CPU, every thread of every block at once (numpy
arrays over threads), so the GPU kernels are executed and checked in CI,
which has no GPU. It implements the subset of PTX those kernels use (the
integer and float arithmetic, predicates and branches, cp.async,
cp.async.bulk.tensor (TMA) through tensor maps passed as by-value kernel
parameters, ldmatrix, mma.sync, wgmma.mma_async with shared-memory matrix
descriptors, shfl, bar.sync, named barriers, mbarriers with transaction
counts, setmaxnreg) from the PTX ISA's
definitions, and refuses anything else with the line it could not run. It
is a checker, not a timing model:

  - Control flow: each thread has its own program counter; the lowest one
    runs next, for every thread that is there (a thread that waits at a
    collective is never passed). bar.sync, ldmatrix, mma.sync, shfl and
    the wgmma instructions check that their whole block / warp /
    warpgroup arrives together. mbarrier.try_wait.parity blocks its
    thread until the phase it names completes; bar.sync ID, COUNT until
    COUNT threads (whole warps) have arrived on barrier ID with it or
    bar.arrive. A thread that waits when none can go on is a deadlock.
  - Memory: global buffers have red zones, shared memory is per block and
    starts filled with 0xFF (NaN); any access outside them, or a shared
    window not sized as the launch said, is an error with the thread and
    the address. The shared window starts at an address that is 16-byte
    but not 1024-byte aligned, so a kernel that relies on more alignment
    than it arranges for computes the wrong thing.
  - Asynchrony, pessimistically and in two ways (`timing`):
      "copies-late": a cp.async lands in shared memory only when a
        cp.async.wait_group retires it; a wgmma reads its operands when it
        is issued. A read that is not ordered after its copy's wait sees
        stale data.
      "mma-late": a cp.async lands at once; a wgmma reads its shared and
        register operands, and writes its accumulators, only when a
        wgmma.wait_group retires it. A copy that overwrites a tile an
        in-flight wgmma still reads, or code that touches the
        accumulators or A registers before the wait, changes the result.
    A kernel correct in both is free of those two classes of races.
    cp.async.mbarrier.arrive.noinc: with "mma-late" the arrival happens at
    once; with "copies-late" it (and the landing of the copies it
    tracks) waits until no thread can run without it, oldest first.
    cp.async.bulk.tensor (TMA) alike: with "mma-late" its boxes land and
    complete their bytes on the mbarriers at once; with "copies-late" the
    boxes of one instruction (every executing thread's) only when no thread
    can run without them.
    TMA stores (cp.async.bulk.tensor from shared to global): with
    "mma-late" the tile is read and the box written at once; with
    "copies-late" only at the cp.async.bulk.wait_group that retires the
    store's group (stores still pending at exit are an error).
    atom.global.add.u32 (a claim): with "mma-late" at once; with
    "copies-late" its threads wait, and it is made (one thread after
    another) only when no thread can run without it, so a reader that does
    not wait for what the atomic's result publishes runs ahead of it.
    atom.global.add.f32 (the backward's dq sums): at once, one thread
    after another, each sum rounded to f32; atom.global.or.b32
    (check_cu_seqlens' error record): at once, one thread after another.
  - Races on shared memory (Launch(racecheck=True), ptx_race.py): every
    access ordered by happens-before from the barriers, mbarrier phases
    and wgmma.wait_group, the lanes of a warp as separate threads and a
    warpgroup's wgmma reads as one more; one that is not ordered after a
    conflicting access is an error naming both.
  - Tensor maps: the kernel gets TensorMap objects for its 128-byte
    parameters (CUtensorMap is opaque; TensorMap holds what
    cuTensorMapEncodeTiled is given and checks what it checks); a TMA
    reads the one whose parameter address (cvta.param) it is given.

The code, by topic (this module re-exports what its users name):

  - ptx_program.py: EmulationError, the register types, parsing (Instr,
    Kernel).
  - ptx_memory.py: the address layout, GlobalMemory, the number
    conversions, TensorMap.
  - ptx_operands.py: operand readers, addresses, shared-memory operands,
    the convergence check.
  - ptx_scalar.py: compile_instr, and the ALU, conversion, load / store,
    atomic, branch and shfl instructions.
  - ptx_async.py: named barriers, cp.async, TMA (bulk) copies, mbarriers.
  - ptx_tensorcore.py: ldmatrix, mma.sync, wgmma, descriptor layouts.
  - ptx_launch.py: Launch (thread state, the scheduler), SCHEDULES.
  - ptx_race.py: RaceCheck (vector clocks, shared-memory shadow).
"""

# The modules import one another as top-level modules: this directory is on
# sys.path wherever ptxemu is imported.
from ptx_launch import SCHEDULES, Launch
from ptx_memory import (GLOBAL_BASE, PARAM_BASE, PARAM_GENERIC, PARAM_STRIDE,
                        RED_ZONE, SHARED_BASE, GlobalMemory, TensorMap,
                        bf16_to_f64, bits32, f16_to_f64, f32, f32_to_bf16,
                        f32_to_f16)
from ptx_operands import address, reader
from ptx_program import (MASK32, SPECIAL_REGISTERS, U32, U64, EmulationError,
                         Instr, Kernel)
from ptx_scalar import compile_instr
# Internals the unit tests check directly (test_layouts.py).
from ptx_tensorcore import _a_fragment, _d_layout, _desc_addresses

__all__ = [
    "SCHEDULES", "Launch",
    "GLOBAL_BASE", "PARAM_BASE", "PARAM_GENERIC", "PARAM_STRIDE", "RED_ZONE",
    "SHARED_BASE", "GlobalMemory", "TensorMap", "bf16_to_f64", "bits32",
    "f16_to_f64", "f32", "f32_to_bf16", "f32_to_f16",
    "address", "reader",
    "MASK32", "SPECIAL_REGISTERS", "U32", "U64", "EmulationError", "Instr",
    "Kernel",
    "compile_instr",
    "_a_fragment", "_d_layout", "_desc_addresses",
]
