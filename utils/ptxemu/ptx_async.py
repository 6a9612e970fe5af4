"""The block's synchronization and asynchronous copies: named barriers
(bar.sync / bar.arrive ID, COUNT), cp.async and its groups, TMA loads and
stores (cp.async.bulk.tensor), how copies land in shared memory, and
mbarriers (init, arrive, expect_tx, try_wait, and the arrivals the copies
make).
"""

import re

import numpy as np

from ptx_operands import _each, _full_groups, _imm, _mbarrier_operand, address, reader
from ptx_program import EmulationError


# -- named barriers ------------------------------------------------------------

def _compile_named_barrier(k, ins, a):
    """bar.sync / bar.arrive ID, COUNT: whole warps arrive on barrier ID of
    their block; it completes at COUNT arrivals (a multiple of 32, the same
    for every arrival of a phase), which wakes the threads asleep in its
    bar.sync and starts the next phase. bar.arrive does not wait."""
    if ins.op not in ("bar.sync", "bar.arrive") or ins.pred is not None:
        raise EmulationError(f"unsupported {ins.text}")
    sync = ins.op == "bar.sync"
    id_r = reader(k, a[0], "u32")
    count_r = reader(k, a[1], "u32")

    def run(st, on, m):
        on_ = st.mask_of(on)
        _full_groups(st, on_, 32, ins.op)
        tids = st.tid[on_]
        ids = _each(st, id_r)[on_].astype(np.int64)
        counts = _each(st, count_r)[on_].astype(np.int64)
        if ((ids < 0) | (ids > 15)).any():
            raise EmulationError(f"{ins.op}: barrier id outside 0..15")
        bad = (counts <= 0) | (counts % 32 != 0) | (counts > st.nthreads)
        if bad.any():
            raise EmulationError(f"{ins.op}: thread count {int(counts[bad][0])} "
                                 f"is not a multiple of 32 in 32..{st.nthreads}")
        keys = st.blk[tids].astype(np.int64) * 16 + ids
        st.advance(m)
        if sync:
            st.bwait[tids] = True
            st.bwait_key[tids] = keys
        for key in np.unique(keys).tolist():
            sel = keys == key
            cs = set(counts[sel].tolist())
            bk = (key // 16, key % 16)
            b = st.nbar.setdefault(bk, {"expected": min(cs), "arrived": 0})
            if cs != {b["expected"]}:
                raise EmulationError(
                    f"{ins.op}: barrier {key % 16} arrived on with thread "
                    f"counts {sorted(cs | {b['expected']})} in one phase")
            b["arrived"] += int(sel.sum())
            if st.race is not None:
                st.race.arrive_named(bk, tids[sel])
            if b["arrived"] > b["expected"]:
                raise EmulationError(
                    f"{ins.op}: more than {b['expected']} arrivals on barrier "
                    f"{key % 16} at once (one step's warps are not split "
                    f"into phases here)")
            if b["arrived"] == b["expected"]:
                del st.nbar[bk]
                if st.race is not None:
                    st.race.complete_named(bk, st.tid[st.bwait & (st.bwait_key == key)])
                st.bwait &= ~(st.bwait_key == key)
    return run


# -- cp.async ----------------------------------------------------------------

def _compile_cp(k, ins, parts, a):
    op = ins.op
    if op == "cp.async.commit_group":
        def run(st, on, m):
            on_ = st.mask_of(on)
            st.cp_committed[on_] += 1
            st.advance(m)
        return run
    if op == "cp.async.wait_group":
        n = int(a[0])

        def run(st, on, m):
            _retire_copies(st, st.mask_of(on), n)
            st.advance(m)
        return run
    if op == "cp.async.mbarrier.arrive.noinc.shared::cta.b64":
        bar = _mbarrier_operand(k, a[0], op)

        def run(st, on, m):
            on_, tids, offs = bar(st, on)
            # The copies this thread has issued and that have not landed.
            snap = [(rec, ~rec["done"] & on_[rec["tids"]]) for rec in st.copies]
            arrival = {"tids": tids, "offs": offs, "snap": snap,
                       "clocks": None if st.race is None else st.race.release(tids)}
            if st.timing == "copies-late":
                st.async_arrivals.append(arrival)
            else:
                _fire_async_arrival(st, arrival)
            st.advance(m)
        return run
    if re.fullmatch(r"cp\.async\.bulk\.tensor\.[1-5]d\.global\.shared::cta\.bulk_group", op):
        return _compile_bulk_store(k, ins, a)
    if op.startswith("cp.async.bulk.tensor."):
        return _compile_bulk_tensor(k, ins, a)
    if op == "cp.async.bulk.commit_group":
        def run(st, on, m):
            st.bulk_committed[st.mask_of(on)] += 1
            st.advance(m)
        return run
    if op in ("cp.async.bulk.wait_group", "cp.async.bulk.wait_group.read"):
        n = int(a[0])

        def run(st, on, m):
            waiting = set(st.tid[st.mask_of(on)].tolist())
            keep = []
            for rec in st.bulk_stores:
                t, group, store = rec
                if t in waiting and group < st.bulk_committed[t] - n:
                    store(st)
                else:
                    keep.append(rec)
            st.bulk_stores = keep
            st.advance(m)
        return run
    if op != "cp.async.cg.shared.global":
        raise EmulationError(f"unsupported {op}")
    dk, dst_r, doff = address(k, a[0])
    sk, src_r, soff = address(k, a[1])
    if dk != "reg" or sk != "reg":
        raise EmulationError(f"unsupported {ins.text}")
    size = int(a[2])
    if size != 16:
        raise EmulationError("cp.async.cg copies 16 bytes")
    srcsize_r = reader(k, a[3], "u32") if len(a) > 3 else None

    def run(st, on, m):
        on_ = st.mask_of(on)
        tids = st.tid[on_]
        dst = _each(st, dst_r)[on_] + np.uint64(doff)
        src = _each(st, src_r)[on_] + np.uint64(soff)
        ssz = (_each(st, srcsize_r)[on_].astype(np.int64)
               if srcsize_r else np.full(len(tids), 16, np.int64))
        if (ssz > 16).any():
            raise EmulationError("cp.async src-size above 16")
        if (dst % np.uint64(16)).any() or (src[ssz > 0] % np.uint64(16)).any():
            raise EmulationError("cp.async: address not 16-byte aligned")
        offs = st.smem_offsets(dst, 16, tids, "cp.async destination")
        if st.race is not None:
            st.race.write(tids, offs, 16)
        data = np.zeros((len(tids), 16), np.uint8)
        reading = ssz > 0
        if reading.any():
            got = st.gmem.read(src[reading], 16, tids[reading], "cp.async source")
            keep = np.arange(16)[None, :] < ssz[reading][:, None]
            data[reading] = np.where(keep, got, 0)
        rec = {"tids": tids, "blk": st.blk[tids], "offs": offs, "data": data,
               "group": st.cp_committed[tids].copy(),
               "done": np.zeros(len(tids), bool)}
        if st.timing == "copies-late":
            st.copies.append(rec)
        else:
            _land(st, rec, np.ones(len(tids), bool))
        st.advance(m)
    return run


def _box_chunks(st, tm, addr, nbytes, t, what):
    """The shared offsets of the 16-byte chunks of a box of `nbytes` at
    shared address `addr`: rows one after another, each row's chunks
    swizzled by the address bits above the swizzle span (as wgmma reads
    them)."""
    if addr % 128:
        raise EmulationError(f"thread {t}: TMA shared address {addr:#x} "
                             f"not 128-byte aligned")
    n = nbytes // 16
    chunk = addr + 16 * np.arange(n, dtype=np.int64)
    if tm.swizzle:
        mask = tm.swizzle - 16
        chunk = chunk ^ ((chunk >> 3) & mask)
    return st.smem_offsets(chunk.astype(np.uint64), 16, np.full(n, t), what)


def _tensor_operand(k, ins, tok):
    """[map, {c0, c1, ..}] of cp.async.bulk.tensor -> fn(st, on_) giving,
    for each executing thread, its map's (generic) address and its box
    coordinates (rows of ints)."""
    mm = re.match(r"^\[\s*([%\w$.]+)\s*,\s*\{(.*)\}\s*\]$", tok)
    if not mm:
        raise EmulationError(f"unsupported {ins.text}")
    map_r = reader(k, mm.group(1), "u64")
    coord_rs = [reader(k, c.strip(), "s32") for c in mm.group(2).split(",")]

    def operand(st, on_):
        maps = _each(st, map_r)[on_].astype(np.int64)
        coords = np.stack([_each(st, r)[on_].astype(np.int64) for r in coord_rs], 1)
        return maps, coords
    return operand


def _compile_bulk_store(k, ins, a):
    """cp.async.bulk.tensor.Nd.global.shared::cta.bulk_group [map, {c..}],
    [smem]: the box read from shared memory (swizzled as a load writes
    it) and written to the tensor, clipped. With "copies-late" both happen
    only at the cp.async.bulk.wait_group that retires the store's group (a
    tile rewritten before that is what gets stored); with "mma-late" at
    once (a tile read before every thread wrote it shows)."""
    tensor = _tensor_operand(k, ins, a[0])
    sk, src_r, soff = address(k, a[1])
    if sk != "reg":
        raise EmulationError(f"unsupported {ins.text}")

    def run(st, on, m):
        on_ = st.mask_of(on)
        tids = st.tid[on_]
        srcs = _each(st, src_r)[on_].astype(np.int64) + soff
        maps, coords = tensor(st, on_)
        for i, t in enumerate(tids.tolist()):
            tm = st.tensor_map(int(maps[i]), t)
            nbytes = int(np.prod(tm.box)) * tm.eb
            offs = _box_chunks(st, tm, int(srcs[i]), nbytes, t,
                               "cp.async.bulk.tensor source")
            box_at = coords[i].tolist()
            if st.race is not None:
                st.race.read(np.full(len(offs), t), offs, 16)

            def store(st, t=t, tm=tm, offs=offs, box_at=box_at):
                rows = st.smem[st.blk[t], offs[:, None] + np.arange(16)]
                tm.store(st.gmem, box_at, rows.reshape(-1), t)
            if st.timing == "copies-late":
                st.bulk_stores.append((t, int(st.bulk_committed[t]), store))
            else:
                store(st)
        st.advance(m)
    return run


def _compile_bulk_tensor(k, ins, a):
    op = ins.op
    if op not in ("cp.async.bulk.tensor.%dd.shared::cluster.global.tile."
                  "mbarrier::complete_tx::bytes" % r for r in range(1, 6)):
        raise EmulationError(f"unsupported {op}")
    dk, dst_r, doff = address(k, a[0])
    if dk != "reg":
        raise EmulationError(f"unsupported {ins.text}")
    tensor = _tensor_operand(k, ins, a[1])
    bar = _mbarrier_operand(k, a[2], op)

    def run(st, on, m):
        on_, tids, bar_offs = bar(st, on)
        dsts = _each(st, dst_r)[on_].astype(np.int64) + doff
        maps, coords = tensor(st, on_)
        # One arrival for the instruction's boxes (every executing thread's),
        # as for the copies of one cp.async.mbarrier.arrive.
        boxes = []
        for i, t in enumerate(tids.tolist()):
            tm = st.tensor_map(int(maps[i]), t)
            rows = tm.load(st.gmem, coords[i].tolist(), t)
            n = rows.shape[0] * rows.shape[1] // 16
            offs = _box_chunks(st, tm, int(dsts[i]), n * 16, t,
                               "cp.async.bulk.tensor destination")
            rec = {"tids": np.full(n, t), "blk": np.full(n, st.blk[t]), "offs": offs,
                   "data": rows.reshape(n, 16), "done": np.zeros(n, bool)}
            clock = None
            if st.race is not None:
                st.race.write(rec["tids"], offs, 16)
                clock = st.race.release(np.array([t]))
            boxes.append((rec, (int(st.blk[t]), int(bar_offs[i])), n * 16, clock))
        if st.timing == "copies-late":
            st.async_arrivals.append({"boxes": boxes})
        else:
            _fire_async_arrival(st, {"boxes": boxes})
        st.advance(m)
    return run


def _land(st, rec, sel):
    if not sel.any():
        return
    blk, offs, data = rec["blk"][sel], rec["offs"][sel], rec["data"][sel]
    if len(st.mbar_offs):
        bars = st.mbar_offs
        hit = (offs[:, None] < bars[None, :] + 8) & (offs[:, None] + 16 > bars[None, :])
        if hit.any():
            raise EmulationError("a cp.async lands on an mbarrier")
    st.smem[blk[:, None], offs[:, None] + np.arange(16)] = data
    rec["done"] |= sel


def _retire_copies(st, on_, n):
    keep = []
    for rec in st.copies:
        t = rec["tids"]
        sel = ~rec["done"] & on_[t] & (rec["group"] < st.cp_committed[t] - n)
        _land(st, rec, sel)
        if not rec["done"].all():
            keep.append(rec)
    st.copies = keep


# -- mbarriers -----------------------------------------------------------------

def _barriers(st, tids, offs, what):
    """The distinct barriers the threads name: their states, each thread's
    index into them, and how many threads name each."""
    keys, inverse, counts = np.unique(np.stack([st.blk[tids], offs], 1), axis=0,
                                      return_inverse=True, return_counts=True)
    states = []
    for blk, off in keys.tolist():
        b = st.mbar.get((blk, off))
        if b is None:
            raise EmulationError(f"{what}: mbarrier at shared offset {off} "
                                 f"used before mbarrier.init")
        states.append((blk, off, b))
    return states, inverse.reshape(-1), counts.tolist()


def _complete_if_done(st, blk, off, b):
    """Ends the current phase of barrier b once its arrivals and its
    transaction bytes are all in; wakes the threads waiting for it."""
    if b["pending"] != 0 or b["tx"] != 0:
        return
    if st.race is not None:
        st.race.complete_mbarrier((blk, off), b["phase"])
    b["phase"] += 1
    b["pending"] = b["expected"]
    done = (st.mwait & (st.blk == blk) & (st.mwait_off == off)
            & (st.mwait_parity != (b["phase"] & 1)))
    st.mwait &= ~done


def _arrive(st, tids, offs, what, expect_tx=0, clocks=None):
    """One arrival per thread in `tids` on its barrier (after raising its
    transaction count by `expect_tx` bytes); completed phases wake the
    threads waiting for them. With the race check, each arrival releases
    `clocks` (a row per thread: what it knew when it issued a copy) or
    the thread's clock now."""
    states, inverse, counts = _barriers(st, tids, offs, what)
    if st.race is not None and clocks is None:
        clocks = st.race.release(tids)
    for i, ((blk, off, b), n) in enumerate(zip(states, counts)):
        mine = None if clocks is None else clocks[inverse == i]
        while n > 0:  # a phase's worth of arrivals at a time
            if b["pending"] == 0:
                raise EmulationError(
                    f"{what}: more arrivals on the mbarrier at shared offset "
                    f"{off} than its count while its phase waits for "
                    f"{b['tx']} transaction bytes")
            step = min(n, b["pending"])
            if mine is not None:  # (the first `step` of them are this phase's)
                st.race.arrive_mbarrier((blk, off), mine[:step])
                mine = mine[step:]
            b["tx"] += expect_tx * step
            b["pending"] -= step
            n -= step
            _complete_if_done(st, blk, off, b)


def _complete_tx(st, blk, off, nbytes, what, clock=None):
    b = st.mbar.get((blk, off))
    if b is None:
        raise EmulationError(f"{what}: mbarrier at shared offset {off} "
                             f"used before mbarrier.init")
    if clock is not None:
        st.race.arrive_mbarrier((blk, off), clock)
    b["tx"] -= nbytes
    _complete_if_done(st, blk, off, b)


def _fire_async_arrival(st, arrival):
    if "call" in arrival:  # a held-back atomic
        arrival["call"](st)
        return
    if "boxes" in arrival:  # TMA boxes: each lands, then completes its bytes
        for rec, (blk, off), nbytes, clock in arrival["boxes"]:
            _land(st, rec, np.ones(len(rec["tids"]), bool))
            _complete_tx(st, blk, off, nbytes, "cp.async.bulk.tensor", clock)
        return
    for rec, sel in arrival["snap"]:
        _land(st, rec, sel & ~rec["done"])
    st.copies = [rec for rec in st.copies if not rec["done"].all()]
    _arrive(st, arrival["tids"], arrival["offs"], "cp.async.mbarrier.arrive",
            clocks=arrival["clocks"])


def _compile_mbarrier(k, ins, parts, a):
    op = ins.op
    if op == "mbarrier.init.shared::cta.b64":
        bar = _mbarrier_operand(k, a[0], op)
        count_r = reader(k, a[1], "u32")

        def run(st, on, m):
            on_, tids, offs = bar(st, on)
            counts = _each(st, count_r)[on_]
            for t, off, c in zip(tids.tolist(), offs.tolist(), counts.tolist()):
                key = (int(st.blk[t]), off)
                if key in st.mbar:
                    raise EmulationError(f"thread {t}: mbarrier at shared offset "
                                         f"{off} initialized twice")
                if not 1 <= c < 1 << 20:
                    raise EmulationError(f"mbarrier count {c} out of range")
                st.mbar[key] = {"expected": c, "pending": c, "phase": 0, "tx": 0}
            st.mbar_offs = np.unique([o for _, o in st.mbar]).astype(np.int64)
            st.advance(m)
        return run
    if op == "mbarrier.arrive.shared::cta.b64":
        if a[0] != "_":
            raise EmulationError("mbarrier.arrive: only the sink '_' state is supported")
        bar = _mbarrier_operand(k, a[1], op)

        def run(st, on, m):
            _, tids, offs = bar(st, on)
            _arrive(st, tids, offs, op)
            st.advance(m)
        return run
    if op == "mbarrier.arrive.expect_tx.shared::cta.b64":
        if a[0] != "_":
            raise EmulationError(f"{op}: only the sink '_' state is supported")
        bar = _mbarrier_operand(k, a[1], op)
        tx = _imm(a[2])
        if tx is None or tx[0] != "int" or not 0 <= tx[1] < 1 << 20:
            raise EmulationError(f"{op}: a transaction count in [0, 2^20) expected")

        def run(st, on, m):
            _, tids, offs = bar(st, on)
            _arrive(st, tids, offs, op, expect_tx=tx[1])
            st.advance(m)
        return run
    if op == "mbarrier.try_wait.parity.shared::cta.b64":
        bar = _mbarrier_operand(k, a[1], op)
        parity_r = reader(k, a[2], "u32")

        def run(st, on, m):
            # Completes once the phase of that parity is over (the current
            # phase has the other parity); until then the thread sleeps.
            on_, tids, offs = bar(st, on)
            parity = _each(st, parity_r)[on_].astype(np.int64) & 1
            states, inverse, _ = _barriers(st, tids, offs, op)
            phase = np.array([b["phase"] for _, _, b in states], np.int64)[inverse]
            ok = (phase & 1) != parity
            wait = tids[~ok]
            st.mwait[wait] = True
            st.mwait_off[wait] = offs[~ok]
            st.mwait_parity[wait] = parity[~ok]
            if st.race is not None:
                for i, (blk, off, _) in enumerate(states):
                    for p in (0, 1):
                        sel = ok & (inverse == i) & (parity == p)
                        if sel.any():
                            st.race.wait_mbarrier((blk, off), p, tids[sel])
            done = np.zeros(st.n, bool)
            done[tids[ok]] = True
            st.put(a[0], np.ones(st.n, bool), done)
            st.advance(done | (m & ~on_))
        return run
    raise EmulationError(f"unsupported {op}")
