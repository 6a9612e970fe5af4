#!/usr/bin/env python3
"""Checks the emulator's named barriers (bar.sync / bar.arrive ID, COUNT)
on small hand-written kernels of two warps: a wait that orders a read after
another warp's write, a turn passed back and forth through two barriers
(each used for several phases), and the errors: a missing arrival
(deadlock), two thread counts in one phase, a warp that is not converged;
bar.warp.sync (the whole warp only); and a warp split by a branch in a
loop body meeting again at a shfl.sync at the loop's head.

Prints one line per check; exit status 1 on the first failure.
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ptxemu  # noqa: E402
from checks import LANE_AND_WARP0, PTX_ENTRY, expect, expect_error, two_warps  # noqa: E402

HEADER = PTX_ENTRY + """  .reg .pred %p<3>;
  .reg .b32 %r<12>;
  .reg .b64 %rd<12>;
  ld.param.u64 %rd1, [t_param_0];
  cvta.to.global.u64 %rd2, %rd1;
""" + LANE_AND_WARP0


def slot(k, dst):
    """PTX: dst = address of this lane's element of 32-word slot k."""
    return (f"  mul.wide.u32 %rd3, %r2, 4;\n  add.s64 {dst}, %rd2, %rd3;\n"
            f"  add.s64 {dst}, {dst}, {k * 128};\n")


def step(k):
    """PTX: slot k = slot k - 1 + 1 (slot 0 = lane + 1)."""
    if k == 0:
        return slot(0, "%rd4") + "  add.u32 %r3, %r2, 1;\n  st.global.b32 [%rd4], %r3;\n"
    return (slot(k - 1, "%rd5") + "  ld.global.b32 %r3, [%rd5];\n"
            + slot(k, "%rd4") + "  add.u32 %r3, %r3, 1;\n  st.global.b32 [%rd4], %r3;\n")


def kernel(warp0, warp1):
    return two_warps(HEADER, warp0, warp1)


def run(text, slots, schedule):
    k = ptxemu.Kernel(text)
    gmem = ptxemu.GlobalMemory()
    buf = gmem.alloc(np.full(32 * slots, 0xFFFFFFFF, np.uint32))
    launch = ptxemu.Launch(k, (1, 1, 1), (64, 1, 1), 0, [buf], gmem,
                           schedule=schedule)
    launch.run()
    return gmem.contents(buf).view(np.uint32).reshape(slots, 32), launch


def fails(text, want):
    """checks.expect_error's run of `text` and the error it must give."""
    return lambda: run(text, 4, "descending"), want


# Warp 1 reads what warp 0 wrote before its bar.arrive (the id in a register).
ORDER = kernel(step(0) + "  bar.arrive 1, 64;\n",
               "  mov.u32 %r5, 1;\n  bar.sync %r5, 64;\n" + step(1))
# The turn: warp 0 first (its own arrival), then each waits on its barrier
# (1, 2), writes the next slot from the previous one and passes the turn
# to the other; the last pass is never taken.
RING = kernel("  bar.arrive 1, 64;\n  bar.sync 1, 64;\n" + step(0)
              + "  bar.arrive 2, 64;\n  bar.sync 1, 64;\n" + step(2)
              + "  bar.arrive 2, 64;\n",
              "  bar.sync 2, 64;\n" + step(1) + "  bar.arrive 1, 64;\n"
              + "  bar.sync 2, 64;\n" + step(3) + "  bar.arrive 1, 64;\n")

for schedule in ptxemu.SCHEDULES:
    def order():
        out, launch = run(ORDER, 2, schedule)
        assert (out[1] == np.arange(32) + 2).all(), out[1]
        assert not launch.bwait.any()

    def ring():
        out, _ = run(RING, 4, schedule)
        want = np.arange(32)[None, :] + 1 + np.arange(4)[:, None]
        assert (out == want).all(), out

    expect(f"bar.sync waits for bar.arrive ({schedule})", order)
    expect(f"a turn passed through two barriers ({schedule})", ring)

expect_error("no first arrival", *fails(RING.replace("  bar.arrive 1, 64;\n  bar.sync 1, 64;",
                                              "  bar.sync 1, 64;", 1),
             "deadlock: threads wait at lines"))
expect_error("two thread counts", *fails(ORDER.replace("bar.arrive 1, 64", "bar.arrive 1, 32"),
             "arrived on with thread counts [32, 64] in one phase"))
expect_error("half a warp", *fails(kernel(
    "  setp.lt.u32 %p2, %r2, 16;\n  @%p2 bra H;\n  bar.arrive 1, 64;\nH:\n",
    "  bar.sync 1, 64;\n"), "a warp is not converged here"))

# bar.warp.sync: each warp's lanes meet (here before one warp's write); a
# warp with half its lanes there, or a partial mask, is refused.
for schedule in ptxemu.SCHEDULES:
    def warp_sync():
        out, _ = run(kernel("  bar.warp.sync -1;\n" + step(0), "  bar.warp.sync -1;\n"),
                     1, schedule)
        assert (out[0] == np.arange(32) + 1).all(), out[0]

    expect(f"bar.warp.sync with the whole warp ({schedule})", warp_sync)
expect_error("bar.warp.sync, half a warp", *fails(kernel(
    "  setp.lt.u32 %p2, %r2, 16;\n  @%p2 bra H;\n  bar.warp.sync -1;\nH:\n", ""),
    "a warp is not converged here"))
expect_error("bar.warp.sync with a partial mask", *fails(kernel(
    "  bar.warp.sync 65535;\n", ""), "unsupported bar.warp.sync 65535"))

# A loop whose body sends lanes 0-15 straight back to its head (where a
# shfl.sync needs the whole warp) while lanes 16-31 do more work first: the
# first lanes wait there for the rest, three trips, then each lane stores
# its partner's lane + 1 (slot 0) and lanes 16-31 their trip count (slot 1).
LOOP = kernel(
    "  mov.u32 %r5, 0;\n  mov.u32 %r8, 0;\nL:\n"
    "  add.u32 %r9, %r2, 1;\n  shfl.sync.bfly.b32 %r6, %r9, 1, 31, -1;\n"
    "  add.u32 %r5, %r5, 1;\n  setp.ge.u32 %p2, %r5, 3;\n  @%p2 bra E;\n"
    "  setp.lt.u32 %p1, %r2, 16;\n  @%p1 bra L;\n"
    "  add.u32 %r8, %r8, 1;\n  bra.uni L;\nE:\n"
    + slot(0, "%rd4") + "  st.global.b32 [%rd4], %r6;\n"
    + slot(1, "%rd4") + "  st.global.b32 [%rd4], %r8;\n", "")
for schedule in ptxemu.SCHEDULES:
    def loop_meets():
        out, _ = run(LOOP, 2, schedule)
        lanes = np.arange(32)
        assert (out[0] == (lanes ^ 1) + 1).all(), out[0]
        assert (out[1] == np.where(lanes < 16, 0, 2)).all(), out[1]

    expect(f"a warp split in a loop body meets at shfl.sync ({schedule})", loop_meets)
