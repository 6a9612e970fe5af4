#!/usr/bin/env python3
"""Checks the emulator's integer instructions against Python's integers on
edge values (0, 1, -1, the extremes, LLVM's magic divisors, random ones):
mul.hi and mad.hi (u32, s32, u64, s64), mul.lo, mad.lo, mul.wide, div and
rem (signed: rounded toward zero, the remainder with the dividend's sign),
and 16-bit registers (mul.lo, add, shl, shr through cvt; cvt between 16
and 64 bits), as the PTX ISA defines them. These are what LLVM emits for a head count that is not a power of
two (a division by a constant).

Prints one line per instruction; exit status 1 on the first failure.
"""

import os
import random
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ptxemu  # noqa: E402
from checks import expect  # noqa: E402

N = 64


def values(bits, signed):
    top = 1 << bits
    base = [0, 1, 2, 3, 5, 7, top - 1, top - 2, top >> 1, (top >> 1) - 1,
            (top >> 1) + 1, 0xAAAAAAAB, 0x55555556, 0xCCCCCCCD, 0x24924925]
    rng = random.Random(bits * 2 + signed)
    while len(base) < N:
        base.append(rng.randrange(top))
    base = [v % top for v in base[:N]]
    return [v - top if signed and v >= top >> 1 else v for v in base]


def run(op, t, a, b, c=None, dst_t=None):
    """Thread i computes op(a[i], b[i][, c[i]]) in type t (result dst_t)."""
    bits = int(t[1:])
    dst_t = dst_t or t
    dbits = int(dst_t[1:])
    reg = "%rd" if bits == 64 else "%r"
    dreg = "%rd" if dbits == 64 else "%r"
    srcs = [a, b] + ([c] if c is not None else [])
    size = bits // 8
    lines = [".version 8.0", ".target sm_90a", ".address_size 64",
             ".visible .entry t(.param .u64 p0, .param .u64 p1, .param .u64 p2,"
             " .param .u64 p3)", "{", "  .reg .b32 %r<16>;", "  .reg .b64 %rd<24>;",
             "  mov.u32 %r1, %tid.x;"]
    ins = []
    for j in range(len(srcs)):
        lines += [f"  ld.param.u64 %rd{1 + j}, [p{j}];",
                  f"  mul.wide.u32 %rd{8 + j}, %r1, {size};",
                  f"  add.s64 %rd{8 + j}, %rd{1 + j}, %rd{8 + j};",
                  f"  ld.global.b{bits} {reg}{12 + j}, [%rd{8 + j}];"]
        ins.append(f"{reg}{12 + j}")
    lines += ["  ld.param.u64 %rd4, [p3];",
              f"  mul.wide.u32 %rd5, %r1, {dbits // 8};",
              "  add.s64 %rd5, %rd4, %rd5;",
              f"  {op} {dreg}15, {', '.join(ins)};",
              f"  st.global.b{dbits} [%rd5], {dreg}15;", "  ret;", "}"]
    k = ptxemu.Kernel("\n".join(lines) + "\n")
    gmem = ptxemu.GlobalMemory()
    dt = {"u32": np.uint32, "s32": np.int32, "u64": np.uint64, "s64": np.int64}
    bufs = [gmem.alloc(np.array(v, dtype=object).astype(dt[t])) for v in srcs]
    while len(bufs) < 3:
        bufs.append(gmem.alloc(np.zeros(1, np.uint8)))
    out = gmem.alloc(np.zeros(N, dt[dst_t]))
    ptxemu.Launch(k, (1, 1, 1), (N, 1, 1), 0, bufs + [out], gmem).run()
    return [int(x) for x in gmem.contents(out).view(dt[dst_t])]


def wrap(v, bits, signed):
    v %= 1 << bits
    return v - (1 << bits) if signed and v >= 1 << (bits - 1) else v


def trunc_div(x, y):
    q = abs(x) // abs(y)
    return q if (x < 0) == (y < 0) else -q


