#!/usr/bin/env python3
"""Checks the emulator's atomics and 32-bit shared-memory words on small
hand-written kernels: atom.global.add.u32 from every thread of several
blocks at once (each gets a distinct old value, the sum lands; held back
until no thread can run, or at once), atom.global.add.f32 (each add
rounded to f32, in thread order), st.shared /
ld.shared through a block barrier (per block), and the errors: two threads
storing to one shared word, a misaligned word, a word over an mbarrier.

Prints one line per check; exit status 1 on the first failure.
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ptxemu  # noqa: E402
from checks import expect, expect_error  # noqa: E402

BLOCKS, THREADS = 3, 64
HEADER = """.version 8.0
.target sm_90a
.address_size 64
.visible .entry t(.param .u64 t_param_0, .param .u64 t_param_1)
{
  .reg .pred %p<3>;
  .reg .b32 %r<12>;
  .reg .b64 %rd<12>;
  .shared .align 16 .b8 smem;
  ld.param.u64 %rd1, [t_param_0];
  ld.param.u64 %rd2, [t_param_1];
  mov.u32 %r1, %tid.x;
  mov.u32 %r2, %ctaid.x;
  mad.lo.u32 %r3, %r2, 64, %r1;
  mul.wide.u32 %rd3, %r3, 4;
  add.s64 %rd4, %rd2, %rd3;
  mov.u64 %rd5, smem;
  cvt.u32.u64 %r4, %rd5;
"""


def run(body, shared_bytes=THREADS * 4, timing="copies-late"):
    k = ptxemu.Kernel(HEADER + body + "  ret;\n}\n")
    gmem = ptxemu.GlobalMemory()
    counter = gmem.alloc(np.array([5], np.uint32))
    out = gmem.alloc(np.full(BLOCKS * THREADS, 0xFFFFFFFF, np.uint32))
    ptxemu.Launch(k, (BLOCKS, 1, 1), (THREADS, 1, 1), shared_bytes,
                  [counter, out], gmem, timing=timing, schedule="descending").run()
    return (int(gmem.contents(counter).view(np.uint32)[0]),
            gmem.contents(out).view(np.uint32))


# Every thread adds 3 to the counter (5 at launch) and stores the old value.
ATOM = ("  mov.u32 %r5, 3;\n  atom.global.add.u32 %r6, [%rd1], %r5;\n"
        "  st.global.u32 [%rd4], %r6;\n")
# Thread t stores t + 100 to word t of its block's shared memory; after
# the barrier it reads word t ^ 1.
SHARED = ("  mad.lo.u32 %r5, %r1, 4, %r4;\n  add.u32 %r6, %r1, 100;\n"
          "  st.shared.u32 [%r5], %r6;\n  bar.sync 0;\n"
          "  xor.b32 %r7, %r1, 1;\n  mad.lo.u32 %r8, %r7, 4, %r4;\n"
          "  ld.shared.u32 %r9, [%r8];\n  st.global.u32 [%rd4], %r9;\n")


def atom(timing):
    final, out = run(ATOM, timing=timing)
    n = BLOCKS * THREADS
    assert final == 5 + 3 * n, final
    assert sorted(out.tolist()) == [5 + 3 * i for i in range(n)], out


# Every thread adds 2^-24 to an f32 word holding 1.0 at launch: rounded to
# f32 one add at a time, each is lost (1 + 2^-24 ties to 1); summed in
# more precision, the 192 adds would show.
FLOAT = ("  mov.b32 %r5, 0f33800000;\n"
         "  atom.global.add.f32 %r6, [%rd1], %r5;\n")


def float_atom(timing):
    k = ptxemu.Kernel(HEADER + FLOAT + "  ret;\n}\n")
    gmem = ptxemu.GlobalMemory()
    word = gmem.alloc(np.array([1.0], np.float32))
    out = gmem.alloc(np.zeros(BLOCKS * THREADS, np.uint32))
    ptxemu.Launch(k, (BLOCKS, 1, 1), (THREADS, 1, 1), 0, [word, out], gmem,
                  timing=timing).run()
    got = float(gmem.contents(word).view(np.float32)[0])
    assert got == 1.0, got


# Thread t ors 1 << (t % 32) into a word holding 1 << 31 at launch (each
# bit six times).
OR = ("  and.b32 %r5, %r1, 31;\n  shl.b32 %r6, 1, %r5;\n"
      "  atom.global.or.b32 %r7, [%rd1], %r6;\n")


def or_atom(timing):
    k = ptxemu.Kernel(HEADER + OR + "  ret;\n}\n")
    gmem = ptxemu.GlobalMemory()
    word = gmem.alloc(np.array([1 << 31], np.uint32))
    out = gmem.alloc(np.zeros(BLOCKS * THREADS, np.uint32))
    ptxemu.Launch(k, (BLOCKS, 1, 1), (THREADS, 1, 1), 0, [word, out], gmem,
                  timing=timing).run()
    got = int(gmem.contents(word).view(np.uint32)[0])
    assert got == 0xFFFFFFFF, hex(got)  # (adds would have carried)


def shared():
    _, out = run(SHARED)
    want = np.tile((np.arange(THREADS) ^ 1) + 100, BLOCKS)
    assert (out == want).all(), out


for timing in ("copies-late", "mma-late"):  # the atomics held back or not
    expect(f"atom.global.add.u32 from every thread of 3 blocks ({timing})",
           lambda: atom(timing))
for timing in ("copies-late", "mma-late"):
    expect(f"atom.global.add.f32 rounds each add ({timing})", lambda: float_atom(timing))
for timing in ("copies-late", "mma-late"):
    expect(f"atom.global.or.b32 from every thread ({timing})", lambda: or_atom(timing))
expect("st.shared / ld.shared words through a block barrier", shared)
expect_error("one word, two stores", lambda: run("  st.shared.u32 [%r4], %r1;\n"),
             "st.shared: two threads store to one address")
expect_error("misaligned word", lambda: run(
             "  add.u32 %r5, %r4, 2;\n  ld.shared.u32 %r6, [%r5];\n"),
             "ld.shared.u32: address not 4-byte aligned")
expect_error("a word over an mbarrier", lambda: run(
             "  setp.eq.u32 %p1, %r1, 0;\n  @!%p1 bra D;\n"
             "  mbarrier.init.shared::cta.b64 [%r4], 1;\n"
             "  ld.shared.u32 %r6, [%r4+4];\nD:\n"),
             "ld.shared.u32: accesses an mbarrier")
