"""Operands of instructions: immediates, registers, special registers and
parameters read as a given type (reader), addresses (address), the
per-thread helpers of the compiled instructions, the warp / warpgroup
convergence check, and shared-memory operands (words and mbarriers).
"""

import re

import numpy as np

from ptx_memory import PARAM_BASE, PARAM_STRIDE, SHARED_BASE
from ptx_program import MASK32, SPECIAL_REGISTERS, U32, U64, EmulationError


# ---------------------------------------------------------------------------
# Operands
# ---------------------------------------------------------------------------


def _imm(tok):
    if re.match(r"^0[fF][0-9A-Fa-f]{8}$", tok):
        return ("f32", np.uint32(int(tok[2:], 16)))
    if re.match(r"^0[dD][0-9A-Fa-f]{16}$", tok):
        raise EmulationError(f"f64 immediate {tok} unsupported")
    if re.match(r"^-?(0x[0-9A-Fa-f]+|\d+)$", tok):
        return ("int", int(tok, 0))
    return None


def reader(kernel, tok, kind):
    """A function st -> numpy array (or scalar) of operand `tok` as `kind`
    (u32/s32/u64/s64/b16/f32/pred)."""
    imm = _imm(tok)
    if imm is not None:
        t, v = imm
        if kind == "f32":
            val = np.uint32(v).view(np.float32) if t == "f32" else np.float32(v)
            return lambda st: val
        if t == "f32":
            if kind not in ("u32", "b32"):
                raise EmulationError(f"float immediate {tok} for {kind}")
            return lambda st: v  # the bits
        if kind in ("u64", "b64"):
            c = np.uint64(v & 0xFFFFFFFFFFFFFFFF)
        elif kind == "s64":
            c = np.int64(v)
        elif kind == "s32":
            c = np.int32(v)
        elif kind == "pred":
            c = bool(v)
        else:
            c = np.uint32(v & MASK32)
        return lambda st: c
    if tok in SPECIAL_REGISTERS:
        conv = _conv(U32, kind)
        return lambda st: conv(st.special[tok])
    if tok == getattr(kernel, "shared_symbol", None):
        c = np.uint64(SHARED_BASE)
        return lambda st: c
    if tok in kernel.byte_params:
        c = np.uint64(PARAM_BASE + PARAM_STRIDE * kernel.params.index(tok))
        return lambda st: c
    dt = kernel.reg_dtype(tok)
    conv = _conv(dt, kind)
    return lambda st: conv(st.get(tok))


def _conv(dt, kind):
    if dt is bool:
        if kind != "pred":
            raise EmulationError("predicate used as a value")
        return lambda x: x
    if kind == "pred":
        raise EmulationError("value used as a predicate")
    if dt is U32:
        return {"u32": lambda x: x, "b32": lambda x: x,
                "s32": lambda x: x.view(np.int32),
                "f32": lambda x: x.view(np.float32),
                "b16": lambda x: x & U32(0xFFFF),
                "u64": lambda x: x.astype(U64), "b64": lambda x: x.astype(U64),
                "s64": lambda x: x.astype(U64).view(np.int64)}[kind]
    return {"u64": lambda x: x, "b64": lambda x: x,
            "s64": lambda x: x.view(np.int64),
            "u32": lambda x: x.astype(U32), "b32": lambda x: x.astype(U32),
            "s32": lambda x: x.astype(U32).view(np.int32),
            "f32": lambda x: x.astype(U32).view(np.float32)}[kind]


def address(kernel, tok):
    """[reg+off] / [reg] / [param] -> (kind, reader or name, offset). A
    register's offset may be negative ([%rd1+-16]): it is returned modulo
    2^64, so that adding it to the register's u64 wraps as the address
    arithmetic does."""
    m = re.match(r"^\[\s*([%\w$.]+)\s*(?:\+\s*(-?\d+))?\s*\]$", tok)
    if not m:
        raise EmulationError(f"unsupported address {tok}")
    base, off = m.group(1), int(m.group(2) or 0)
    if base in kernel.params:
        return ("param", base, off)
    return ("reg", reader(kernel, base, "u64"), off % (1 << 64))


def _each(st, r):
    """The value of reader r for every thread (readers of immediates and
    uniform values give scalars)."""
    return np.broadcast_to(r(st), (st.n,))


def _sel(on, x):
    return x if on is None else x[on]


def _tids(st, on):
    return st.tid if on is None else st.tid[on]


def _full_groups(st, on, size, what):
    """Every group (warp: 32, warpgroup: 128) that has a thread in `on` has
    all its live threads there."""
    groups = st.group_ids(size)
    g_on = np.bincount(groups[on], minlength=st.n // size)
    g_live = np.bincount(groups[~st.exited], minlength=st.n // size)
    touched = g_on > 0
    if (g_on[touched] != g_live[touched]).any() or (g_live[touched] != size).any():
        raise EmulationError(f"{what}: a {'warp' if size == 32 else 'warpgroup'} "
                             "is not converged here")
    return np.nonzero(touched)[0]


def _shared_operand(k, tok, nbytes, what, noun="address"):
    """[addr] of `nbytes` (their alignment) in shared memory -> fn(st, on)
    giving the executing threads (mask and ids) and each one's shared
    offset (in the window)."""
    kind, base_r, off = address(k, tok)
    if kind != "reg":
        raise EmulationError(f"unsupported shared {noun} {tok}")

    def operand(st, on):
        on_ = st.mask_of(on)
        tids = st.tid[on_]
        addrs = _each(st, base_r)[on_].astype(np.uint64) + np.uint64(off)
        if (addrs % np.uint64(nbytes)).any():
            raise EmulationError(f"{what}: {noun} not {nbytes}-byte aligned")
        return on_, tids, st.smem_offsets(addrs, nbytes, tids, what)
    return operand


def _mbarrier_operand(k, tok, what):
    """An mbarrier's [addr] (8 bytes): _shared_operand."""
    return _shared_operand(k, tok, 8, what, "mbarrier address")


def _shared_word(k, tok, what, words=1):
    """[addr] of `words` 32-bit words (ld/st.shared, .v2/.v4: aligned to
    their size): _shared_operand; no word may overlap an mbarrier."""
    nbytes = 4 * words
    word = _shared_operand(k, tok, nbytes, what)

    def operand(st, on):
        on_, tids, offs = word(st, on)
        bars = st.mbar_offs
        if len(bars) and ((offs[:, None] < bars[None, :] + 8) &
                          (offs[:, None] + nbytes > bars[None, :])).any():
            raise EmulationError(f"{what}: accesses an mbarrier")
        return on_, tids, offs
    return operand
