"""compile_instr: an instruction -> the function that runs it. Here the
integer, 16-bit, float and predicate arithmetic, comparisons, moves and
conversions, global / shared / parameter loads and stores, the global
atomic, branches, ret, shfl, bar.sync 0 and setmaxnreg; the asynchronous
instructions (ptx_async) and the tensor-core ones (ptx_tensorcore) are
handed to their compilers.
"""

import numpy as np

from ptx_async import _compile_cp, _compile_mbarrier, _compile_named_barrier
from ptx_memory import PARAM_GENERIC, f32_to_bf16, f32_to_f16
from ptx_operands import (_each, _full_groups, _imm, _sel, _shared_word, _tids,
                          address, reader)
from ptx_program import MASK32, U32, U64, EmulationError
from ptx_tensorcore import _compile_ldmatrix, _compile_mma, _compile_wgmma


# ---------------------------------------------------------------------------
# Instructions
# ---------------------------------------------------------------------------


def _sext16(x):
    """The low 16 bits of 32-bit storage as signed integers (int64)."""
    v = np.asarray(x).astype(np.int64) & 0xFFFF
    return np.where(v >= 0x8000, v - 0x10000, v)


def _int16(name, parts, op, a, k, simple):
    """add, sub, mul.lo, mad.lo, mul.hi, and, or, xor, shl, shr on 16-bit
    integers (kept in the low half of 32-bit registers), from the PTX ISA:
    the result's low 16 bits (mul.hi: the high 16 of the 32-bit product,
    LLVM's division by a constant); shr.s16 shifts the sign in."""
    signed = parts[-1] == "s16"
    high = name == "mul" and "hi" in parts
    if name in ("mul", "mad") and "lo" not in parts and not high:
        raise EmulationError(f"unsupported {op}")

    def val(x):
        return _sext16(x) if signed else np.asarray(x).astype(np.int64) & 0xFFFF

    def low(v):
        return (np.asarray(v).astype(np.int64) & 0xFFFF).astype(U32)

    fns = {"add": lambda x, y: val(x) + val(y), "sub": lambda x, y: val(x) - val(y),
           "mul": (lambda x, y: (val(x) * val(y)) >> 16) if high else
                  (lambda x, y: val(x) * val(y)),
           "mad": lambda x, y, z: val(x) * val(y) + val(z),
           "and": lambda x, y: val(x) & val(y), "or": lambda x, y: val(x) | val(y),
           "xor": lambda x, y: val(x) ^ val(y),
           "shl": lambda x, n: np.where(np.asarray(n) >= 16, 0,
                                        val(x) << np.minimum(np.asarray(n).astype(np.int64), 15)),
           "shr": lambda x, n: np.where(np.asarray(n) >= 16, np.where(val(x) < 0, -1, 0),
                                        val(x) >> np.minimum(np.asarray(n).astype(np.int64), 15))}
    n = 3 if name == "mad" else 2
    fn = fns[name]
    return simple(a[0], "u32", lambda *xs: low(fn(*xs)),
                  *[(x, "u32") for x in a[1:1 + n]])


def _result_kind(t):
    return {"s64": "s64", "u64": "u64", "b64": "u64", "s32": "s32",
            "u32": "u32", "b32": "u32", "f32": "f32", "pred": "pred",
            "s16": "s16", "u16": "u16", "b16": "u16"}[t]


