#!/usr/bin/env python3
"""Checks the emulator's race check on shared memory (Launch(racecheck=
True), ptx_race.py) on small hand-written kernels of two warps: accesses
ordered by bar.sync 0, a named barrier, an mbarrier's phase or a
bar.warp.sync before one lane's arrival pass under every warp order; the
same without that order are reported, naming both sides: a read after an
unordered write, a write after an unordered write, and the reuse of a
buffer that a warp's other lanes read when only lane 0's arrival
released it.

Prints one line per check; exit status 1 on the first failure.
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ptxemu  # noqa: E402
from checks import expect, expect_error  # noqa: E402

# Two warps; %r2 the lane, %p1 warp 0; %r4 the lane's shared word, %r7 an
# mbarrier (count 1) after the 64 words, set up before the first barrier.
HEADER = """.version 8.0
.target sm_90a
.address_size 64
.visible .entry t(.param .u64 t_param_0)
{
  .reg .pred %p<4>;
  .reg .b32 %r<12>;
  .reg .b64 %rd<12>;
  .shared .align 16 .b8 smem;
  mov.u32 %r1, %tid.x;
  and.b32 %r2, %r1, 31;
  setp.lt.u32 %p1, %r1, 32;
  mov.u64 %rd5, smem;
  cvt.u32.u64 %r3, %rd5;
  mad.lo.u32 %r4, %r2, 4, %r3;
  add.u32 %r7, %r3, 256;
  setp.eq.u32 %p3, %r1, 0;
  @!%p3 bra INIT;
  mbarrier.init.shared::cta.b64 [%r7], 1;
INIT:
  bar.sync 0;
"""

WRITE = "  st.shared.u32 [%r4], %r1;\n"
READ = "  ld.shared.u32 %r5, [%r4];\n"
WAIT = ("WAIT:\n  mbarrier.try_wait.parity.shared::cta.b64 %p2, [%r7], 0;\n"
        "  @!%p2 bra WAIT;\n")
LANE0_ARRIVES = ("  setp.eq.u32 %p3, %r2, 0;\n  @!%p3 bra A;\n"
                 "  mbarrier.arrive.shared::cta.b64 _, [%r7];\nA:\n")


def kernel(warp0, warp1):
    return (HEADER + "  @%p1 bra W0;\n" + warp1 + "  ret;\nW0:\n" + warp0
            + "  ret;\n}\n")


def run(text, schedule="lockstep", timing="copies-late"):
    ptxemu.Launch(ptxemu.Kernel(text), (2, 1, 1), (64, 1, 1), 512, [0],
                  ptxemu.GlobalMemory(), timing=timing, schedule=schedule,
                  racecheck=True).run()


# bar.sync 0 is one instruction for the whole block (the emulator's
# scheduler meets it at one address): warp 0 writes before it, warp 1
# reads after it.
BLOCK_BARRIER = (HEADER + "  @!%p1 bra B;\n" + WRITE + "B:\n  bar.sync 0;\n"
                 + "  @%p1 bra E;\n" + READ + "E:\n  ret;\n}\n")
ORDERED = {
    "bar.sync 0": BLOCK_BARRIER,
    "a named barrier": kernel(WRITE + "  bar.arrive 1, 64;\n", "  bar.sync 1, 64;\n" + READ),
    "an mbarrier's phase": kernel(WRITE + "  bar.warp.sync -1;\n" + LANE0_ARRIVES,
                                  WAIT + READ),
    "bar.warp.sync before lane 0's arrival": kernel(
        WAIT + WRITE, READ + "  bar.warp.sync -1;\n" + LANE0_ARRIVES),
}
for name, text in ORDERED.items():
    for schedule in ptxemu.SCHEDULES:
        for timing in ("copies-late", "mma-late"):
            expect(f"ordered by {name} ({schedule}, {timing})",
                   lambda: run(text, schedule, timing))

for schedule in ("ascending", "descending"):
    # Warp 0 first: warp 1 reads what it wrote; warp 1 first: warp 0
    # overwrites what warp 1 read. Either is a race.
    expect_error(f"a read and a write, unordered ({schedule})",
                 lambda: run(kernel(WRITE, READ), schedule), "race on shared memory")
expect_error("a read after an unordered write", lambda: run(kernel(WRITE, READ), "ascending"),
             "thread 32 of block 0 reads shared offset 0 at line 23, not ordered after "
             "the write by thread 0 at line 25")
expect_error("a write after an unordered write", lambda: run(kernel(WRITE, WRITE)),
             "writes shared offset 0 at line 25, not ordered after the write by thread 32 at line 23")
# Only lane 0's reads are released by its arrival: the others' race with
# the rewrite.
expect_error("a buffer reused after lane 0's arrival alone", lambda: run(kernel(
    WAIT + WRITE, READ + LANE0_ARRIVES)),
    "thread 1 of block 0 writes shared offset 4 at line 33, not ordered after a read "
    "by thread 33 (the word's last read: line 23)")
# The mbarrier orders only what its waiter waited for: a read that skips
# the wait races.
expect_error("a read that does not wait", lambda: run(kernel(
    WRITE + "  bar.warp.sync -1;\n" + LANE0_ARRIVES, READ + WAIT), "ascending"),
    "reads shared offset 0 at line 23, not ordered after the write by thread 0 at line 28")
