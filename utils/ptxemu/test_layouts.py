#!/usr/bin/env python3
"""Checks the emulator's reading of wgmma matrix descriptors against the
worked examples of the PTX ISA ("Asynchronous Warpgroup Level Matrix Shared
Memory Layout" > "Canonical Layouts": each example gives an exact CuTe
layout and the LBO/SBO that describe it), and its mma.sync / wgmma
accumulator fragments against the ISA's fragment tables.

Prints one line per check; exit status 1 on the first mismatch.
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ptxemu  # noqa: E402


def cute(shape, stride, coord):
    """Offset of a flat coordinate in a (possibly nested) CuTe layout mode,
    colexicographic as CuTe orders it."""
    if isinstance(shape, int):
        return coord * stride
    off = 0
    for s, d in zip(shape, stride):
        size = int(np.prod(s)) if isinstance(s, tuple) else s
        off += cute(s, d, coord % size)
        coord //= size
    return off


def swizzle(b, m, s, x):
    return x ^ ((x >> s) & (((1 << b) - 1) << m))


def descriptor(lbo, sbo, mode, start=0):
    return np.array([(start >> 4) | ((lbo >> 4) << 16) | ((sbo >> 4) << 32)
                     | (mode << 62)], np.uint64)


def check(name, got, want):
    if not np.array_equal(got, want):
        bad = np.argwhere(got != want)[0]
        print(f"FAIL {name}: at {tuple(bad)} emulator {got[tuple(bad)]}, ISA {want[tuple(bad)]}")
        sys.exit(1)
    print(f"ok {name}")


# (name, element bytes, MN-major?, swizzle mode field, swizzle bits B,
#  exact layout ((rows shape),(cols shape)):((rows stride),(cols stride)) in
#  elements, LBO and SBO in elements) -- from the ISA's examples.
EXAMPLES = [
    ("K-major, no swizzle, tf32", 4, False, 0, 0,
     ((8, 2), (4, 4)), ((4, 32), (1, 64)), 64, 32),
    ("MN-major, no swizzle, bf16", 2, True, 0, 0,
     ((8, 1, 2), (8, 2)), ((1, 8, 64), (8, 128)), 128, 64),
    ("MN-major, 32B swizzle, bf16", 2, True, 3, 1,
     ((8, 2, 2), (8, 2)), ((1, 8, 128), (16, 256)), 128, 256),
    ("MN-major, 64B swizzle, bf16", 2, True, 2, 2,
     ((8, 4, 2), (8, 2)), ((1, 8, 256), (32, 512)), 256, 512),
]

for name, esize, mn_major, mode, b, shape, stride, lbo, sbo in EXAMPLES:
    rows = int(np.prod(shape[0]))
    cols = int(np.prod(shape[1]))
    want = np.zeros((rows, cols), np.int64)
    for r in range(rows):
        for c in range(cols):
            elt = cute(shape[0], stride[0], r) + cute(shape[1], stride[1], c)
            want[r, c] = swizzle(b, 4, 3, elt * esize)  # Swizzle<B,4,3> on bytes
    got = ptxemu._desc_addresses(descriptor(lbo * esize, sbo * esize, mode),
                                 rows, cols, mn_major, esize)[0]
    check(name, got, want)

# 128-byte swizzle, K-major bf16, as the kernels use it (rows of 128 bytes,
# 8-row groups SBO apart; the ISA's canonical form
# Swizzle<3,4,3> o ((8,m),(T,2k)):((8T,SBO),(1,T)) with T = 8), at a start
# address one k16 step into the atom.
for start in (0, 32):
    sbo = 1024
    want = np.zeros((64, 16), np.int64)
    for r in range(64):
        for c in range(16):
            elt = cute((8, 8), (64, sbo // 2), r) + cute((8, 2), (1, 8), c)
            want[r, c] = swizzle(3, 4, 3, start + elt * 2)
    got = ptxemu._desc_addresses(descriptor(16, sbo, 1, start), 64, 16, False, 2)[0]
    check(f"K-major, 128B swizzle, bf16, start {start}", got, want)

# MN-major 128-byte swizzle, bf16: ((T,8,m),(8,k)):((1,T,LBO),(8T,SBO)).
lbo, sbo = 64 * 128, 1024
want = np.zeros((128, 16), np.int64)
for r in range(128):
    for c in range(16):
        elt = cute((8, 8, 2), (1, 8, lbo // 2), r) + cute((8, 2), (64, sbo // 2), c)
        want[r, c] = swizzle(3, 4, 3, elt * 2)
got = ptxemu._desc_addresses(descriptor(lbo, sbo, 1), 128, 16, True, 2)[0]
check("MN-major, 128B swizzle, bf16", got, want)

# Fragments. mma.m16n8k16 A (ISA "Matrix Fragments for mma.m16n8k16",
# .bf16): a_i holds rows groupID (+8 for a1, a3) and columns
# threadID_in_group*2 + (0,1) (+8 for a2, a3).
regs = np.zeros((1, 32, 4), np.uint32)
A_want = np.zeros((1, 16, 16))
for lane in range(32):
    g, t = lane // 4, lane % 4
    for i in range(4):
        row = g + 8 * (i % 2)
        col = 2 * t + 8 * (i // 2)
        lo, hi = row * 16 + col, row * 16 + col + 1  # exact in bf16
        regs[0, lane, i] = ptxemu.f32_to_bf16(np.float32(lo)) | (
            ptxemu.f32_to_bf16(np.float32(hi)) << 16)
        A_want[0, row, col], A_want[0, row, col + 1] = lo, hi
check("mma.m16n8k16 A fragment", ptxemu._a_fragment(regs, True), A_want)

# wgmma m64nNk16 D (ISA "wgmma .m64nNk16 register fragment layout for
# accumulator matrix D"): warp w of the warpgroup holds rows 16w..16w+15;
# d_i of lane l: row 16w + l/4 + 8*((i/2)%2), column 8*(i/4) + 2*(l%4) + i%2.
row, col = ptxemu._d_layout(64)
want_row = np.zeros((128, 32), np.int64)
want_col = np.zeros((128, 32), np.int64)
for t in range(128):
    w, lane = t // 32, t % 32
    for i in range(32):
        want_row[t, i] = 16 * w + lane // 4 + (8 if i % 4 >= 2 else 0)
        want_col[t, i] = 8 * (i // 4) + 2 * (lane % 4) + i % 2
check("wgmma D fragment rows", row, want_row)
check("wgmma D fragment columns", col, want_col)

# wgmma m64nNk16 A from registers (ISA figure "WGMMA .m64nNk16 register
# fragment layout for matrix A"): four .b32 registers of two 16-bit
# elements, a0..a7 low to high; points read off the figure as
# (element, lane, warp) -> (row, column).
regs = np.zeros((128, 4), np.uint32)
for t in range(128):
    for i in range(4):
        lo = ptxemu.f32_to_f16(np.float32(8 * t + 2 * i))  # exact in f16
        hi = ptxemu.f32_to_f16(np.float32(8 * t + 2 * i + 1))
        regs[t, i] = lo | (hi << 16)
# As the emulator reads a warpgroup's A: warps stacked along M.
A = ptxemu._a_fragment(regs.reshape(4, 32, 4), False).reshape(64, 16)
for elt, lane, warp, row, col in [(0, 0, 0, 0, 0), (1, 0, 0, 0, 1),
                                  (2, 0, 0, 8, 0), (3, 0, 0, 8, 1),
                                  (4, 0, 0, 0, 8), (7, 31, 3, 63, 15),
                                  (5, 17, 2, 36, 11)]:
    t = 32 * warp + lane
    check(f"wgmma A fragment a{elt} of lane {lane}, warp {warp}",
          np.array(A[row, col]), np.array(float(8 * t + elt)))