def compile_instr(k, ins):
    op, a = ins.op, ins.args
    parts = op.split(".")
    name = parts[0]

    def simple(dst, kind, fn, *srcs):
        rs = [reader(k, s, kind_s) for s, kind_s in srcs]

        def run(st, on, m):
            st.put(dst, fn(*[r(st) for r in rs]), on)
            st.advance(m)
        return run

    t = parts[-1]

    if name in ("add", "sub", "mul", "mad", "and", "or", "xor", "shl",
                "shr") and t in ("s16", "u16", "b16"):
        return _int16(name, parts, op, a, k, simple)
    if name in ("add", "sub", "mul", "mad", "min", "max", "and", "or", "xor",
                "shl", "shr", "not", "neg", "selp", "bfe", "fma", "ex2", "lg2",
                "rcp", "div", "rem") and t in ("s64", "u64", "b64", "s32",
                                               "u32", "b32", "f32", "pred"):
        kind = _result_kind(t)
        if name == "mul" and "wide" in parts:
            if t not in ("u32", "s32"):
                raise EmulationError(f"unsupported {op}")
            wdt = np.uint64 if t == "u32" else np.int64
            return simple(a[0], "u64" if t == "u32" else "s64",
                          lambda x, y: np.asarray(x).astype(wdt) * np.asarray(y).astype(wdt),
                          (a[1], t), (a[2], t))
        if name in ("mul", "mad") and "hi" in parts:
            # The high half of the full product (LLVM's division by a
            # constant: mul.hi.u32 with a magic number), plus c for mad.hi.
            if t not in ("u32", "s32", "u64", "s64"):
                raise EmulationError(f"unsupported {op}")
            hbits = 64 if t in ("u64", "s64") else 32
            hsigned = t.startswith("s")
            hdt = {("u", 32): np.uint32, ("s", 32): np.int32,
                   ("u", 64): np.uint64, ("s", 64): np.int64}[(t[0], hbits)]

            def high(x, y, z=None):
                x, y = np.broadcast_arrays(np.asarray(x).astype(hdt),
                                           np.asarray(y).astype(hdt))
                if hbits == 32:
                    wide = np.int64 if hsigned else np.uint64
                    r = (x.astype(wide) * y.astype(wide)) >> wide(32)
                else:
                    r = np.array([(int(p) * int(q)) >> 64 for p, q in
                                  zip(x.ravel(), y.ravel())], dtype=object).reshape(x.shape)
                if z is not None:
                    r = r + np.asarray(z).astype(hdt).astype(r.dtype if hbits == 32 else object)
                mask = (1 << hbits) - 1
                if hbits == 32:
                    return (np.asarray(r).astype(np.int64) & mask).astype(np.uint32).astype(hdt)
                return np.array([int(v) & mask for v in np.ravel(r)],
                                np.uint64).reshape(np.shape(r)).astype(hdt)
            n = 3 if name == "mad" else 2
            return simple(a[0], kind, high, *[(x, kind) for x in a[1:1 + n]])
        if kind == "f32":
            fns = {
                "add": lambda x, y: np.float32(x) + np.float32(y),
                "sub": lambda x, y: np.float32(x) - np.float32(y),
                "mul": lambda x, y: np.float32(x) * np.float32(y),
                "max": (lambda x, y: np.maximum(x, y)) if "NaN" in parts else
                       (lambda x, y: np.fmax(x, y)),
                "min": (lambda x, y: np.minimum(x, y)) if "NaN" in parts else
                       (lambda x, y: np.fmin(x, y)),
                "fma": lambda x, y, z: (np.float64(x) * np.float64(y)
                                        + np.float64(z)).astype(np.float32),
                "neg": lambda x: -x,
                "ex2": lambda x: np.exp2(x).astype(np.float32),
                "lg2": lambda x: np.log2(x).astype(np.float32),
                "rcp": lambda x: (np.float32(1) / x).astype(np.float32),
            }
            if name == "selp":
                return simple(a[0], kind, lambda x, y, p: np.where(p, x, y),
                              (a[1], kind), (a[2], kind), (a[3], "pred"))
            if name not in fns:
                raise EmulationError(f"unsupported {op}")
            n = {"fma": 3, "neg": 1, "ex2": 1, "lg2": 1, "rcp": 1}.get(name, 2)
            fn = fns[name]
            ftz = "ftz" in parts

            def wrapped(*xs):
                with np.errstate(all="ignore"):
                    r = np.asarray(fn(*xs), np.float32)
                if ftz:
                    r = np.where(np.abs(r) < np.float32(1.1754944e-38), np.float32(0) * np.sign(r), r)
                return r
            return simple(a[0], kind, wrapped, *[(x, kind) for x in a[1:1 + n]])
        if kind == "pred":
            if name not in ("and", "or", "xor", "not"):
                raise EmulationError(f"unsupported {op}")
            fn = {"and": lambda x, y: x & y, "or": lambda x, y: x | y,
                  "xor": lambda x, y: x ^ y, "not": lambda x: ~x}[name]
            return simple(a[0], kind, fn, *[(x, "pred") for x in a[1:]])
        bits = 64 if kind in ("s64", "u64") else 32
        ukind = "u64" if bits == 64 else "u32"
        udt = np.uint64 if bits == 64 else np.uint32
        sdt = np.int64 if bits == 64 else np.int32

        def wrap(v):
            return np.asarray(v).astype(sdt if kind.startswith("s") else udt, copy=False)
        if name in ("add", "sub", "mul", "and", "or", "xor"):
            fn = {"add": np.add, "sub": np.subtract, "mul": np.multiply,
                  "and": np.bitwise_and, "or": np.bitwise_or,
                  "xor": np.bitwise_xor}[name]
            return simple(a[0], ukind, lambda x, y: fn(np.asarray(x, udt), np.asarray(y, udt)),
                          (a[1], ukind), (a[2], ukind))
        if name in ("div", "rem"):
            signed = kind.startswith("s")
            dt = sdt if signed else udt
            rx, ry = reader(k, a[1], kind), reader(k, a[2], kind)

            def divide(st, on, m):
                x = _each(st, rx).astype(dt)
                y = _each(st, ry).astype(dt)
                if np.any(_sel(on, y) == 0):
                    # PTX leaves the result unspecified: a kernel bug.
                    raise EmulationError(f"{op}: division by zero")
                safe = np.where(y == 0, dt(1), y)
                if signed:
                    # Rounded toward zero; the remainder has the dividend's
                    # sign (C's semantics; numpy's // floors). Python's
                    # integers: |INT_MIN| does not fit the type.
                    def one(p, q):
                        d = abs(p) // abs(q)
                        d = d if (p < 0) == (q < 0) else -d
                        v = d if name == "div" else p - d * q
                        v %= 1 << bits
                        return v - (1 << bits) if v >= 1 << (bits - 1) else v
                    res = np.array([one(int(p), int(q)) for p, q in
                                    zip(np.ravel(x), np.ravel(safe))],
                                   dtype=np.int64).reshape(np.shape(x)).astype(dt)
                else:
                    res = x // safe if name == "div" else x % safe
                st.put(a[0], res, on)
                st.advance(m)
            return divide
        if name == "mad":
            if "lo" not in parts:
                raise EmulationError(f"unsupported {op}")
            return simple(a[0], ukind, lambda x, y, z: np.asarray(x, udt) * np.asarray(y, udt) + np.asarray(z, udt),
                          (a[1], ukind), (a[2], ukind), (a[3], ukind))
        if name in ("min", "max"):
            fn = np.minimum if name == "min" else np.maximum
            return simple(a[0], kind, lambda x, y: fn(wrap(x), wrap(y)),
                          (a[1], kind), (a[2], kind))
        if name == "not":
            return simple(a[0], ukind, lambda x: ~np.asarray(x, udt), (a[1], ukind))
        if name in ("shl", "shr"):
            def shift(x, s):
                s = np.asarray(s).astype(np.int64)
                big = s >= bits
                s = np.minimum(s, bits - 1).astype(udt)
                if name == "shl":
                    r = np.left_shift(np.asarray(x, udt), s)
                    return np.where(big, udt(0), r)
                if kind.startswith("s"):
                    xv = np.asarray(x).astype(sdt)
                    r = np.right_shift(xv, s.astype(sdt))
                    return np.where(big, np.where(xv < 0, sdt(-1), sdt(0)), r)
                r = np.right_shift(np.asarray(x, udt), s)
                return np.where(big, udt(0), r)
            return simple(a[0], kind, shift, (a[1], kind), (a[2], "u32"))
        if name == "bfe":
            if kind.startswith("s"):
                raise EmulationError(f"unsupported {op}")

            def bfe(x, pos, ln):
                pos, ln = int(pos), int(ln)
                return (np.asarray(x, udt) >> udt(pos)) & udt((1 << ln) - 1)
            return simple(a[0], kind, bfe, (a[1], kind), (a[2], "u32"), (a[3], "u32"))
        if name == "selp":
            return simple(a[0], kind, lambda x, y, p: np.where(p, x, y),
                          (a[1], kind), (a[2], kind), (a[3], "pred"))
        if name == "neg":
            return simple(a[0], ukind, lambda x: (udt(0) - np.asarray(x, udt)), (a[1], ukind))
        raise EmulationError(f"unsupported {op}")

    if name == "setp":
        cmp, t = parts[1], parts[2]
        kind = _result_kind(t)
        if kind == "f32":
            fns = {"eq": np.equal, "ne": lambda x, y: np.not_equal(x, y) & ~np.isnan(x) & ~np.isnan(y),
                   "lt": np.less, "le": np.less_equal, "gt": np.greater,
                   "ge": np.greater_equal}
        else:
            if t.startswith("b") and cmp not in ("eq", "ne"):
                raise EmulationError(f"unsupported {op}")
            fns = {"eq": np.equal, "ne": np.not_equal, "lt": np.less,
                   "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal}
        fn = fns[cmp]
        return simple(a[0], "pred", lambda x, y: np.asarray(fn(x, y)), (a[1], kind), (a[2], kind))

    if op == "mov.b32" and a[0].startswith("{"):
        # Unpacks a 32-bit value into two 16-bit registers {lo, hi}.
        lo, hi = (r.strip() for r in a[0].strip("{}").split(","))
        src = reader(k, a[1], "u32")

        def run(st, on, m):
            x = np.asarray(_each(st, src), U32)
            st.put(lo, x & U32(0xFFFF), on)
            st.put(hi, x >> U32(16), on)
            st.advance(m)
        return run

    if name == "mov":
        kind = _result_kind(parts[1]) if parts[1] != "b16" else "u32"
        return simple(a[0], kind, lambda x: x, (a[1], kind))

    if name == "cvt":
        # 16-bit integers: truncation keeps the low half; widening
        # zero-extends (unsigned) or sign-extends (signed).
        if op in ("cvt.u16.u32", "cvt.s16.s32", "cvt.u16.s32", "cvt.s16.u32"):
            return simple(a[0], "u32", lambda x: np.asarray(x, U32) & U32(0xFFFF),
                          (a[1], "u32"))
        if op in ("cvt.u16.u64", "cvt.s16.s64", "cvt.u16.s64", "cvt.s16.u64"):
            return simple(a[0], "u32",
                          lambda x: (np.asarray(x, U64) & U64(0xFFFF)).astype(U32),
                          (a[1], "u64"))
        if op in ("cvt.u32.u16", "cvt.s32.u16"):
            return simple(a[0], "u32", lambda x: np.asarray(x, U32) & U32(0xFFFF),
                          (a[1], "u32"))
        if op in ("cvt.s32.s16", "cvt.u32.s16"):
            return simple(a[0], "u32", lambda x: _sext16(x).astype(np.int32).view(U32),
                          (a[1], "u32"))
        if op in ("cvt.u64.u16", "cvt.s64.u16"):
            return simple(a[0], "u64", lambda x: (np.asarray(x, U32) & U32(0xFFFF)).astype(U64),
                          (a[1], "u32"))
        if op in ("cvt.s64.s16", "cvt.u64.s16"):
            return simple(a[0], "s64", lambda x: _sext16(x).astype(np.int64), (a[1], "u32"))
        if op == "cvt.u64.u32":
            return simple(a[0], "u64", lambda x: np.asarray(x).astype(U64), (a[1], "u32"))
        if op == "cvt.u32.u64":
            return simple(a[0], "u32", lambda x: (np.asarray(x) & np.uint64(MASK32)).astype(U32), (a[1], "u64"))
        if op == "cvt.s64.s32":
            return simple(a[0], "s64", lambda x: np.asarray(x).astype(np.int64), (a[1], "s32"))
        # 16-bit floats widen exactly (the low 16 bits of the register).
        if op == "cvt.f32.bf16":
            return simple(a[0], "f32",
                          lambda x: ((np.asarray(x, U32) & U32(0xFFFF)) << U32(16))
                          .view(np.float32), (a[1], "u32"))
        if op == "cvt.f32.f16":
            return simple(a[0], "f32",
                          lambda x: (np.asarray(x, U32) & U32(0xFFFF)).astype(np.uint16)
                          .view(np.float16).astype(np.float32), (a[1], "u32"))
        if op in ("cvt.rn.bf16x2.f32", "cvt.rn.f16x2.f32"):
            to = f32_to_bf16 if "bf16x2" in op else f32_to_f16
            return simple(a[0], "u32", lambda x, y: (to(x) << U32(16)) | to(y),
                          (a[1], "f32"), (a[2], "f32"))
        raise EmulationError(f"unsupported {op}")

    if op == "cvta.to.global.u64":
        return simple(a[0], "u64", lambda x: x, (a[1], "u64"))
    if op == "cvta.param.u64":
        return simple(a[0], "u64", lambda x: np.asarray(x) + np.uint64(PARAM_GENERIC),
                      (a[1], "u64"))

    if name == "ld":
        space, t = parts[1], parts[-1]
        kind, base_r, off = address(k, a[1])
        if space == "param":
            if kind != "param" or off:
                raise EmulationError(f"unsupported {ins.text}")

            if base_r in k.byte_params:
                raise EmulationError(f"unsupported {ins.text} (a .b8 parameter)")

            def run(st, on, m):
                st.put(a[0], np.uint64(st.params[base_r] & 0xFFFFFFFFFFFFFFFF), on)
                st.advance(m)
            return run
        if space == "global":
            # One value, or .v2/.v4 of them into {%r, ...}, from an address
            # aligned to the whole access (16-bit values into the low half
            # of a 32-bit register, as the emulator holds them).
            nbytes = {"b16": 2, "u16": 2, "s16": 2, "s32": 4, "u32": 4, "b32": 4,
                      "b64": 8, "u64": 8, "s64": 8}.get(t)
            count = int(parts[2][1:]) if parts[2] in ("v2", "v4") else 1
            dests = [r.strip() for r in a[0].strip("{}").split(",")]
            if nbytes is None or len(dests) != count:
                raise EmulationError(f"unsupported {ins.text}")
            kind_of = {2: np.uint16, 4: np.uint32, 8: np.uint64}[nbytes]

            def run(st, on, m):
                addrs = _sel(on, _each(st, base_r)) + np.uint64(off)
                if (addrs % np.uint64(nbytes * count)).any():
                    raise EmulationError(f"{op}: address not {nbytes * count}-byte aligned")
                raw = st.gmem.read(addrs, nbytes * count, _tids(st, on), "ld.global")
                vals = raw.copy().view(kind_of).reshape(-1, count)
                for i, d in enumerate(dests):
                    val = vals[:, i].astype(np.uint32 if nbytes <= 4 else np.uint64)
                    if on is not None:
                        full = np.zeros(st.n, val.dtype)
                        full[on] = val
                        val = full
                    st.put(d, val, on)
                st.advance(m)
            return run
        half = t in ("b16", "u16") and parts[2] == "v2"
        if space == "shared" and (t in ("u32", "b32", "s32", "f32") or half):
            # One word, or .v2/.v4 words into {%r, ...} (registers hold
            # every 32-bit type as its bits); .v2.b16: one word's two
            # halves, element 0 at the lower address, each in the low half
            # of a register.
            count = int(parts[2][1:]) if parts[2] in ("v2", "v4") else 1
            words = 1 if half else count
            dests = [r.strip() for r in a[0].strip("{}").split(",")]
            if len(dests) != count:
                raise EmulationError(f"unsupported {ins.text}")
            word = _shared_word(k, a[1], op, words)

            def run(st, on, m):
                on_, tids, offs = word(st, on)
                if st.race is not None:
                    st.race.read(tids, offs, 4 * words)
                raw = st.smem[st.blk[tids][:, None], offs[:, None] + np.arange(4 * words)]
                vals = raw.copy().view(np.uint16 if half else U32).reshape(-1, count)
                for i, d in enumerate(dests):
                    full = np.zeros(st.n, U32)
                    full[on_] = vals[:, i]
                    st.put(d, full, on)
                st.advance(m)
            return run
        raise EmulationError(f"unsupported {op}")

    if name == "st" and parts[1] == "shared":
        if parts[-1] not in ("u32", "b32", "s32", "f32") or len(parts) != 3:
            raise EmulationError(f"unsupported {op}")
        word = _shared_word(k, a[0], op)
        val_r = reader(k, a[1], "u32")

        def run(st, on, m):
            on_, tids, offs = word(st, on)
            where = np.stack([st.blk[tids], offs], 1)
            if len(np.unique(where, axis=0)) != len(where):
                raise EmulationError("st.shared: two threads store to one address")
            v = _each(st, val_r)[on_].astype(U32)
            if st.race is not None:
                st.race.write(tids, offs, 4)
            st.smem[st.blk[tids][:, None], offs[:, None] + np.arange(4)] = \
                v.view(np.uint8).reshape(-1, 4)
            st.advance(m)
        return run

    if op in ("atom.global.add.u32", "atom.global.add.f32", "atom.global.or.b32"):
        # (f32 adds, whose results no kernel reads, and ors (an error
        # record) are made at once in both timings: only a claim's result
        # publishes anything.)
        claim = op.endswith("u32")
        combine = (lambda cur, v: cur | v) if ".or." in op else (lambda cur, v: cur + v)
        kind, base_r, off = address(k, a[1])
        if kind != "reg":
            raise EmulationError(f"unsupported {ins.text}")
        # (f32: the sum rounded to f32, as the hardware's adds are, one
        # after another in thread order.)
        vt = np.float32 if op.endswith("f32") else U32
        val_r = reader(k, a[2], "f32" if vt is np.float32 else "u32")

        def run(st, on, m):
            on_ = st.mask_of(on)
            tids = st.tid[on_]
            addrs = _each(st, base_r)[on_].astype(np.uint64) + np.uint64(off)
            if (addrs % np.uint64(4)).any():
                raise EmulationError(f"{op}: address not 4-byte aligned")
            vals = _each(st, val_r)[on_].astype(vt)

            def make(st):
                old = np.zeros(st.n, vt)
                # One after another, in thread order.
                for i, t in enumerate(tids.tolist()):
                    at, who = addrs[i:i + 1], tids[i:i + 1]
                    cur = st.gmem.read(at, 4, who, op).copy().view(vt).reshape(-1)
                    old[t] = cur[0]
                    st.gmem.write(at, combine(cur, vals[i]).astype(vt).view(np.uint8)
                                  .reshape(1, 4), who, op)
                st.put(a[0], old, on_)
                st.atom_wait[on_] = False
            st.advance(m)
            if st.timing == "copies-late" and claim:
                st.atom_wait[on_] = True
                st.async_arrivals.append({"call": make})
            else:
                make(st)
        return run

    if name == "st":
        space, t = parts[1], parts[-1]
        if space != "global":
            raise EmulationError(f"unsupported {op}")
        kind, base_r, off = address(k, a[0])
        nbytes = {"b16": 2, "b32": 4, "u32": 4, "f32": 4, "b64": 8}[t]
        val_r = reader(k, a[1], "u64" if nbytes == 8 else "u32")

        def run(st, on, m):
            addrs = _sel(on, _each(st, base_r)) + np.uint64(off)
            v = _sel(on, _each(st, val_r))
            if nbytes == 2:
                data = (v & U32(0xFFFF)).astype(np.uint16).view(np.uint8).reshape(-1, 2)
            elif nbytes == 4:
                data = v.astype(U32).view(np.uint8).reshape(-1, 4)
            else:
                data = v.astype(U64).view(np.uint8).reshape(-1, 8)
            if len(np.unique(addrs)) != len(addrs):
                raise EmulationError("two threads store to one address")
            st.gmem.write(addrs, data, _tids(st, on), "st.global")
            st.advance(m)
        return run

    if name == "bra":
        def run(st, on, m):
            if on is None:
                st.pc[:] = ins.target
                return
            st.pc[on] = ins.target
            st.pc[m & ~on] += 1
        return run

    if name == "ret":
        def run(st, on, m):
            if on is None:
                st.exited[:] = True
            else:
                st.exited[on] = True
                st.pc[m & ~on] += 1
        return run

    if op == "bar.warp.sync":
        # The lanes of a warp move together here; the barrier only needs
        # all of them (the full mask).
        if a != ["-1"] or ins.pred is not None:
            raise EmulationError(f"unsupported {ins.text}")

        def run(st, on, m):
            on_ = st.mask_of(on)
            _full_groups(st, on_, 32, "bar.warp.sync")
            if st.race is not None:
                st.race.join(st.tid[on_], 32)
            st.advance(m)
        return run
    if name == "bar" and len(a) == 2:
        return _compile_named_barrier(k, ins, a)
    if name == "bar":
        # The scheduler runs it once the whole block has arrived (Launch.run).
        if op != "bar.sync" or a != ["0"] or ins.pred is not None:
            raise EmulationError(f"unsupported {ins.text}")

        def run(st, on, m):
            if st.race is not None:  # (the whole block is here)
                st.race.join(st.tid[st.mask_of(on)], st.nthreads)
            st.advance(m)
        return run
    if op in ("fence.proxy.async.shared::cta", "fence.mbarrier_init.release.cluster"):
        def run(st, on, m):
            st.advance(m)
        return run

    if name == "shfl":
        if op != "shfl.sync.bfly.b32" or a[3] != "31" or a[4] != "-1":
            raise EmulationError(f"unsupported {ins.text}")
        src_r = reader(k, a[1], "u32")
        lane_r = reader(k, a[2], "u32")

        def run(st, on, m):
            on_ = st.mask_of(on)
            _full_groups(st, on_, 32, "shfl.sync")
            v = _each(st, src_r)
            lm = _each(st, lane_r).astype(np.int64)
            partner = (st.tid // 32) * 32 + ((st.tid % 32) ^ (lm & 31))
            st.put(a[0], v[partner], on)
            st.advance(m)
        return run

    if op in ("setmaxnreg.inc.sync.aligned.u32", "setmaxnreg.dec.sync.aligned.u32"):
        # Registers are not a resource here; the scheduler checks the whole
        # warpgroup arrives (it is .aligned).
        imm = _imm(a[0])
        if imm is None or imm[0] != "int" or not (24 <= imm[1] <= 256) or imm[1] % 8:
            raise EmulationError("setmaxnreg takes a multiple of 8 in [24, 256]")

        def run(st, on, m):
            st.advance(m)
        return run
    if name == "mbarrier":
        return _compile_mbarrier(k, ins, parts, a)
    if name == "cp":
        return _compile_cp(k, ins, parts, a)
    if name == "ldmatrix":
        return _compile_ldmatrix(k, ins, parts, a)
    if name == "mma":
        return _compile_mma(k, ins, parts, a)
    if name == "wgmma":
        return _compile_wgmma(k, ins, parts, a)
    raise EmulationError(f"unsupported instruction {op}")
