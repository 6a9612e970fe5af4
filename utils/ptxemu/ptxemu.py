"""A functional emulator for the PTX that attn-opt's NVIDIA lowering emits.

It runs a kernel on the CPU, every thread of every block at once (numpy
arrays over threads), so the GPU kernels are executed and checked in CI,
which has no GPU. It implements the subset of PTX those kernels use (the
integer and float arithmetic, predicates and branches, cp.async,
cp.async.bulk.tensor (TMA) through tensor maps passed as by-value kernel
parameters, ldmatrix, mma.sync, wgmma.mma_async with shared-memory matrix
descriptors, shfl, bar.sync, named barriers, mbarriers with transaction
counts, setmaxnreg) from the PTX ISA's
definitions, and refuses anything else with the line it could not run. It
is a checker, not a timing model:

  - Control flow: each thread has its own program counter; the lowest one
    runs next, for every thread that is there (a thread that waits at a
    collective is never passed). bar.sync, ldmatrix, mma.sync, shfl and
    the wgmma instructions check that their whole block / warp /
    warpgroup arrives together. mbarrier.try_wait.parity blocks its
    thread until the phase it names completes; bar.sync ID, COUNT until
    COUNT threads (whole warps) have arrived on barrier ID with it or
    bar.arrive. A thread that waits when none can go on is a deadlock.
  - Memory: global buffers have red zones, shared memory is per block and
    starts filled with 0xFF (NaN); any access outside them, or a shared
    window not sized as the launch said, is an error with the thread and
    the address. The shared window starts at an address that is 16-byte
    but not 1024-byte aligned, so a kernel that relies on more alignment
    than it arranges for computes the wrong thing.
  - Asynchrony, pessimistically and in two ways (`timing`):
      "copies-late": a cp.async lands in shared memory only when a
        cp.async.wait_group retires it; a wgmma reads its operands when it
        is issued. A read that is not ordered after its copy's wait sees
        stale data.
      "mma-late": a cp.async lands at once; a wgmma reads its shared and
        register operands, and writes its accumulators, only when a
        wgmma.wait_group retires it. A copy that overwrites a tile an
        in-flight wgmma still reads, or code that touches the
        accumulators or A registers before the wait, changes the result.
    A kernel correct in both is free of those two classes of races.
    cp.async.mbarrier.arrive.noinc: with "mma-late" the arrival happens at
    once; with "copies-late" it (and the landing of the copies it
    tracks) waits until no thread can run without it, oldest first.
    cp.async.bulk.tensor (TMA) alike: with "mma-late" its boxes land and
    complete their bytes on the mbarriers at once; with "copies-late" the
    boxes of one instruction (every executing thread's) only when no thread
    can run without them.
    TMA stores (cp.async.bulk.tensor from shared to global): with
    "mma-late" the tile is read and the box written at once; with
    "copies-late" only at the cp.async.bulk.wait_group that retires the
    store's group (stores still pending at exit are an error).
    atom.global: with "mma-late" at once; with "copies-late" its threads
    wait, and it is made (one thread after another) only when no thread
    can run without it, so a reader that does not wait for what the
    atomic's result publishes runs ahead of it.
  - Tensor maps: the kernel gets TensorMap objects for its 128-byte
    parameters (CUtensorMap is opaque; TensorMap holds what
    cuTensorMapEncodeTiled is given and checks what it checks); a TMA
    reads the one whose parameter address (cvta.param) it is given.
"""

import re

import numpy as np

U32, U64 = np.uint32, np.uint64
MASK32 = 0xFFFFFFFF


class EmulationError(Exception):
    pass


SCHEDULES = ("lockstep", "ascending", "descending")
SPECIAL_REGISTERS = ("%tid.x", "%tid.y", "%tid.z", "%ntid.x", "%ctaid.x",
                     "%ctaid.y", "%ctaid.z", "%nctaid.x", "%nctaid.y",
                     "%nctaid.z", "%laneid")


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


