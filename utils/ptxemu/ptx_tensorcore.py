"""The tensor-core instructions: ldmatrix, mma.sync (m16n8k16) and
wgmma (fence, commit / wait groups, mma_async with shared-memory matrix
descriptors in the PTX ISA's canonical layouts), with their fragment
layouts.
"""

import re

import numpy as np

from ptx_memory import SHARED_BASE, bf16_to_f64, bits32, f16_to_f64, f32
from ptx_operands import _each, _full_groups, address, reader
from ptx_program import U32, EmulationError


# -- ldmatrix / mma.sync -------------------------------------------------------

def _regs_list(tok):
    if not (tok.startswith("{") and tok.endswith("}")):
        raise EmulationError(f"expected a register list, got {tok}")
    return [x.strip() for x in tok[1:-1].split(",")]


def _compile_ldmatrix(k, ins, parts, a):
    if "m8n8" not in parts or "b16" not in parts or "shared" not in parts:
        raise EmulationError(f"unsupported {ins.op}")
    num = {"x1": 1, "x2": 2, "x4": 4}[[p for p in parts if p.startswith("x")][0]]
    trans = "trans" in parts
    dsts = _regs_list(a[0])
    if len(dsts) != num:
        raise EmulationError("ldmatrix: wrong number of destinations")
    ak, base_r, off = address(k, a[1])
    lane = np.arange(32)

    def run(st, on, m):
        on_ = st.mask_of(on)
        warps = _full_groups(st, on_, 32, "ldmatrix")
        tids = (warps[:, None] * 32 + lane).reshape(-1)
        addrs = _each(st, base_r)[tids] + np.uint64(off)
        if (addrs % np.uint64(16)).any():
            raise EmulationError("ldmatrix: row address not 16-byte aligned")
        offs = st.smem_offsets(addrs, 16, tids, "ldmatrix")
        if st.race is not None:
            st.race.read(tids, offs, 16)
        rows = st.smem[st.blk[tids][:, None], offs[:, None] + np.arange(16)]
        rows = rows.reshape(len(warps), 32, 16).copy().view(np.uint16)  # [w, 32, 8]
        for j, d in enumerate(dsts):
            mat = rows[:, 8 * j: 8 * j + 8, :]  # [w, 8 rows, 8 cols]
            if trans:
                mat = mat.transpose(0, 2, 1)
            lo = mat[:, lane // 4, 2 * (lane % 4)]
            hi = mat[:, lane // 4, 2 * (lane % 4) + 1]
            st.scatter(d, tids, (lo.astype(U32) | (hi.astype(U32) << 16)).reshape(-1))
        st.advance(m)
    return run


def _unpack(v, is_bf16):
    lo = (v & U32(0xFFFF)).astype(np.uint16)
    hi = (v >> U32(16)).astype(np.uint16)
    cv = bf16_to_f64 if is_bf16 else f16_to_f64
    return cv(lo), cv(hi)


def _a_fragment(regs, is_bf16):
    """mma m16k16 A fragment: regs [w, 32 lanes, 4] u32 -> [w, 16, 16]."""
    w = regs.shape[0]
    A = np.zeros((w, 16, 16))
    lane = np.arange(32)
    g, c = lane // 4, lane % 4
    for i, (r0, c0) in enumerate([(0, 0), (8, 0), (0, 8), (8, 8)]):
        lo, hi = _unpack(regs[:, :, i], is_bf16)
        A[:, g + r0, 2 * c + c0] = lo
        A[:, g + r0, 2 * c + c0 + 1] = hi
    return A


def _compile_mma(k, ins, parts, a):
    if ins.op not in ("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32",
                      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32"):
        raise EmulationError(f"unsupported {ins.op}")
    is_bf16 = "bf16" in parts
    d, ar, br, cr = (_regs_list(x) for x in a)
    lane = np.arange(32)
    g, c = lane // 4, lane % 4

    def run(st, on, m):
        on_ = st.mask_of(on)
        warps = _full_groups(st, on_, 32, "mma.sync")
        tids = (warps[:, None] * 32 + lane)
        A = _a_fragment(np.stack([st.get(r)[tids] for r in ar], -1), is_bf16)
        B = np.zeros((len(warps), 16, 8))
        for i, k0 in enumerate((0, 8)):
            lo, hi = _unpack(st.get(br[i])[tids], is_bf16)
            B[:, 2 * c + k0, g] = lo
            B[:, 2 * c + k0 + 1, g] = hi
        C = np.zeros((len(warps), 16, 8))
        cv = [f32(st.get(r)[tids]).astype(np.float64) for r in cr]
        for i, (r0, c0) in enumerate([(0, 0), (0, 1), (8, 0), (8, 1)]):
            C[:, g + r0, 2 * c + c0] = cv[i]
        D = (A @ B + C).astype(np.float32)
        for i, (r0, c0) in enumerate([(0, 0), (0, 1), (8, 0), (8, 1)]):
            st.scatter(d[i], tids.reshape(-1), bits32(D[:, g + r0, 2 * c + c0]).reshape(-1))
        st.advance(m)
    return run


# -- wgmma ---------------------------------------------------------------------

def _desc_addresses(desc, rows, cols, mn_major, esize):
    """Byte addresses (shared window) of a rows x cols operand (rows: the M
    or N dimension, cols: K) described by 64-bit matrix descriptors `desc`
    [g], by the PTX ISA's canonical layouts. Returns [g, rows, cols]."""
    desc = desc.astype(np.uint64)
    start = ((desc & np.uint64(0x3FFF)) << np.uint64(4)).astype(np.int64)
    lbo = (((desc >> np.uint64(16)) & np.uint64(0x3FFF)) << np.uint64(4)).astype(np.int64)
    sbo = (((desc >> np.uint64(32)) & np.uint64(0x3FFF)) << np.uint64(4)).astype(np.int64)
    base_off = ((desc >> np.uint64(49)) & np.uint64(7)).astype(np.int64)
    mode = (desc >> np.uint64(62)).astype(np.int64)
    if (base_off != 0).any():
        raise EmulationError("matrix descriptor base offset != 0 is not modeled")
    if (mode != mode[0]).any():
        raise EmulationError("descriptors of one instruction differ in swizzle")
    swz = {0: 0, 1: 3, 2: 2, 3: 1}[int(mode[0])]  # log2(swizzle bytes / 16)
    t = 16 // esize  # elements per 16 bytes
    r = np.arange(rows)[:, None]
    kk = np.arange(cols)[None, :]
    S, L = sbo[:, None, None], lbo[:, None, None]
    if swz == 0:
        if mn_major:  # ((T,1,m),(8,k)):((1,T,SBO),(1T,LBO))
            off = ((r % t) * esize + (r // t) * S + (kk % 8) * 16 + (kk // 8) * L)
        else:  # ((8,m),(T,2k)):((1T,SBO),(1,LBO))
            off = ((r % 8) * 16 + (r // 8) * S + (kk % t) * esize + (kk // t) * L)
    else:
        width = 16 << swz  # bytes of one swizzle row
        if mn_major:  # ((T,2^s,m),(8,k)):((1,T,LBO),(2^s T,SBO))
            per = width // esize
            off = ((r % per) * esize + (r // per) * L + (kk % 8) * width + (kk // 8) * S)
        else:  # ((8,m),(T,2^s... )):((2^s T,SBO),(1,T)); K within one row
            if cols * esize > width:
                raise EmulationError("K extent wider than the swizzle row")
            off = ((r % 8) * width + (r // 8) * S + kk * esize)
    addr = start[:, None, None] + off
    if swz:
        mask = ((1 << swz) - 1) << 4
        addr = addr ^ ((addr >> 3) & mask)
    return addr


def _read_operand(st, issued, blocks, desc, rows, cols, mn_major, is_bf16, what):
    """The operand matrices the descriptors name, read by the wgmmas
    `issued` (the race check's records, one per descriptor; None without
    it)."""
    addr = _desc_addresses(desc, rows, cols, mn_major, 2)
    flat = addr.reshape(len(desc), -1)
    off = flat - SHARED_BASE
    if ((off < 0) | (off + 2 > st.shared_bytes)).any():
        raise EmulationError(f"{what}: descriptor addresses outside shared memory")
    if st.race is not None:
        for one, o in zip(issued, off):
            st.race.read_wgmma(one, o)
    lo = st.smem[blocks[:, None], off]
    hi = st.smem[blocks[:, None], off + 1]
    h = (lo.astype(np.uint16) | (hi.astype(np.uint16) << 8))
    vals = bf16_to_f64(h) if is_bf16 else f16_to_f64(h)
    return vals.reshape(len(desc), rows, cols)


def _d_layout(n):
    """Warpgroup accumulator fragment: index arrays (thread, reg) -> (row, col)."""
    t = np.arange(128)[:, None]
    i = np.arange(n // 2)[None, :]
    w, lane = t // 32, t % 32
    row = 16 * w + lane // 4 + 8 * ((i // 2) % 2)
    col = 8 * (i // 4) + 2 * (lane % 4) + (i % 2)
    return row, col


def _compile_wgmma(k, ins, parts, a):
    op = ins.op
    if op == "wgmma.fence.sync.aligned":
        def run(st, on, m):
            _full_groups(st, st.mask_of(on), 128, "wgmma.fence")
            st.advance(m)
        return run
    if op == "wgmma.commit_group.sync.aligned":
        def run(st, on, m):
            wgs = _full_groups(st, st.mask_of(on), 128, "wgmma.commit_group")
            st.wg_committed[wgs] += 1
            st.advance(m)
        return run
    if op == "wgmma.wait_group.sync.aligned":
        n = int(a[0])

        def run(st, on, m):
            wgs = _full_groups(st, st.mask_of(on), 128, "wgmma.wait_group")
            sel_wg = np.zeros(len(st.wg_committed), bool)
            sel_wg[wgs] = True
            keep = []
            for rec in st.wgmmas:
                sel = ~rec["done"] & sel_wg[rec["wgs"]] & (
                    rec["group"] < st.wg_committed[rec["wgs"]] - n)
                if sel.any():
                    _wgmma_complete(st, rec, sel)
                if not rec["done"].all():
                    keep.append(rec)
            st.wgmmas = keep
            st.advance(m)
        return run
    m_ = re.match(r"wgmma\.mma_async\.sync\.aligned\.m64n(\d+)k16\.f32\.(bf16|f16)\.(bf16|f16)$", op)
    if not m_:
        raise EmulationError(f"unsupported {op}")
    n = int(m_.group(1))
    is_bf16 = m_.group(2) == "bf16"
    d = _regs_list(a[0])
    if len(d) != n // 2:
        raise EmulationError("wgmma: wrong accumulator count")
    a_regs = _regs_list(a[1]) if a[1].startswith("{") else None
    if a_regs is None:
        # d, a-desc, b-desc, scale-d, imm-scale-a, imm-scale-b, imm-trans-a, imm-trans-b
        a_desc_r = reader(k, a[1], "u64")
        b_desc_r = reader(k, a[2], "u64")
        scale_r = reader(k, a[3], "pred")
        imms = [int(x) for x in a[4:8]]
        trans_a, trans_b = imms[2], imms[3]
    else:
        # d, {a}, b-desc, scale-d, imm-scale-a, imm-scale-b, imm-trans-b
        a_desc_r = None
        b_desc_r = reader(k, a[2], "u64")
        scale_r = reader(k, a[3], "pred")
        imms = [int(x) for x in a[4:7]]
        trans_a, trans_b = 0, imms[2]
    if imms[0] != 1 or imms[1] != 1:
        raise EmulationError("wgmma: negated inputs are not modeled")
    row, col = _d_layout(n)

    def run(st, on, m):
        on_ = st.mask_of(on)
        wgs = _full_groups(st, on_, 128, "wgmma.mma_async")
        tids = wgs[:, None] * 128 + np.arange(128)
        blocks = st.blk[tids[:, 0]]

        def uniform(r, what):
            v = _each(st, r)[tids]
            if (v != v[:, :1]).any():
                raise EmulationError(f"wgmma: {what} differs within a warpgroup")
            return v[:, 0]
        rec = {"wgs": wgs, "tids": tids, "blocks": blocks,
               "group": st.wg_committed[wgs].copy(),
               "done": np.zeros(len(wgs), bool),
               "scale": uniform(scale_r, "scale-d"),
               "b_desc": uniform(b_desc_r, "the B descriptor"),
               "a_desc": uniform(a_desc_r, "the A descriptor") if a_desc_r else None,
               "n": n, "is_bf16": is_bf16, "trans_a": trans_a, "trans_b": trans_b,
               "d": d, "a_regs": a_regs, "row": row, "col": col}
        if st.race is not None:
            rec["race"] = [st.race.issue_wgmma(t) for t in tids]
        if st.timing == "copies-late":
            _wgmma_read(st, rec, np.ones(len(wgs), bool))
        st.wgmmas.append(rec)
        st.advance(m)
    return run


def _wgmma_read(st, rec, sel):
    """Reads the operands (shared memory and registers) of `sel` into rec."""
    tids, blocks, n = rec["tids"][sel], rec["blocks"][sel], rec["n"]
    issued = [rec["race"][i] for i in np.nonzero(sel)[0]] if st.race is not None else None
    if rec["a_regs"] is None:
        A = _read_operand(st, issued, blocks, rec["a_desc"][sel], 64, 16,
                          rec["trans_a"] == 1, rec["is_bf16"], "wgmma A")
    else:
        regs = np.stack([st.get(r)[tids] for r in rec["a_regs"]], -1)  # [g,128,4]
        g = len(tids)
        A = _a_fragment(regs.reshape(g * 4, 32, 4), rec["is_bf16"]).reshape(g, 64, 16)
    B = _read_operand(st, issued, blocks, rec["b_desc"][sel], n, 16, rec["trans_b"] == 1,
                      rec["is_bf16"], "wgmma B")  # [g, n, 16]
    rec.setdefault("operands", {})
    for j, idx in enumerate(np.nonzero(sel)[0]):
        rec["operands"][idx] = (A[j], B[j])


def _wgmma_complete(st, rec, sel):
    if st.timing == "mma-late":
        _wgmma_read(st, rec, sel)
    row, col = rec["row"], rec["col"]
    for idx in np.nonzero(sel)[0]:
        A, B = rec["operands"].pop(idx)
        tids = rec["tids"][idx]
        if st.race is not None:  # (the reads are done)
            st.race.retire_wgmma(rec["race"][idx], tids)
        prod = A @ B.T  # [64, n]
        Cmat = np.zeros((64, rec["n"]))
        if rec["scale"][idx]:
            # The accumulators as the wgmmas before this one in the chain
            # left them (the tensor core orders wgmmas on one accumulator).
            acc = np.stack([f32(st.get(r)[tids]) for r in rec["d"]], -1)
            Cmat[row, col] = acc.astype(np.float64)
        D = (prod + Cmat).astype(np.float32)
        vals = D[row, col]  # [128, n/2]
        for i, r in enumerate(rec["d"]):
            st.scatter(r, tids, bits32(vals[:, i]))
    rec["done"] |= sel
