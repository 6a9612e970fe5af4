"""Races on shared memory, found by happens-before (Launch(racecheck=True)).

Every thread keeps a vector clock over the threads of its block; the
kernel's synchronization orders them:
  - bar.sync 0 joins the block, bar.warp.sync the warp;
  - bar.arrive / bar.sync ID, COUNT release into the named barrier, and
    its bar.sync threads acquire what the phase gathered when it completes;
  - an mbarrier arrival releases into the barrier's current phase, a
    try_wait that succeeds acquires the completed phase; the arrival a
    copy makes on completion (cp.async.mbarrier.arrive.noinc, a TMA
    load's complete_tx) releases what its thread knew when it issued it;
  - a warpgroup's wgmmas read their shared operands as a thread of their
    own (a column of the clocks after the block's threads): it knows what
    the issuing threads knew at the issue, and a wgmma.wait_group gives
    each waiting thread only the epoch of the reads it retires (so a
    wgmma orders nothing between the warps that issue it, and a buffer
    released before the wait races with the read).
Lanes of a warp are separate threads: nothing orders them but
bar.warp.sync (shfl, ldmatrix and the other collectives do not), as on a
GPU with independent thread scheduling.

Each 4-byte word of shared memory records its last write (thread, clock,
line) and, per thread, the clock of its reads since then. A read whose
word's last write by another thread is not ordered before it, or a write
whose word's last write or any read since is not, is a race: an
EmulationError that names both sides. Copies count as their issuing
thread's accesses when issued (cp.async and TMA loads write, TMA stores
read). So a release between a copy's issue and its wait (cp.async.wait_group,
the mbarrier, bulk.wait_group.read) is the timings' to find (ptxemu.py):
this check is about the order the code imposes.
Global memory and mbarrier objects are not checked.
"""

import numpy as np

from ptx_program import EmulationError

_CLOCK_LIMIT = np.iinfo(np.uint16).max  # reads keep 16-bit clocks
_MAX_READ_BYTES = 1 << 30