# ---------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------


class Instr:
    __slots__ = ("text", "pred", "neg", "op", "args", "line", "fn", "target",
                 "group", "blocking")

    def __init__(self, text, pred, neg, op, args, line):
        self.text, self.pred, self.neg, self.op = text, pred, neg, op
        self.args, self.line = args, line
        self.fn = None
        self.target = None
        self.group = 0
        # May leave threads where they are (mbarrier waits): the scheduler
        # looks again after it.
        self.blocking = op.startswith(("mbarrier.try_wait", "atom.")) or (
            op == "bar.sync" and len(args) == 2)


def _split_args(s):
    """Top-level comma split that keeps {a, b} groups and [a, {b}]
    addresses together."""
    out, depth, cur = [], 0, ""
    for ch in s:
        if ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


class _LineCounter:
    """Line numbers of offsets into the body, asked for in increasing order."""

    def __init__(self, text, base):
        self.text, self.base, self.off, self.line = text, base, 0, 1

    def __call__(self, off):
        target = self.base + off
        self.line += self.text.count("\n", self.off, target)
        self.off = target
        return self.line


class Kernel:
    def __init__(self, text, name=None):
        text = re.sub(r"//[^\n]*", "", text)
        m = re.search(r"\.entry\s+(\w+)\s*\((.*?)\)", text, re.S)
        if not m:
            raise EmulationError("no .entry in the PTX")
        if name and m.group(1) != name:
            raise EmulationError(f"the PTX's kernel is {m.group(1)}, not {name}")
        self.name = m.group(1)
        self.params = []
        self.byte_params = {}  # name -> bytes, of .b8 NAME[N] parameters
        for p in m.group(2).split(","):
            bm = re.search(r"\.param\s+\.align\s+\d+\s+\.b8\s+(\w+)\[(\d+)\]", p)
            if bm:
                self.byte_params[bm.group(1)] = int(bm.group(2))
                self.params.append(bm.group(1))
                continue
            pm = re.search(r"\.param\s+\.(\w+)(?:\s+\.ptr(?:\s+\.global)?\s+\.align\s+\d+)?"
                           r"\s+(\w+)", p)
            if not pm:
                raise EmulationError(f"unsupported parameter: {p.strip()}")
            if pm.group(1) not in ("u64", "b64", "s64"):
                raise EmulationError(f"unsupported parameter type: {p.strip()}")
            self.params.append(pm.group(2))
        body_start = text.index("{", m.end()) + 1
        body = text[body_start: text.rindex("}")]
        self.instrs, self.labels = [], {}
        self.regs = {}  # name -> storage dtype
        line_of = _LineCounter(text, body_start)
        for stmt, line in self._statements(body, line_of):
            while True:
                lm = re.match(r"^(\$?[\w$]+):\s*", stmt)
                if not lm:
                    break
                self.labels[lm.group(1)] = len(self.instrs)
                stmt = stmt[lm.end():].lstrip("{} ")
            if not stmt:
                continue
            if stmt.startswith(".reg"):
                self._declare(stmt)
                continue
            if stmt.startswith(".shared"):
                sm = re.search(r"\.shared\s+\.align\s+(\d+)\s+\.b8\s+(\w+)", stmt)
                if not sm:
                    raise EmulationError(f"unsupported shared declaration: {stmt}")
                self.shared_symbol = sm.group(2)
                continue
            if stmt.startswith("."):
                continue  # .maxntid, .reqntid: launch facts, not code
            pred, neg = None, False
            pm = re.match(r"^@(!?)(%?\w+)\s+", stmt)
            if pm:
                neg, pred = pm.group(1) == "!", pm.group(2)
                stmt = stmt[pm.end():]
            parts = stmt.split(None, 1)
            op = parts[0]
            args = _split_args(parts[1]) if len(parts) > 1 else []
            self.instrs.append(Instr(stmt, pred, neg, op, args, line))
        for ins in self.instrs:
            if ins.op.startswith("bra"):
                if ins.args[0] not in self.labels:
                    raise EmulationError(f"line {ins.line}: unknown label {ins.args[0]}")
                ins.target = self.labels[ins.args[0]]

    @staticmethod
    def _statements(body, line_of):
        # Scope braces of inline asm blocks stand alone and mean nothing here.
        pos = 0
        for piece in body.split(";"):
            stmt = " ".join(piece.split())
            lead = len(piece) - len(piece.lstrip(" \t\n{}"))
            line = line_of(pos + lead)
            pos += len(piece) + 1
            while stmt[:1] in ("{", "}"):
                stmt = stmt[1:].strip()
            if stmt:
                yield stmt, line

    def _declare(self, stmt):
        m = re.match(r"\.reg\s+\.(\w+)\s+(%?\w+)(?:<(\d+)>)?$", stmt)
        if not m:
            raise EmulationError(f"unsupported register declaration: {stmt}")
        # (16-bit integers live in 32-bit storage, their high half zero.)
        kind = {"pred": bool, "b32": U32, "u32": U32, "s32": U32, "f32": U32,
                "b64": U64, "u64": U64, "s64": U64, "b16": U32, "u16": U32,
                "s16": U32}.get(m.group(1))
        if kind is None:
            raise EmulationError(f"unsupported register type: {stmt}")
        base = m.group(2)
        if m.group(3) is None:
            self.regs[base] = kind
        else:
            self.regs[base + "*"] = kind

    def reg_dtype(self, name):
        if name in self.regs:
            return self.regs[name]
        dt = self._reg_dtype(name)
        self.regs[name] = dt
        return dt

    def _reg_dtype(self, name):
        base = re.match(r"^(%?[a-z_]+)\d*$", name)
        if base and base.group(1) + "*" in self.regs:
            return self.regs[base.group(1) + "*"]
        raise EmulationError(f"undeclared register {name}")