for t in ("u32", "s32", "u64", "s64"):
    bits, signed = int(t[1:]), t[0] == "s"
    a, b = values(bits, signed), list(reversed(values(bits, signed)))
    c = values(bits, signed)[::-1][3:] + values(bits, signed)[:3]
    nz = [y if y != 0 else 3 for y in b]

    def check(name, op, want, got):
        assert got == want, [(x, g, w) for x, g, w in zip(a, got, want) if g != w][:3]

    cases = {
        f"mul.hi.{t}": (lambda: run(f"mul.hi.{t}", t, a, b),
                        [wrap((x * y) >> bits, bits, signed) for x, y in zip(a, b)]),
        f"mad.hi.{t}": (lambda: run(f"mad.hi.{t}", t, a, b, c),
                        [wrap(((x * y) >> bits) + z, bits, signed)
                         for x, y, z in zip(a, b, c)]),
        f"mul.lo.{t}": (lambda: run(f"mul.lo.{t}", t, a, b),
                        [wrap(x * y, bits, signed) for x, y in zip(a, b)]),
        f"mad.lo.{t}": (lambda: run(f"mad.lo.{t}", t, a, b, c),
                        [wrap(x * y + z, bits, signed) for x, y, z in zip(a, b, c)]),
        f"div.{t}": (lambda: run(f"div.{t}", t, a, nz),
                     [wrap(trunc_div(x, y) if signed else x // y, bits, signed)
                      for x, y in zip(a, nz)]),
        f"rem.{t}": (lambda: run(f"rem.{t}", t, a, nz),
                     [wrap(x - trunc_div(x, y) * y if signed else x % y, bits, signed)
                      for x, y in zip(a, nz)]),
    }
    if bits == 32:
        cases[f"mul.wide.{t}"] = (lambda: run(f"mul.wide.{t}", t, a, b,
                                              dst_t=("s64" if signed else "u64")),
                                  [x * y for x, y in zip(a, b)])
    for name, (fn, want) in cases.items():
        expect(f"{name} on {N} edge and random values",
               lambda fn=fn, want=want, name=name: check(name, None, want, fn()))


def run16(op, signed, a, b):
    """Thread i: the 16-bit op on the low halves of a[i], b[i], widened
    back to 32 bits (cvt), as LLVM emits for small divisions."""
    widen = "cvt.s32.s16" if signed else "cvt.u32.u16"
    lines = [".version 8.0", ".target sm_90a", ".address_size 64",
             ".visible .entry t(.param .u64 p0, .param .u64 p1, .param .u64 p2)", "{",
             "  .reg .b16 %rs<4>;", "  .reg .b32 %r<16>;", "  .reg .b64 %rd<16>;",
             "  mov.u32 %r1, %tid.x;"]
    for j in range(2):
        lines += [f"  ld.param.u64 %rd{1 + j}, [p{j}];",
                  f"  mul.wide.u32 %rd{8 + j}, %r1, 4;",
                  f"  add.s64 %rd{8 + j}, %rd{1 + j}, %rd{8 + j};",
                  f"  ld.global.b32 %r{12 + j}, [%rd{8 + j}];",
                  f"  cvt.u16.u32 %rs{1 + j}, %r{12 + j};"]
    lines += ["  ld.param.u64 %rd4, [p2];", "  mul.wide.u32 %rd5, %r1, 4;",
              "  add.s64 %rd5, %rd4, %rd5;", f"  {op} %rs3, %rs1, %rs2;",
              f"  {widen} %r15, %rs3;", "  st.global.b32 [%rd5], %r15;", "  ret;", "}"]
    k = ptxemu.Kernel("\n".join(lines) + "\n")
    gmem = ptxemu.GlobalMemory()
    bufs = [gmem.alloc(np.array(v, np.int64).astype(np.uint32)) for v in (a, b)]
    out = gmem.alloc(np.zeros(N, np.uint32))
    ptxemu.Launch(k, (1, 1, 1), (N, 1, 1), 0, bufs + [out], gmem).run()
    return [int(x) for x in gmem.contents(out).view(np.int32 if signed else np.uint32)]


a16 = values(16, False)
b16 = [x % 17 for x in reversed(a16)]  # shift counts 0..16 too
for op, signed, fn in (
        ("mul.lo.s16", True, lambda x, y: x * y),
        ("mul.lo.u16", False, lambda x, y: x * y),
        ("add.s16", True, lambda x, y: x + y),
        ("shr.u16", False, lambda x, y: x >> y if y < 16 else 0),
        ("shr.s16", True, lambda x, y: x >> min(y, 15)),
        ("shl.b16", False, lambda x, y: x << y if y < 16 else 0)):
    def sixteen(op=op, signed=signed, fn=fn):
        xs = [wrap(x, 16, signed) for x in a16]
        want = [wrap(fn(x, y), 16, signed) for x, y in zip(xs, b16)]
        got = run16(op, signed, a16, b16)
        assert got == want, [(x, y, g, w) for x, y, g, w in zip(xs, b16, got, want) if g != w][:3]
    expect(f"{op} (16-bit registers, cvt in and out)", sixteen)


def cvt16to64(widen, a):
    """Thread i: the low half of a[i] (cvt.u16.u32), widened to 64 bits by
    `widen`."""
    lines = [".version 8.0", ".target sm_90a", ".address_size 64",
             ".visible .entry t(.param .u64 p0, .param .u64 p1)", "{",
             "  .reg .b16 %rs<4>;", "  .reg .b32 %r<16>;", "  .reg .b64 %rd<16>;",
             "  mov.u32 %r1, %tid.x;", "  ld.param.u64 %rd1, [p0];",
             "  mul.wide.u32 %rd8, %r1, 4;", "  add.s64 %rd8, %rd1, %rd8;",
             "  ld.global.b32 %r12, [%rd8];", "  cvt.u16.u32 %rs1, %r12;",
             f"  {widen} %rd12, %rs1;", "  ld.param.u64 %rd4, [p1];",
             "  mul.wide.u32 %rd5, %r1, 8;", "  add.s64 %rd5, %rd4, %rd5;",
             "  st.global.b64 [%rd5], %rd12;", "  ret;", "}"]
    k = ptxemu.Kernel("\n".join(lines) + "\n")
    gmem = ptxemu.GlobalMemory()
    buf = gmem.alloc(np.array(a, np.int64).astype(np.uint32))
    out = gmem.alloc(np.zeros(N, np.uint64))
    ptxemu.Launch(k, (1, 1, 1), (N, 1, 1), 0, [buf, out], gmem).run()
    return [int(x) for x in gmem.contents(out).view(np.uint64)]


for widen, signed in (("cvt.u64.u16", False), ("cvt.s64.u16", False),
                      ("cvt.s64.s16", True), ("cvt.u64.s16", True)):
    def widened(widen=widen, signed=signed):
        want = [wrap(wrap(x, 16, signed), 64, False) for x in a16]
        got = cvt16to64(widen, a16)
        assert got == want, [(x, g, w) for x, g, w in zip(a16, got, want) if g != w][:3]
    expect(f"{widen} (zero- or sign-extends the 16-bit value)", widened)
