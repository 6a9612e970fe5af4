"""A kernel launch (Launch): the threads' state (registers, program
counters, shared memory, the pending asynchronous work), the scheduler
that runs them (SCHEDULES: the warp orders) under a timing model
("copies-late" / "mma-late"), and the tensor-map parameters.
"""

import numpy as np

from ptx_async import _fire_async_arrival
from ptx_memory import PARAM_BASE, PARAM_GENERIC, PARAM_STRIDE, SHARED_BASE, TensorMap
from ptx_program import SPECIAL_REGISTERS, U32, EmulationError
from ptx_race import RaceCheck
from ptx_scalar import compile_instr


SCHEDULES = ("lockstep", "ascending", "descending")


def _collective_group(ins, nthreads):
    """Threads that must all arrive before `ins` runs: the block for
    bar.sync 0, the warp for a named barrier (bar.sync / bar.arrive ID,
    COUNT: the warp arrives as one) and for bar.warp.sync, the warpgroup
    for wgmma; 0 for everything else (a warp's lanes move together)."""
    if ins.op == "bar.warp.sync":
        return 32
    if ins.op.startswith("bar."):
        return nthreads if len(ins.args) == 1 else 32
    if ins.op.startswith("wgmma.") or ins.op.startswith("setmaxnreg."):
        return 128
    return 0


def _whole_warps(m):
    """Whether the threads in mask `m` (indexed by thread id) are whole
    warps: runs of 32 starting at multiples of 32 (the quick test before
    counting lanes)."""
    idx = np.flatnonzero(m)
    if len(idx) % 32:
        return False
    first, last = idx[::32], idx[31::32]
    return bool((first % 32 == 0).all() and (last - first == 31).all())


# ---------------------------------------------------------------------------
# Machine state
# ---------------------------------------------------------------------------

