"""Memory and numbers: the address-space layout (global buffers, kernel
parameters, the shared window), GlobalMemory, the float conversions, and
TensorMap (what cuTensorMapEncodeTiled is given).
"""

import numpy as np

from ptx_program import EmulationError, U32


GLOBAL_BASE = 0x7F0000000000
RED_ZONE = 256
# Kernel parameters' own addresses (mov of a parameter's name): the param
# window, and where cvta.param maps it in the generic space.
PARAM_BASE, PARAM_STRIDE = 0x1000, 0x100
PARAM_GENERIC = 0x7E0000000000
SHARED_BASE = 0x410  # 16-byte aligned, deliberately not 1024-byte aligned


class GlobalMemory:
    def __init__(self):
        self.buffers = []  # (start, bytearray-like numpy uint8)
        self.next = GLOBAL_BASE

    def alloc(self, data):
        data = np.ascontiguousarray(data).view(np.uint8).reshape(-1).copy()
        start = self.next
        self.buffers.append((start, data))
        self.next = start + ((len(data) + RED_ZONE + 255) // 256) * 256
        return start

    def contents(self, start):
        """The bytes of the buffer alloc returned `start` for."""
        return next(data for s, data in self.buffers if s == start)

    def find(self, addrs, nbytes, tids, what):
        """[(indices, start, data)]: the buffer each address lies in (with
        nbytes after it), the accesses grouped by buffer (one access may
        reach several: the threads of paths that met at one instruction)."""
        lo, hi = int(addrs.min()), int(addrs.max())
        for start, data in self.buffers:
            if start <= lo and hi + nbytes <= start + len(data):
                return [(slice(None), start, data)]
        groups, placed = [], np.zeros(len(addrs), bool)
        for start, data in self.buffers:
            inside = (addrs >= start) & (addrs + nbytes <= start + len(data))
            if inside.any():
                groups.append((np.nonzero(inside)[0], start, data))
                placed |= inside
        for a, t, ok in zip(addrs.tolist(), tids.tolist(), placed.tolist()):
            if not ok:
                raise EmulationError(
                    f"{what}: thread {t} accesses global address {a:#x} "
                    f"({nbytes} bytes) outside every buffer")
        return groups

    def read(self, addrs, nbytes, tids, what):
        out = np.zeros((len(addrs), nbytes), np.uint8)
        if len(addrs) == 0:
            return out
        for which, start, data in self.find(addrs, nbytes, tids, what):
            off = (addrs[which] - start).astype(np.int64)
            out[which] = data[off[:, None] + np.arange(nbytes)]
        return out

    def write(self, addrs, values, tids, what):
        if len(addrs) == 0:
            return
        nbytes = values.shape[1]
        for which, start, data in self.find(addrs, nbytes, tids, what):
            off = (addrs[which] - start).astype(np.int64)
            data[off[:, None] + np.arange(nbytes)] = values[which]


def f32(x):
    return x.view(np.float32)


def bits32(x):
    return np.asarray(x, np.float32).view(U32)


def bf16_to_f64(h):
    return (h.astype(U32) << 16).view(np.float32).astype(np.float64)


def f16_to_f64(h):
    return h.astype(np.uint16).view(np.float16).astype(np.float64)


def f32_to_bf16(x):
    b = np.asarray(x, np.float32).view(U32).astype(np.uint64)
    rounded = ((b + 0x7FFF + ((b >> 16) & 1)) >> 16).astype(U32)
    nan = np.isnan(np.asarray(x, np.float32))
    return np.where(nan, U32(0x7FC0), rounded & 0xFFFF).astype(U32)


def f32_to_f16(x):
    return np.asarray(x, np.float32).astype(np.float16).view(np.uint16).astype(U32)


class TensorMap:
    """A tensor map as cuTensorMapEncodeTiled is given it (tiled, no
    interleave, element strides 1, out-of-bounds elements filled with
    zeros): the global address, element bytes, dims and the byte strides
    of dims 1.. (innermost first), the box, and the swizzle in bytes (0,
    32, 64, 128). Checks what the driver checks."""

    def __init__(self, base, elem_bytes, dims, strides, box, swizzle):
        rank = len(dims)
        if not 1 <= rank <= 5 or len(strides) != rank - 1 or len(box) != rank:
            raise EmulationError("tensor map: rank, strides or box do not agree")
        if base % 16:
            raise EmulationError("tensor map: global address not 16-byte aligned")
        if any(s % 16 or not 0 < s < 1 << 40 for s in strides):
            raise EmulationError("tensor map: a stride is not a positive multiple of 16 below 2^40")
        if any(not 1 <= d <= 1 << 32 for d in dims):
            raise EmulationError("tensor map: a dim outside [1, 2^32]")
        if any(not 1 <= b <= 256 for b in box) or (box[0] * elem_bytes) % 16:
            raise EmulationError("tensor map: a box dim outside [1, 256], or "
                                 "an inner box not a multiple of 16 bytes")
        if swizzle not in (0, 32, 64, 128) or (swizzle and box[0] * elem_bytes > swizzle):
            raise EmulationError("tensor map: the inner box exceeds the swizzle span")
        self.base, self.eb = base, elem_bytes
        self.dims, self.strides, self.box = list(dims), list(strides), list(box)
        self.swizzle = swizzle

    def _elements(self, coords):
        """The box at `coords` (innermost first, signed), element by
        element in box order: which lie inside the tensor, and the global
        addresses of those."""
        if len(coords) != len(self.dims):
            raise EmulationError("cp.async.bulk.tensor: coordinates do not match the map's rank")
        idx = np.indices(self.box[::-1]).reshape(len(self.box), -1)[::-1]
        g = idx + np.array(coords, np.int64)[:, None]
        inside = np.all((g >= 0) & (g < np.array(self.dims)[:, None]), axis=0)
        step = np.array([self.eb] + self.strides, np.int64)[:, None]
        return inside, (self.base + (g * step).sum(0))[inside].astype(np.uint64)

    def load(self, gmem, coords, tid):
        """The box at `coords`: (rows, row bytes) uint8, rows in order of
        the outer box dims, zeros where an element lies outside the
        tensor."""
        inside, addrs = self._elements(coords)
        data = np.zeros((len(inside), self.eb), np.uint8)
        data[inside] = gmem.read(addrs, self.eb, np.full(len(addrs), tid),
                                 "cp.async.bulk.tensor source")
        return data.reshape(-1, self.box[0] * self.eb)

    def store(self, gmem, coords, rows, tid):
        """Writes the box at `coords` from `rows` (as load returns them),
        skipping the elements outside the tensor (clipped, as a TMA store
        does)."""
        inside, addrs = self._elements(coords)
        data = rows.reshape(-1, self.eb)[inside]
        gmem.write(addrs, data, np.full(len(addrs), tid), "cp.async.bulk.tensor destination")
