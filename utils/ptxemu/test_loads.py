#!/usr/bin/env python3
"""Checks what the backward kernel brought to the emulator, as the PTX ISA
defines it: cvt.f32.bf16 and cvt.f32.f16 (exact widening) and cvt.u16.u64
(the low 16 bits); mov.b32 {lo, hi} (unpacking); ld.shared of one f32 and
of .v2/.v4 words and st.shared.f32 (with their alignment); a module of
several kernels (one picked by name, the dynamic shared window declared at
module scope); one access whose threads reach several buffers (paths
that met at one instruction), still refused outside every buffer; a
negative address offset ([%rd+-16]); and ld.global.v2.b16 and
ld.shared.v2.b16 (aligned).

Prints one line per check; exit status 1 on the first failure.
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ptxemu  # noqa: E402
from checks import expect, expect_error  # noqa: E402

N = 32
HEAD = [".version 8.0", ".target sm_90a", ".address_size 64"]


def kernel(body, name="t", params=2, shared=None):
    """A kernel of `params` u64 parameters p0.. with `body`; `shared`: its
    dynamic shared window declared at module scope under that name."""
    decl = [f".shared .align 16 .b8 {shared};"] if shared else []
    plist = ", ".join(f".param .u64 p{i}" for i in range(params))
    return decl + [f".visible .entry {name}({plist})", "{", "  .reg .b16 %rs<8>;",
                   "  .reg .b32 %r<32>;", "  .reg .f32 %f<8>;", "  .reg .b64 %rd<16>;",
                   "  mov.u32 %r1, %tid.x;", "  ld.param.u64 %rd1, [p0];",
                   "  ld.param.u64 %rd2, [p1];", "  mul.wide.u32 %rd3, %r1, 4;",
                   "  add.s64 %rd4, %rd1, %rd3;", "  add.s64 %rd5, %rd2, %rd3;",
                   *body, "  ret;", "}"]


def run(lines, inputs, out_words=N, name=None, smem=0):
    """Thread i reads word i of `inputs` at [%rd4] and writes word i of the
    result at [%rd5]."""
    k = ptxemu.Kernel("\n".join(HEAD + lines) + "\n", name=name)
    gmem = ptxemu.GlobalMemory()
    src = gmem.alloc(np.asarray(inputs, np.uint32))
    out = gmem.alloc(np.zeros(out_words, np.uint32))
    ptxemu.Launch(k, (1, 1, 1), (N, 1, 1), smem, [src, out], gmem).run()
    return gmem.contents(out).view(np.uint32)


# 16-bit floats as the low half of a word: zeros, ones, extremes,
# subnormals, infinities and NaN.
bf16 = np.array([0x0000, 0x8000, 0x3F80, 0xBF80, 0x7F7F, 0x0001, 0x807F, 0x7F80,
                 0xFF80, 0x7FC1, 0x4049, 0x3C00] * 3, np.uint32)[:N]
halves = bf16 | np.uint32(0xABCD0000)  # garbage in the high half


def widen(op):
    return kernel(["  ld.global.b32 %r2, [%rd4];", "  cvt.u16.u32 %rs1, %r2;",
                   f"  {op} %f1, %rs1;", "  st.global.f32 [%rd5], %f1;"])


def check_bf16():
    got = run(widen("cvt.f32.bf16"), halves).view(np.float32)
    want = (bf16 << np.uint32(16)).view(np.float32)
    same = (got == want) | (np.isnan(got) & np.isnan(want))
    assert same.all(), list(zip(bf16[~same], got[~same], want[~same]))[:3]


def check_f16():
    got = run(widen("cvt.f32.f16"), halves).view(np.float32)
    want = bf16.astype(np.uint16).view(np.float16).astype(np.float32)
    same = (got == want) | (np.isnan(got) & np.isnan(want))
    assert same.all(), list(zip(bf16[~same], got[~same], want[~same]))[:3]


def check_u16_u64():
    lines = kernel(["  ld.global.b32 %r2, [%rd4];", "  cvt.u64.u32 %rd6, %r2;",
                    "  shl.b64 %rd6, %rd6, 20;", "  or.b64 %rd6, %rd6, %rd6;",
                    "  cvt.u16.u64 %rs1, %rd6;", "  cvt.u32.u16 %r3, %rs1;",
                    "  st.global.b32 [%rd5], %r3;"])
    x = np.arange(N, dtype=np.uint32) * np.uint32(0x9E3779B1)
    got = run(lines, x)
    want = np.array([((int(v) << 20) & 0xFFFF) for v in x], np.uint32)
    assert (got == want).all(), list(zip(x, got, want))[:3]


def check_unpack():
    lines = kernel(["  ld.global.b32 %r2, [%rd4];", "  mov.b32 {%rs1, %rs2}, %r2;",
                    "  cvt.u32.u16 %r3, %rs1;", "  cvt.u32.u16 %r4, %rs2;",
                    "  shl.b32 %r4, %r4, 16;", "  xor.b32 %r5, %r3, %r4;",
                    "  st.global.b32 [%rd5], %r5;"])
    x = np.arange(N, dtype=np.uint32) * np.uint32(0x01234567) + np.uint32(0x89AB)
    got = run(lines, x)
    want = (x & np.uint32(0xFFFF)) ^ (x & np.uint32(0xFFFF0000))
    assert (got == want).all(), list(zip(x, got, want))[:3]


def shared_vectors(words, offset=0):
    """Every thread stores its word as f32 at 4 tid, a barrier, then thread
    i loads `words` words at 4 (words i mod 8) + offset and sums them."""
    dests = ", ".join(f"%r{10 + j}" for j in range(words))
    load = (f"  ld.shared.v{words}.b32 {{{dests}}}, [%r7+{offset}];" if words > 1
            else f"  ld.shared.f32 %r10, [%r7+{offset}];")
    body = ["  ld.global.b32 %r2, [%rd4];", "  mov.b32 %f1, %r2;",
            "  mov.u32 %r6, __smem;", "  shl.b32 %r3, %r1, 2;", "  add.u32 %r3, %r6, %r3;",
            "  st.shared.f32 [%r3], %f1;", "  bar.sync 0;",
            "  rem.u32 %r4, %r1, 8;", f"  mul.lo.u32 %r4, %r4, {4 * words};",
            "  add.u32 %r7, %r6, %r4;", load, "  mov.u32 %r20, 0;"]
    body += [f"  add.u32 %r20, %r20, %r{10 + j};" for j in range(words)]
    body += ["  st.global.b32 [%rd5], %r20;"]
    return run(kernel(body, shared="__smem"), np.arange(N, dtype=np.uint32) + 100,
               smem=4 * N + 64)


def check_shared_vectors():
    x = np.arange(N, dtype=np.uint64) + 100
    for words in (1, 2, 4):
        got = shared_vectors(words)
        want = [int(sum(x[(i % 8) * words + j] for j in range(words))) & 0xFFFFFFFF
                for i in range(N)]
        assert list(got) == want, (words, list(got[:4]), want[:4])


def check_shared_halves():
    # ld.shared.v2.b16 {lo, hi}: thread i's word stored at 4 tid, then the
    # halves of word (i + 1) mod 32, low first (as ld.global.v2.b16).
    body = ["  ld.global.b32 %r2, [%rd4];", "  mov.u32 %r6, __smem;",
            "  shl.b32 %r3, %r1, 2;", "  add.u32 %r3, %r6, %r3;",
            "  st.shared.b32 [%r3], %r2;", "  bar.sync 0;",
            "  add.u32 %r4, %r1, 1;", "  rem.u32 %r4, %r4, 32;",
            "  shl.b32 %r4, %r4, 2;", "  add.u32 %r7, %r6, %r4;",
            "  ld.shared.v2.b16 {%rs1, %rs2}, [%r7];", "  cvt.u32.u16 %r8, %rs1;",
            "  cvt.u32.u16 %r9, %rs2;", "  shl.b32 %r9, %r9, 8;",
            "  add.s32 %r8, %r8, %r9;", "  st.global.b32 [%rd5], %r8;"]
    words = (np.arange(N, dtype=np.uint32) << 16) | (np.arange(N, dtype=np.uint32) + 7)
    out = run(kernel(body, shared="__smem"), words, smem=4 * N)
    j = (np.arange(N) + 1) % N
    assert (out == (j + 7) + (j << 8)).all(), out


def two_kernels():
    first = kernel(["  st.global.b32 [%rd5], %r1;"], name="first", shared="__smem")
    second = kernel(["  ld.global.b32 %r2, [%rd4];", "  add.u32 %r2, %r2, 7;",
                     "  st.global.b32 [%rd5], %r2;"], name="second")
    return first + second


def check_two_kernels():
    x = np.arange(N, dtype=np.uint32) * np.uint32(3)
    got = run(two_kernels(), x, name="second")
    assert (got == x + np.uint32(7)).all(), list(got[:4])
    got = run(two_kernels(), x, name="first")
    assert (got == np.arange(N)).all(), list(got[:4])


def two_buffers(second_offset):
    """Threads 0-15 store to p1's buffer, 16-31 to p2's + second_offset,
    through one st.global."""
    body = ["  ld.param.u64 %rd6, [p2];", "  setp.lt.u32 %p1, %r1, 16;",
            "  selp.b64 %rd7, %rd2, %rd6, %p1;", "  rem.u32 %r8, %r1, 16;",
            "  mul.wide.u32 %rd8, %r8, 4;", "  add.s64 %rd7, %rd7, %rd8;",
            f"  @!%p1 add.s64 %rd7, %rd7, {second_offset};",
            "  st.global.b32 [%rd7], %r1;"]
    lines = kernel(body, params=3)
    lines.insert(lines.index("{") + 1, "  .reg .pred %p<2>;")
    k = ptxemu.Kernel("\n".join(HEAD + lines) + "\n")
    gmem = ptxemu.GlobalMemory()
    src = gmem.alloc(np.zeros(N, np.uint32))
    a, b = gmem.alloc(np.zeros(16, np.uint32)), gmem.alloc(np.zeros(16, np.uint32))
    ptxemu.Launch(k, (1, 1, 1), (N, 1, 1), 0, [src, a, b], gmem).run()
    return gmem.contents(a).view(np.uint32), gmem.contents(b).view(np.uint32)


def check_two_buffers():
    a, b = two_buffers(0)
    assert (a == np.arange(16)).all() and (b == np.arange(16, 32)).all(), (a, b)


def check_negative_offset():
    # Thread i reads word i + 4 at [%rd6+-16], %rd6 its word's address + 32:
    # an address below its register, as LLVM writes them (cp.async too).
    body = ["  add.s64 %rd6, %rd4, 32;", "  ld.global.b32 %r2, [%rd6+-16];",
            "  st.global.b32 [%rd5], %r2;"]
    words = np.arange(N + 8, dtype=np.uint32) * 3
    out = run(kernel(body), words)
    assert (out == words[4:N + 4]).all(), out


def check_global_halves():
    # ld.global.v2.b16 {lo, hi}: the two 16-bit halves of an aligned word
    # (element 0 at the lower address), each in the low half of a register.
    body = ["  ld.global.v2.b16 {%rs1, %rs2}, [%rd4];", "  cvt.u32.u16 %r2, %rs1;",
            "  cvt.u32.u16 %r3, %rs2;", "  shl.b32 %r3, %r3, 8;", "  add.s32 %r2, %r2, %r3;",
            "  st.global.b32 [%rd5], %r2;"]
    words = (np.arange(N, dtype=np.uint32) << 16) | (np.arange(N, dtype=np.uint32) + 7)
    out = run(kernel(body), words)
    want = (np.arange(N) + 7) + (np.arange(N) << 8)
    assert (out == want).all(), out


expect("cvt.f32.bf16 widens exactly (zeros, subnormals, inf, NaN)", check_bf16)
expect("ld.global.v2.b16 loads a word's two halves, low first", check_global_halves)
expect_error("ld.global.v2.b16 needs 4-byte alignment",
             lambda: run(kernel(["  add.s64 %rd6, %rd4, 2;",
                                 "  ld.global.v2.b16 {%rs1, %rs2}, [%rd6];"]),
                         np.zeros(N + 1, np.uint32)),
             "not 4-byte aligned")
expect("a negative address offset [%rd+-16] reads below the register",
       check_negative_offset)
expect("cvt.f32.f16 widens exactly", check_f16)
expect("cvt.u16.u64 keeps the low 16 bits", check_u16_u64)
expect("mov.b32 {lo, hi} unpacks a word", check_unpack)
expect("st.shared.f32, ld.shared.f32 / .v2.b32 / .v4.b32", check_shared_vectors)
expect("ld.shared.v2.b16 loads a word's two halves, low first",
       check_shared_halves)
expect_error("ld.shared.v4 needs 16-byte alignment", lambda: shared_vectors(4, 4),
             "not 16-byte aligned")
expect("a module of two kernels: each by name, module-scope shared window",
       check_two_kernels)
expect_error("a module of two kernels needs a name",
             lambda: ptxemu.Kernel("\n".join(HEAD + two_kernels())), "name one")
expect("one st.global whose threads reach two buffers", check_two_buffers)
expect_error("one st.global still refused outside every buffer",
             lambda: two_buffers(1 << 20), "outside every buffer")
