#!/usr/bin/env python3
"""Checks the emulator's race check on shared memory (Launch(racecheck=
True), ptx_race.py) on small hand-written kernels of two warps: accesses
ordered by bar.sync 0, a named barrier, an mbarrier's phase or a
bar.warp.sync before one lane's arrival pass under every warp order; the
same without that order are reported, naming both sides: a read after an
unordered write, a write after an unordered write, and the reuse of a
buffer that a warp's other lanes read when only lane 0's arrival
released it; arrivals past a phase's count, which belong to the next
phase; two threads of one cp.async on one word; and wgmma (a warpgroup's
wgmma orders nothing between its warps; a buffer released before the
wgmma.wait_group that retires its read races with the read).

Prints one line per check; exit status 1 on the first failure.
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ptxemu  # noqa: E402
from checks import LANE_AND_WARP0, PTX_ENTRY, expect, expect_error, two_warps  # noqa: E402

# Two warps; %r2 the lane, %p1 warp 0; %r4 the lane's shared word, %r7 an
# mbarrier (count 1) after the 64 words, set up before the first barrier.
HEADER = PTX_ENTRY + """  .reg .pred %p<8>;
  .reg .b32 %r<16>;
  .reg .f32 %f<8>;
  .reg .b64 %rd<12>;
  .shared .align 16 .b8 smem;
""" + LANE_AND_WARP0 + """  mov.u64 %rd5, smem;
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
    return two_warps(HEADER, warp0, warp1)


def with_count(text, count):
    """`text` with its mbarrier's count changed from 1."""
    return text.replace("[%r7], 1;", f"[%r7], {count};", 1)


def run(text, schedule="lockstep", timing="copies-late", threads=64):
    ptxemu.Launch(ptxemu.Kernel(text), (2, 1, 1), (threads, 1, 1), 512, [0],
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
             "thread 32 of block 0 reads shared offset 0 at line 24, not ordered after "
             "the write by thread 0 at line 26")
expect_error("a write after an unordered write", lambda: run(kernel(WRITE, WRITE)),
             "writes shared offset 0 at line 26, not ordered after the write by thread 32 at line 24")
# Only lane 0's reads are released by its arrival: the others' race with
# the rewrite.
expect_error("a buffer reused after lane 0's arrival alone", lambda: run(kernel(
    WAIT + WRITE, READ + LANE0_ARRIVES)),
    "thread 1 of block 0 writes shared offset 4 at line 34, not ordered after a read "
    "by thread 33 (the word's last read: line 24)")
# The mbarrier orders only what its waiter waited for: a read that skips
# the wait races.
expect_error("a read that does not wait", lambda: run(kernel(
    WRITE + "  bar.warp.sync -1;\n" + LANE0_ARRIVES, READ + WAIT), "ascending"),
    "reads shared offset 0 at line 24, not ordered after the write by thread 0 at line 29")

# An mbarrier of count 48 and 64 arrivals: 16 of warp 1's arrivals are the
# next phase's, so warp 0, waiting for the first, may not read what those
# lanes wrote.
SPILL = with_count(kernel(LANE0_ARRIVES.replace("  setp.eq.u32 %p3, %r2, 0;\n  @!%p3 bra A;\n",
                                                "") + WAIT + READ,
                          WRITE + LANE0_ARRIVES.replace("  setp.eq.u32 %p3, %r2, 0;\n"
                                                        "  @!%p3 bra A;\n", "")), 48)
expect_error("arrivals past the phase's count", lambda: run(SPILL, "ascending"),
             "thread 16 of block 0 reads shared offset 64 at line 34, not ordered after the "
             "write by thread 48")
expect("every arrival in the phase", lambda: run(SPILL.replace("[%r7], 48;", "[%r7], 64;"),
                                                 "ascending"))

# Lanes 0 and 1 copy to one address in one cp.async.
COPY = ("  setp.lt.u32 %p4, %r1, 2;\n  @!%p4 bra C;\n  mov.u32 %r14, 0;\n  mov.u64 %rd7, 0;\n"
        "  cp.async.cg.shared.global [%r3], [%rd7], 16, %r14;\n  cp.async.commit_group;\n"
        "  cp.async.wait_group 0;\nC:\n")
expect_error("two threads of one cp.async on one word",
             lambda: run(HEADER + COPY + "  ret;\n}\n"),
             "thread 1 of block 0 writes shared offset 0 at line 27, not ordered after the "
             "write by thread 0 in the same instruction")

# wgmma (one warpgroup of 128 threads; B, 8 x 16 bf16, at shared offset 0):
# thread 0 writes X (offset 512 - 256 = the word after the mbarrier), the
# warpgroup runs a wgmma and waits for it, thread 32 reads X.
WGMMA = ("  mov.u32 %r8, 0;\n  mov.u32 %r9, 0;\n  mov.u32 %r10, 0;\n  mov.u32 %r11, 0;\n"
         "  cvt.u64.u32 %rd6, %r3;\n  shr.u64 %rd6, %rd6, 4;\n"
         "  or.b64 %rd6, %rd6, 68719476736;\n  or.b64 %rd6, %rd6, 524288;\n"
         "  setp.eq.u32 %p4, %r1, %r1;\n  wgmma.fence.sync.aligned;\n"
         "  wgmma.mma_async.sync.aligned.m64n8k16.f32.bf16.bf16 {%f1, %f2, %f3, %f4}, "
         "{%r8, %r9, %r10, %r11}, %rd6, %p4, 1, 1, 0;\n  wgmma.commit_group.sync.aligned;\n")
WG_WAIT = "  wgmma.wait_group.sync.aligned 0;\n"
ONLY = ("  setp.eq.u32 %p5, %r1, {t};\n  @!%p5 bra N{t};\n{body}N{t}:\n")
X_WRITE = ONLY.format(t=0, body="  st.shared.u32 [%r3+264], %r1;\n")
X_READ = ONLY.format(t=32, body="  ld.shared.u32 %r13, [%r3+264];\n")
for timing in ("copies-late", "mma-late"):
    expect_error(f"a wgmma orders nothing between its warps ({timing})",
                 lambda: run(HEADER + X_WRITE + WGMMA + WG_WAIT + X_READ + "  ret;\n}\n",
                             "ascending", timing, threads=128),
                 "thread 32 of block 0 reads shared offset 264")
# The consumer warpgroup (threads 0-127) releases B (count 128) before its
# wgmma.wait_group; thread 128 waits for the release and overwrites B.
ARRIVE = "  mbarrier.arrive.shared::cta.b64 _, [%r7];\n"
RELEASE = with_count(HEADER + "  setp.lt.u32 %p1, %r1, 128;\n  @%p1 bra CONS;\n"
                     + ONLY.format(t=128, body=WAIT + "  st.shared.u32 [%r3], %r1;\n")
                     + "  ret;\nCONS:\n" + WGMMA + ARRIVE + WG_WAIT + "  ret;\n}\n", 128)
for timing in ("copies-late", "mma-late"):
    expect_error(f"a buffer released before wgmma.wait_group ({timing})",
                 lambda: run(RELEASE, "ascending", timing, threads=256),
                 "thread 128 of block 0 writes shared offset 0 at line 30, not ordered after "
                 "a read by a wgmma of warpgroup 0")
    expect(f"a buffer released after wgmma.wait_group ({timing})",
           lambda: run(RELEASE.replace(ARRIVE + WG_WAIT, WG_WAIT + ARRIVE), "ascending",
                       timing, threads=256))