class Launch:
    """One kernel launch: grid, block, dynamic shared bytes, arguments."""

    def __init__(self, kernel, grid, block, shared_bytes, args, gmem,
                 timing="copies-late", schedule="lockstep", max_steps=5_000_000,
                 racecheck=False):
        if timing not in ("copies-late", "mma-late"):
            raise EmulationError(f"unknown timing '{timing}'")
        if schedule not in SCHEDULES:
            raise EmulationError(f"unknown schedule '{schedule}'")
        self.k, self.gmem, self.timing = kernel, gmem, timing
        self.schedule = schedule
        self.nthreads = block[0] * block[1] * block[2]
        if block[1] != 1 or block[2] != 1:
            raise EmulationError("only 1-D blocks are supported")
        self.nblocks = grid[0] * grid[1] * grid[2]
        n = self.nblocks * self.nthreads
        self.n = n
        if len(args) != len(kernel.params):
            raise EmulationError(
                f"{len(args)} arguments for {len(kernel.params)} parameters")
        self.params = dict(zip(kernel.params, args))
        static = getattr(kernel, "static_shared_bytes", 0)
        if static and shared_bytes:
            raise EmulationError("static and dynamic shared memory together "
                                 "are not supported")
        self.shared_bytes = shared_bytes or static
        shared_bytes = self.shared_bytes
        self.smem = np.full((self.nblocks, max(shared_bytes, 1)), 0xFF, np.uint8)
        tid = np.arange(n, dtype=np.int64)
        self.tid = tid
        self.blk = tid // self.nthreads
        self.tidx = (tid % self.nthreads).astype(U32)
        bx = self.blk % grid[0]
        by = (self.blk // grid[0]) % grid[1]
        bz = self.blk // (grid[0] * grid[1])
        zero = np.zeros(n, U32)
        values = (self.tidx, zero, zero, np.full(n, block[0], U32),
                  bx.astype(U32), by.astype(U32), bz.astype(U32),
                  np.full(n, grid[0], U32), np.full(n, grid[1], U32),
                  np.full(n, grid[2], U32), (self.tidx % 32).astype(U32))
        self.special = dict(zip(SPECIAL_REGISTERS, values))
        self.regs = {}
        self.pc = np.zeros(n, np.int64)
        self.exited = np.zeros(n, bool)
        # cp.async: per thread, the groups committed so far; pending copies.
        self.cp_committed = np.zeros(n, np.int64)
        # TMA stores (copies-late): (thread, its group, the store), and the
        # cp.async.bulk groups each thread has committed.
        self.bulk_stores = []
        self.bulk_committed = np.zeros(n, np.int64)
        self.copies = []  # dicts: tids, smem block, offsets, data, group
        # wgmma, per warpgroup (global index).
        nwg = n // 128 if self.nthreads % 128 == 0 else 0
        self.wg_committed = np.zeros(max(nwg, 1), np.int64)
        self.wgmmas = []
        # mbarriers: (block, shared offset) -> expected count, pending
        # count, phase; threads waiting in try_wait, for which barrier and
        # parity; cp.async arrivals not yet made (copies-late).
        self.mbar = {}
        self.mbar_offs = np.zeros(0, np.int64)  # their offsets, for _land
        self.mwait = np.zeros(n, bool)
        self.atom_wait = np.zeros(n, bool)  # atomics held back (copies-late)
        self.mwait_off = np.zeros(n, np.int64)
        self.mwait_parity = np.zeros(n, np.int64)
        self.async_arrivals = []
        # Named barriers (bar.sync / bar.arrive with a thread count):
        # (block, id) -> expected count, arrivals so far; threads asleep in
        # bar.sync, and on which (block * 16 + id).
        self.nbar = {}
        self.bwait = np.zeros(n, bool)
        self.bwait_key = np.zeros(n, np.int64)
        self.steps = 0
        self.max_steps = max_steps
        # Happens-before race detection on shared memory (ptx_race.py).
        self.race = RaceCheck(self) if racecheck else None
        self._group_ids = {}
        for ins in kernel.instrs:
            ins.group = _collective_group(ins, self.nthreads)
            if ins.fn is None:
                try:
                    ins.fn = compile_instr(kernel, ins)
                except EmulationError as e:
                    raise EmulationError(f"line {ins.line} ({ins.text}): {e}") from None

    # -- registers ---------------------------------------------------------

    def get(self, name):
        r = self.regs.get(name)
        if r is None:
            dt = self.k.reg_dtype(name)
            r = np.zeros(self.n, dt)
            self.regs[name] = r
        return r

    def scatter(self, name, tids, values):
        """Register `name` of threads `tids` := values (u32 bits), the
        result of a warp or warpgroup instruction."""
        cur = self.get(name).copy()
        cur[tids] = values
        self.regs[name] = cur

    def put(self, name, value, m):
        dt = self.k.reg_dtype(name)
        value = np.asarray(value)
        if value.dtype != dt:
            if dt is bool:
                value = value.astype(bool)
            elif value.dtype == np.float32:
                value = value.view(U32)
            else:
                value = value.astype(dt)
        if m is None:
            self.regs[name] = np.broadcast_to(value, (self.n,)).copy() \
                if value.ndim == 0 else value
        else:
            cur = self.get(name)
            if value.ndim == 0:
                cur = cur.copy()
                cur[m] = value
            else:
                cur = np.where(m, value, cur)
            self.regs[name] = cur

    # -- shared memory -------------------------------------------------------

    def smem_offsets(self, addrs, nbytes, tids, what):
        off = addrs.astype(np.int64) - SHARED_BASE
        bad = (off < 0) | (off + nbytes > self.shared_bytes)
        if bad.any():
            i = int(np.argmax(bad))
            raise EmulationError(
                f"{what}: thread {int(tids[i])} accesses shared address "
                f"{int(addrs[i]):#x} ({nbytes} bytes) outside the "
                f"{self.shared_bytes} shared bytes at {SHARED_BASE:#x}")
        return off

    # -- running -------------------------------------------------------------

    def run(self):
        instrs = self.k.instrs
        big = np.iinfo(np.int64).max
        warp = (self.tidx // 32).astype(np.int64)
        nwarps = (self.nthreads + 31) // 32
        # Priority of each thread's warp (lower runs first): the runnable
        # warp first in the order runs as far as it can.
        prio = {"lockstep": np.zeros(self.n, np.int64), "ascending": warp,
                "descending": nwarps - 1 - warp}[self.schedule]
        blocked = np.zeros(self.n, bool)
        # While the running threads stay together (no branch that splits
        # them, no collective, no exit), the next step is theirs at p + 1:
        # `next_p` skips the search.
        next_p, m, all_live = None, None, False
        while True:
            if next_p is None:
                live = ~self.exited
                if not live.any():
                    break
                cand = live & ~blocked & ~self.mwait & ~self.bwait & ~self.atom_wait
                if not cand.any():
                    if self.async_arrivals:
                        _fire_async_arrival(self, self.async_arrivals.pop(0))
                        continue
                    where = sorted({instrs[p].line for p in np.unique(self.pc[live])})
                    raise EmulationError(
                        f"deadlock: threads wait at lines {where[:8]} and none can go on")
                cand &= prio == np.where(cand, prio, big).min()
                pcs = np.where(cand, self.pc, big)
                p = int(pcs.min())
                m = pcs == p
                together = bool((m == cand).all())
                all_live = bool(m.all())
            else:
                p = next_p
            next_p = None
            if p >= len(instrs):
                raise EmulationError("a thread ran past the end of the kernel")
            ins = instrs[p]
            self.steps += 1
            if self.steps > self.max_steps:
                raise EmulationError(f"more than {self.max_steps} steps: a hang?")
            group = ins.group
            if not group and ins.warp_sync and not all_live and not _whole_warps(m):
                # A warp only partly here waits here for the rest of it.
                gid = self.group_ids(32)
                here = np.bincount(gid[m], minlength=self.n // 32)
                live_w = np.bincount(gid[~self.exited], minlength=self.n // 32)
                if (here[here > 0] != live_w[here > 0]).any():
                    group = 32
            run_m = m
            if group:
                # Arrive; go on once every live thread of the group is here.
                live = ~self.exited
                blocked |= m
                at = blocked & (self.pc == p)
                gid = self.group_ids(group)
                ngroups = self.n // group
                arrived = np.bincount(gid[at], minlength=ngroups)
                members = np.bincount(gid[live], minlength=ngroups)
                ready = (arrived == members) & (arrived > 0)
                if not ready.any():
                    continue
                run_m = at & ready[gid]
                blocked &= ~run_m
            if ins.pred is not None:
                pv = self.get(ins.pred)
                on = run_m & (~pv if ins.neg else pv)
            else:
                on = run_m
            fast = all_live and not group and on is run_m
            if self.race is not None:
                self.race.line = ins.line
            try:
                ins.fn(self, None if fast else on, run_m)
            except EmulationError as e:
                raise EmulationError(f"line {ins.line} ({ins.text}): {e}") from None
            if ins.op == "ret":
                # Threads waiting at a collective look again: the group
                # they wait for may now be complete without the exited.
                blocked[:] = False
            if group or ins.blocking or ins.op == "ret" or not together:
                continue
            if ins.op.startswith("bra"):
                taken = self.pc if all_live else self.pc[m]
                if (taken == taken[0]).all():
                    next_p = int(taken[0])
                continue
            next_p = p + 1
        while self.async_arrivals:
            _fire_async_arrival(self, self.async_arrivals.pop(0))
        if self.copies:
            raise EmulationError("the kernel exited with cp.async copies pending")
        if self.bulk_stores:
            raise EmulationError("the kernel exited with TMA stores pending")
        if any(not r["done"].all() for r in self.wgmmas):
            raise EmulationError("the kernel exited with wgmma groups pending")

    def tensor_map(self, addr, tid):
        """The TensorMap argument whose parameter has generic address
        `addr` (cvta.param of the parameter's name)."""
        i, rest = divmod(addr - PARAM_GENERIC - PARAM_BASE, PARAM_STRIDE)
        name = self.k.params[i] if rest == 0 and 0 <= i < len(self.k.params) else None
        tm = self.params.get(name)
        if name not in self.k.byte_params or not isinstance(tm, TensorMap):
            raise EmulationError(f"thread {tid}: {addr:#x} is not the address "
                                 f"of a tensor-map parameter")
        return tm

    def group_ids(self, size):
        """Each thread's warp (size 32), warpgroup (128) or block index."""
        ids = self._group_ids.get(size)
        if ids is None:
            ids = self._group_ids[size] = self.tid // size
        return ids

    def advance(self, m):
        self.pc[m] += 1

    def mask_of(self, on):
        return np.ones(self.n, bool) if on is None else on