# ---------------------------------------------------------------------------
# Machine state
# ---------------------------------------------------------------------------

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
        """The buffer every address lies in (with nbytes after it)."""
        lo, hi = int(addrs.min()), int(addrs.max())
        for start, data in self.buffers:
            if start <= lo and hi + nbytes <= start + len(data):
                return start, data
        for a, t in zip(addrs.tolist(), tids.tolist()):
            if not any(s <= a and a + nbytes <= s + len(d) for s, d in self.buffers):
                raise EmulationError(
                    f"{what}: thread {t} accesses global address {a:#x} "
                    f"({nbytes} bytes) outside every buffer")
        raise EmulationError(f"{what}: one access spans several buffers")

    def read(self, addrs, nbytes, tids, what):
        if len(addrs) == 0:
            return np.zeros((0, nbytes), np.uint8)
        start, data = self.find(addrs, nbytes, tids, what)
        off = (addrs - start).astype(np.int64)
        return data[off[:, None] + np.arange(nbytes)]

    def write(self, addrs, values, tids, what):
        if len(addrs) == 0:
            return
        nbytes = values.shape[1]
        start, data = self.find(addrs, nbytes, tids, what)
        off = (addrs - start).astype(np.int64)
        data[off[:, None] + np.arange(nbytes)] = values


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


class Launch:
    """One kernel launch: grid, block, dynamic shared bytes, arguments."""

    def __init__(self, kernel, grid, block, shared_bytes, args, gmem,
                 timing="copies-late", schedule="lockstep", max_steps=5_000_000):
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
        self.shared_bytes = shared_bytes
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
                f"{self.shared_bytes} dynamic shared bytes at {SHARED_BASE:#x}")
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
    """[reg+off] / [reg] / [param] -> (kind, reader or name, offset)."""
    m = re.match(r"^\[\s*([%\w$.]+)\s*(?:\+\s*(-?\d+))?\s*\]$", tok)
    if not m:
        raise EmulationError(f"unsupported address {tok}")
    base, off = m.group(1), int(m.group(2) or 0)
    if base in kernel.params:
        return ("param", base, off)
    return ("reg", reader(kernel, base, "u64"), off)