class RaceCheck:
    def __init__(self, st):
        self.st = st
        nt, n = st.nthreads, st.n
        self.nt = nt
        # Clock columns: the block's threads, then one per warpgroup for
        # its wgmmas' reads (their own clocks in `tc`).
        nwg = nt // 128 if nt % 128 == 0 else 0
        self.ncols = ncols = nt + nwg
        self.local = (st.tid % nt).astype(np.int64)
        self.vc = np.zeros((n, ncols), np.int64)
        self.vc[np.arange(n), self.local] = 1
        self.tc = np.zeros((st.nblocks, max(nwg, 1), ncols), np.int64)
        self.tc[:, np.arange(nwg), nt + np.arange(nwg)] = 1
        words = max((st.shared_bytes + 3) // 4, 1)
        if st.nblocks * words * ncols * 2 > _MAX_READ_BYTES:
            raise EmulationError(
                f"racecheck: {st.nblocks} blocks of {nt} threads over {words} shared "
                f"words need more than {_MAX_READ_BYTES >> 20} MiB of read clocks "
                f"(run fewer blocks: fewer heads, documents or --resident-blocks)")
        self.w_tid = np.full((st.nblocks, words), -1, np.int32)
        self.w_clk = np.zeros((st.nblocks, words), np.int64)
        self.w_line = np.zeros((st.nblocks, words), np.int32)
        self.r_clk = np.zeros((st.nblocks, words, ncols), np.uint16)
        self.r_line = np.zeros((st.nblocks, words), np.int32)
        self.named = {}  # (block, id) -> clock gathered by the phase
        self.mbar = {}  # (block, offset) -> [current phase, done even, done odd]
        self.line = 0  # the instruction running (Launch.run sets it)

    # -- clocks ----------------------------------------------------------------

    def _tick(self, tids):
        self.vc[tids, self.local[tids]] += 1
        if self.vc[tids, self.local[tids]].max(initial=0) >= _CLOCK_LIMIT:
            raise EmulationError("racecheck: a thread synchronized more than "
                                 f"{_CLOCK_LIMIT} times (run a smaller case)")

    def release(self, tids):
        """The clocks `tids` publish (one row each), then a new epoch."""
        clocks = self.vc[tids].copy()
        self._tick(tids)
        return clocks

    def acquire(self, tids, clock):
        self.vc[tids] = np.maximum(self.vc[tids], clock)

    def join(self, tids, size):
        """tids meet in groups of `size` threads (a warp, the block): each
        knows what all of its group knew."""
        tids = np.asarray(tids)
        groups = tids // size
        for g in np.unique(groups).tolist():
            members = tids[groups == g]
            self.acquire(members, self.vc[members].max(0))
            self._tick(members)

    # -- named barriers and mbarriers ------------------------------------------

    def arrive_named(self, key, tids):
        clock = self.release(tids).max(0)
        old = self.named.get(key)
        self.named[key] = clock if old is None else np.maximum(old, clock)

    def complete_named(self, key, waiters):
        clock = self.named.pop(key)
        self.acquire(waiters, clock)

    def _mbar_state(self, key):
        return self.mbar.setdefault(key, [np.zeros(self.ncols, np.int64), None, None])

    def arrive_mbarrier(self, key, clocks):
        """An arrival on mbarrier `key` with what its thread(s) knew."""
        state = self._mbar_state(key)
        state[0] = np.maximum(state[0], np.max(clocks, axis=0))

    def complete_mbarrier(self, key, phase):
        state = self._mbar_state(key)
        state[1 + (phase & 1)] = state[0]
        state[0] = np.zeros(self.ncols, np.int64)

    def wait_mbarrier(self, key, parity, tids):
        state = self.mbar.get(key)
        done = None if state is None else state[1 + (parity & 1)]
        if done is not None:
            self.acquire(tids, done)

    # -- accesses --------------------------------------------------------------

    def _words(self, tids, offs, nbytes):
        """(thread, word) pairs of accesses of `nbytes` at byte offsets
        `offs` (one per thread)."""
        offs = np.asarray(offs, np.int64)
        first = offs // 4
        count = (offs + nbytes - 1) // 4 - first + 1
        n = int(count.max(initial=0))
        words = first[:, None] + np.arange(n)[None, :]
        keep = np.arange(n)[None, :] < count[:, None]
        return np.broadcast_to(np.asarray(tids)[:, None], words.shape)[keep], words[keep]

    def _check_last_write(self, blk, words, me, known_of, access, who_of):
        """Each access (block, word) by clock column `me` must know its
        word's last write by another: known_of(writers) is what the
        accesses know of those columns, who_of(i) names access i."""
        wt = self.w_tid[blk, words]
        known = known_of(np.maximum(wt, 0))
        race = (wt >= 0) & (wt != me) & (self.w_clk[blk, words] > known)
        if race.any():
            i = int(np.argmax(race))
            self._report(access, who_of(i), blk[i], words[i],
                         f"the write by thread {int(wt[i])} at line "
                         f"{int(self.w_line[blk[i], words[i]])}")

    def _check_thread_access(self, tids, blk, words, access):
        self._check_last_write(blk, words, self.local[tids],
                               lambda w: self.vc[tids, w], access, lambda i: tids[i])

    def _report(self, access, who, blk, word, other):
        """who: a thread id, or a description."""
        if not isinstance(who, str):
            who = f"thread {int(who) % self.nt}"
        raise EmulationError(
            f"race on shared memory: {who} of block {int(blk)} "
            f"{access} shared offset {4 * int(word)} at line {self.line}, not ordered "
            f"after {other}")

    def read(self, tids, offs, nbytes):
        tids, words = self._words(tids, offs, nbytes)
        if not len(tids):
            return
        blk = self.st.blk[tids]
        self._check_thread_access(tids, blk, words, "reads")
        lt = self.local[tids]
        self.r_clk[blk, words, lt] = self.vc[tids, lt]
        self.r_line[blk, words] = self.line

    def issue_wgmma(self, tids):
        """A wgmma issued by warpgroup `tids` (128 threads): its reads'
        thread learns what they knew and starts a new epoch; returns its
        (block, column, clock) for read_wgmma and retire_wgmma."""
        blk = int(self.st.blk[tids[0]])
        g = int(self.local[tids[0]]) // 128
        col = self.nt + g
        clock = self.tc[blk, g]
        np.maximum(clock, self.vc[tids].max(0), out=clock)
        clock[col] += 1
        if clock[col] >= _CLOCK_LIMIT:
            raise EmulationError(f"racecheck: more than {_CLOCK_LIMIT} wgmmas")
        return blk, col, clock.copy()

    def read_wgmma(self, issued, offs):
        """The wgmma `issued` reads the bytes at offsets `offs`."""
        blk, col, clock = issued
        words = np.unique(np.asarray(offs, np.int64) // 4)
        self._check_last_write(np.full(len(words), blk), words, col, lambda w: clock[w],
                               "reads", lambda i: f"a wgmma of warpgroup {col - self.nt}")
        self.r_clk[blk, words, col] = clock[col]
        self.r_line[blk, words] = self.line

    def retire_wgmma(self, issued, tids):
        """wgmma.wait_group: `tids` know the wgmma's reads are done."""
        _, col, clock = issued
        self.vc[tids, col] = np.maximum(self.vc[tids, col], clock[col])

    def write(self, tids, offs, nbytes):
        tids, words = self._words(tids, offs, nbytes)
        if not len(tids):
            return
        blk = self.st.blk[tids]
        self._check_thread_access(tids, blk, words, "writes")
        lt = self.local[tids]
        # Two threads of one instruction (a copy's) on one word.
        key = blk.astype(np.int64) * self.w_tid.shape[1] + words
        order = np.argsort(key, kind="stable")
        same = (key[order][1:] == key[order][:-1]) & (tids[order][1:] != tids[order][:-1])
        if same.any():
            i = int(np.argmax(same))
            self._report("writes", tids[order][i + 1], blk[order][i + 1],
                         words[order][i + 1], f"the write by thread "
                         f"{int(lt[order][i])} in the same instruction")
        # Every read since the last write must be known to the writer: per
        # writer when there are few (a copy's box), else in chunks.
        writers = np.unique(tids)
        parts = ([tids == t for t in writers] if len(writers) <= 8 else
                 [slice(lo, lo + 4096) for lo in range(0, len(tids), 4096)])
        for s in parts:
            t = tids[s]
            clocks = self.vc[t[0]][None, :] if len(writers) <= 8 else self.vc[t]
            unknown = self.r_clk[blk[s], words[s]] > clocks
            unknown[np.arange(len(unknown)), lt[s]] = False
            if unknown.any():
                i, reader = np.argwhere(unknown)[0]
                who = (f"thread {int(reader)}" if reader < self.nt else
                       f"a wgmma of warpgroup {int(reader) - self.nt}")
                self._report("writes", t[i], blk[s][i], words[s][i],
                             f"a read by {who} (the word's last read: "
                             f"line {int(self.r_line[blk[s][i], words[s][i]])})")
        self.w_tid[blk, words] = lt
        self.w_clk[blk, words] = self.vc[tids, lt]
        self.w_line[blk, words] = self.line
        self.r_clk[blk, words] = 0