# ---------------------------------------------------------------------------
# Instructions
# ---------------------------------------------------------------------------


def _sext16(x):
    """The low 16 bits of 32-bit storage as signed integers (int64)."""
    v = np.asarray(x).astype(np.int64) & 0xFFFF
    return np.where(v >= 0x8000, v - 0x10000, v)


def _int16(name, parts, op, a, k, simple):
    """add, sub, mul.lo, mad.lo, and, or, xor, shl, shr on 16-bit integers
    (kept in the low half of 32-bit registers), from the PTX ISA: the
    result's low 16 bits; shr.s16 shifts the sign in."""
    signed = parts[-1] == "s16"
    if name in ("mul", "mad") and "lo" not in parts:
        raise EmulationError(f"unsupported {op}")

    def val(x):
        return _sext16(x) if signed else np.asarray(x).astype(np.int64) & 0xFFFF

    def low(v):
        return (np.asarray(v).astype(np.int64) & 0xFFFF).astype(U32)

    fns = {"add": lambda x, y: val(x) + val(y), "sub": lambda x, y: val(x) - val(y),
           "mul": lambda x, y: val(x) * val(y),
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


def _each(st, r):
    """The value of reader r for every thread (readers of immediates and
    uniform values give scalars)."""
    return np.broadcast_to(r(st), (st.n,))


def _sel(on, x):
    return x if on is None else x[on]


def _tids(st, on):
    return st.tid if on is None else st.tid[on]


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

    if name == "mov":
        kind = _result_kind(parts[1]) if parts[1] != "b16" else "u32"
        return simple(a[0], kind, lambda x: x, (a[1], kind))

    if name == "cvt":
        # 16-bit integers: truncation keeps the low half; widening
        # zero-extends (unsigned) or sign-extends (signed).
        if op in ("cvt.u16.u32", "cvt.s16.s32", "cvt.u16.s32", "cvt.s16.u32"):
            return simple(a[0], "u32", lambda x: np.asarray(x, U32) & U32(0xFFFF),
                          (a[1], "u32"))
        if op in ("cvt.u32.u16", "cvt.s32.u16"):
            return simple(a[0], "u32", lambda x: np.asarray(x, U32) & U32(0xFFFF),
                          (a[1], "u32"))
        if op in ("cvt.s32.s16", "cvt.u32.s16"):
            return simple(a[0], "u32", lambda x: _sext16(x).astype(np.int32).view(U32),
                          (a[1], "u32"))
        if op == "cvt.u64.u32":
            return simple(a[0], "u64", lambda x: np.asarray(x).astype(U64), (a[1], "u32"))
        if op == "cvt.u32.u64":
            return simple(a[0], "u32", lambda x: (np.asarray(x) & np.uint64(MASK32)).astype(U32), (a[1], "u64"))
        if op == "cvt.s64.s32":
            return simple(a[0], "s64", lambda x: np.asarray(x).astype(np.int64), (a[1], "s32"))
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
            nbytes = {"s32": 4, "u32": 4, "b32": 4, "b64": 8, "u64": 8, "s64": 8}[t]

            def run(st, on, m):
                addrs = _sel(on, _each(st, base_r)) + np.uint64(off)
                raw = st.gmem.read(addrs, nbytes, _tids(st, on), "ld.global")
                val = raw.copy().view(np.uint32 if nbytes == 4 else np.uint64).reshape(-1)
                if on is not None:
                    full = np.zeros(st.n, val.dtype)
                    full[on] = val
                    val = full
                st.put(a[0], val, on)
                st.advance(m)
            return run
        if space == "shared" and t in ("u32", "b32", "s32"):
            word = _shared_word(k, a[1], op)

            def run(st, on, m):
                on_, tids, offs = word(st, on)
                raw = st.smem[st.blk[tids][:, None], offs[:, None] + np.arange(4)]
                full = np.zeros(st.n, U32)
                full[on_] = raw.copy().view(U32).reshape(-1)
                st.put(a[0], full, on)
                st.advance(m)
            return run
        raise EmulationError(f"unsupported {op}")

    if name == "st" and parts[1] == "shared":
        if parts[-1] not in ("u32", "b32", "s32"):
            raise EmulationError(f"unsupported {op}")
        word = _shared_word(k, a[0], op)
        val_r = reader(k, a[1], "u32")

        def run(st, on, m):
            on_, tids, offs = word(st, on)
            where = np.stack([st.blk[tids], offs], 1)
            if len(np.unique(where, axis=0)) != len(where):
                raise EmulationError("st.shared: two threads store to one address")
            v = _each(st, val_r)[on_].astype(U32)
            st.smem[st.blk[tids][:, None], offs[:, None] + np.arange(4)] = \
                v.view(np.uint8).reshape(-1, 4)
            st.advance(m)
        return run

    if op == "atom.global.add.u32":
        kind, base_r, off = address(k, a[1])
        if kind != "reg":
            raise EmulationError(f"unsupported {ins.text}")
        val_r = reader(k, a[2], "u32")

        def run(st, on, m):
            on_ = st.mask_of(on)
            tids = st.tid[on_]
            addrs = _each(st, base_r)[on_].astype(np.uint64) + np.uint64(off)
            if (addrs % np.uint64(4)).any():
                raise EmulationError(f"{op}: address not 4-byte aligned")
            vals = _each(st, val_r)[on_].astype(U32)

            def make(st):
                old = np.zeros(st.n, U32)
                # One after another, in thread order.
                for i, t in enumerate(tids.tolist()):
                    at, who = addrs[i:i + 1], tids[i:i + 1]
                    cur = st.gmem.read(at, 4, who, op).copy().view(U32).reshape(-1)
                    old[t] = cur[0]
                    st.gmem.write(at, (cur + vals[i]).astype(U32).view(np.uint8)
                                  .reshape(1, 4), who, op)
                st.put(a[0], old, on_)
                st.atom_wait[on_] = False
            st.advance(m)
            if st.timing == "copies-late":
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
            _full_groups(st, st.mask_of(on), 32, "bar.warp.sync")
            st.advance(m)
        return run
    if name == "bar" and len(a) == 2:
        return _compile_named_barrier(k, ins, a)
    if name == "bar":
        # The scheduler runs it once the whole block has arrived (Launch.run).
        if op != "bar.sync" or a != ["0"] or ins.pred is not None:
            raise EmulationError(f"unsupported {ins.text}")

    if name == "bar" or op in ("fence.proxy.async.shared::cta",
                               "fence.mbarrier_init.release.cluster"):
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
            if b["arrived"] > b["expected"]:
                raise EmulationError(
                    f"{ins.op}: more than {b['expected']} arrivals on barrier "
                    f"{key % 16} at once (one step's warps are not split "
                    f"into phases here)")
            if b["arrived"] == b["expected"]:
                del st.nbar[bk]
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
            arrival = {"tids": tids, "offs": offs, "snap": snap}
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
            boxes.append((rec, (int(st.blk[t]), int(bar_offs[i])), n * 16))
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


def _shared_word(k, tok, what):
    """A 32-bit word's [addr] (ld/st.shared): _shared_operand; no word may
    overlap an mbarrier."""
    word = _shared_operand(k, tok, 4, what)

    def operand(st, on):
        on_, tids, offs = word(st, on)
        bars = st.mbar_offs
        if len(bars) and ((offs[:, None] < bars[None, :] + 8) &
                          (offs[:, None] + 4 > bars[None, :])).any():
            raise EmulationError(f"{what}: accesses an mbarrier")
        return on_, tids, offs
    return operand


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
    b["phase"] += 1
    b["pending"] = b["expected"]
    done = (st.mwait & (st.blk == blk) & (st.mwait_off == off)
            & (st.mwait_parity != (b["phase"] & 1)))
    st.mwait &= ~done


def _arrive(st, tids, offs, what, expect_tx=0):
    """One arrival per thread in `tids` on its barrier (after raising its
    transaction count by `expect_tx` bytes); completed phases wake the
    threads waiting for them."""
    states, _, counts = _barriers(st, tids, offs, what)
    for (blk, off, b), n in zip(states, counts):
        while n > 0:  # a phase's worth of arrivals at a time
            if b["pending"] == 0:
                raise EmulationError(
                    f"{what}: more arrivals on the mbarrier at shared offset "
                    f"{off} than its count while its phase waits for "
                    f"{b['tx']} transaction bytes")
            step = min(n, b["pending"])
            b["tx"] += expect_tx * step
            b["pending"] -= step
            n -= step
            _complete_if_done(st, blk, off, b)


def _complete_tx(st, blk, off, nbytes, what):
    b = st.mbar.get((blk, off))
    if b is None:
        raise EmulationError(f"{what}: mbarrier at shared offset {off} "
                             f"used before mbarrier.init")
    b["tx"] -= nbytes
    _complete_if_done(st, blk, off, b)


def _fire_async_arrival(st, arrival):
    if "call" in arrival:  # a held-back atomic
        arrival["call"](st)
        return
    if "boxes" in arrival:  # TMA boxes: each lands, then completes its bytes
        for rec, (blk, off), nbytes in arrival["boxes"]:
            _land(st, rec, np.ones(len(rec["tids"]), bool))
            _complete_tx(st, blk, off, nbytes, "cp.async.bulk.tensor")
        return
    for rec, sel in arrival["snap"]:
        _land(st, rec, sel & ~rec["done"])
    st.copies = [rec for rec in st.copies if not rec["done"].all()]
    _arrive(st, arrival["tids"], arrival["offs"], "cp.async.mbarrier.arrive")


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
            done = np.zeros(st.n, bool)
            done[tids[ok]] = True
            st.put(a[0], np.ones(st.n, bool), done)
            st.advance(done | (m & ~on_))
        return run
    raise EmulationError(f"unsupported {op}")


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


def _read_operand(st, blocks, desc, rows, cols, mn_major, is_bf16, what):
    addr = _desc_addresses(desc, rows, cols, mn_major, 2)
    flat = addr.reshape(len(desc), -1)
    off = flat - SHARED_BASE
    if ((off < 0) | (off + 2 > st.shared_bytes)).any():
        raise EmulationError(f"{what}: descriptor addresses outside shared memory")
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
        if st.timing == "copies-late":
            _wgmma_read(st, rec, np.ones(len(wgs), bool))
        st.wgmmas.append(rec)
        st.advance(m)
    return run


def _wgmma_read(st, rec, sel):
    """Reads the operands (shared memory and registers) of `sel` into rec."""
    tids, blocks, n = rec["tids"][sel], rec["blocks"][sel], rec["n"]
    if rec["a_regs"] is None:
        A = _read_operand(st, blocks, rec["a_desc"][sel], 64, 16,
                          rec["trans_a"] == 1, rec["is_bf16"], "wgmma A")
    else:
        regs = np.stack([st.get(r)[tids] for r in rec["a_regs"]], -1)  # [g,128,4]
        g = len(tids)
        A = _a_fragment(regs.reshape(g * 4, 32, 4), rec["is_bf16"]).reshape(g, 64, 16)
    B = _read_operand(st, blocks, rec["b_desc"][sel], n, 16, rec["trans_b"] == 1,
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
