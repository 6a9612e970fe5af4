#!/usr/bin/env python3
"""Runs a sequence helper's kernel (attn-run --sequence KIND --target cuda
--emit ptx) in the PTX emulator on edge cases and random packings, and
checks every result against the helper's definition (numpy):

  sequence_emulate.py --kernel K.ptx [--separator S] [--schedule ORDER]

doc_positions: position ids that restart with every document, for
cu_seqlens with empty and length-1 documents, one document, documents
across block boundaries. segments_from_separators (padded): cu_seqlens of
T + 1 entries from token ids, for no tokens, no separator, only
separators, a separator last or not, T past the block's 1024 threads.
check_cu_seqlens: the error record, for valid packings (left as it was,
0 or 1) and invalid ones (set to 1), entries across blocks.
With --invalid-cu, doc_positions instead runs on cu_seqlens that do not
describe its tokens (decreasing, negative, past T, ...), where only staying
inside its vectors is required (the emulator stops on any other access).
It launches the kernel as the runtime does (runtime/lib/SequenceKernel.cpp: the
memref descriptors of its two vectors, check_cu_seqlens' T between them;
the manifest's grid and threads)
on outputs poisoned with -1, and exits 1 naming the first case that
differs.
"""

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ptxemu  # noqa: E402
from attn_emulate import memref  # noqa: E402


def fail(msg):
    print(f"sequence_emulate.py: error: {msg}", file=sys.stderr)
    sys.exit(1)


def doc_positions(cu):
    t = int(cu[-1])
    doc = np.searchsorted(cu[1:], np.arange(t), side="right")
    return (np.arange(t) - cu[doc]).astype(np.int32)


def segments_padded(tokens, separator):
    t = tokens.size
    ends = np.flatnonzero(tokens == separator) + 1
    cu = np.full(t + 1, t, np.int32)
    cu[0] = 0
    cu[1:1 + ends.size] = ends
    return cu


def cu_from_lengths(lengths):
    return np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)


def position_cases(rng):
    yield "no tokens", cu_from_lengths([])
    yield "one token", cu_from_lengths([1])
    yield "empty and length-1 documents", cu_from_lengths([0, 3, 0, 0, 1, 1, 5, 0])
    yield "one document over two blocks", cu_from_lengths([300])
    yield "documents across three blocks", cu_from_lengths([255, 2, 1, 0, 256, 1, 100])
    yield "random", cu_from_lengths(rng.integers(0, 40, 25))


def invalid_cu_cases():
    """cu_seqlens that do not describe T = 300 tokens: the positions are
    then undefined, but the kernel must stay inside its vectors."""
    yield "decreasing", np.array([0, 200, 100, 300], np.int32)
    yield "past T", np.array([0, 100, 5000, 300], np.int32)
    yield "negative", np.array([0, -7, -2**31, 300], np.int32)
    yield "ends before T", np.array([0, 10, 20], np.int32)
    yield "ends after T", np.array([0, 10, 2**31 - 1], np.int32)
    yield "not starting at 0", np.array([50, 60, 300], np.int32)


def check_cases(rng):
    """(name, cu_seqlens, T, whether they are a packing of T tokens)."""
    for name, cu in position_cases(rng):
        yield name, cu, int(cu[-1]), True
    yield "600 entries over three blocks", cu_from_lengths(rng.integers(0, 5, 599)), None, True
    for name, cu in invalid_cu_cases():
        yield name, cu, 300, False
    yield "one entry, not 0", np.array([3], np.int32), 3, False
    yield "a valid packing of another T", cu_from_lengths([4, 5]), 10, False
    cu = cu_from_lengths(rng.integers(0, 5, 599))
    cu[517] = cu[516] - 1
    yield "a decrease in the third block", cu, int(cu[-1]), False


def segment_cases(rng, sep):
    other = sep + 1
    yield "no tokens", np.array([], np.int64)
    yield "one separator", np.array([sep], np.int64)
    yield "one other token", np.array([other], np.int64)
    yield "no separator", np.full(7, other, np.int64)
    yield "only separators", np.full(5, sep, np.int64)
    yield "separator last", np.array([other, sep, other, other, sep], np.int64)
    yield "trailing document", np.array([sep, other, other], np.int64)
    yield "T = 2500, runs of 3 tokens", np.where(rng.random(2500) < 0.05, sep, other)
    yield "T = 1030, separators at run ends", np.where(np.arange(1030) % 2 == 1, sep, other)


def run(kernel, info, args, gmem, grid, schedule, racecheck):
    launch = ptxemu.Launch(kernel, grid, (info["threads"], 1, 1), info["shared_bytes"],
                           args, gmem, schedule=schedule, max_steps=50_000_000,
                           racecheck=racecheck)
    launch.run()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kernel", required=True, help="PTX file (FILE.json beside it)")
    ap.add_argument("--separator", type=int, default=None,
                    help="segments_from_separators: the separator the kernel was built with")
    ap.add_argument("--schedule", default="lockstep", choices=list(ptxemu.SCHEDULES))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-racecheck", action="store_true",
                    help="skip the race check on shared memory (ptx_race.py)")
    ap.add_argument("--invalid-cu", action="store_true",
                    help="doc_positions: cu_seqlens that do not describe its 300 tokens; "
                         "checks only that every access stays inside the vectors")
    opts = ap.parse_args()
    with open(opts.kernel + ".json") as f:
        info = json.load(f)
    if info.get("format") != "ptx":
        fail("the emulator runs PTX (attn-run --sequence ... --emit ptx)")
    kind = info.get("sequence")
    if kind not in ("doc_positions", "segments_from_separators", "check_cu_seqlens"):
        fail(f"{opts.kernel}.json describes no sequence kernel")
    if (kind == "segments_from_separators") != (opts.separator is not None):
        fail("--separator goes with a segments_from_separators kernel, and only there")
    with open(opts.kernel) as f:
        kernel = ptxemu.Kernel(f.read(), name=info["kernel"])
    rng = np.random.default_rng(opts.seed)
    threads = info["threads"]
    if opts.invalid_cu:
        if kind != "doc_positions":
            fail("--invalid-cu goes with a doc_positions kernel")
        for name, cu in invalid_cu_cases():
            gmem = ptxemu.GlobalMemory()
            out = gmem.alloc(np.full(300, -1, np.int32))
            args = memref(gmem.alloc(cu), [cu.size]) + memref(out, [300])
            try:
                run(kernel, info, args, gmem, ((300 + threads - 1) // threads, 1, 1),
                    opts.schedule, not opts.no_racecheck)
            except ptxemu.EmulationError as e:
                fail(f"invalid cu_seqlens, {name}: {e}")
            print(f"doc_positions: invalid cu_seqlens, {name}: stayed inside its vectors")
        return
    if kind == "check_cu_seqlens":
        for name, cu, t, valid in check_cases(rng):
            t = int(cu[-1]) if t is None else t
            for before in (0, 1):
                gmem = ptxemu.GlobalMemory()
                record = gmem.alloc(np.array([before], np.int32))
                args = memref(gmem.alloc(cu), [cu.size]) + [t] + memref(record, [1])
                try:
                    run(kernel, info, args, gmem, ((cu.size + threads - 1) // threads, 1, 1),
                        opts.schedule, not opts.no_racecheck)
                except ptxemu.EmulationError as e:
                    fail(f"{name}: {e}")
                got = int(gmem.contents(record).view(np.int32)[0])
                if got != (before if valid else 1):
                    fail(f"{name} (T = {t}): the record is {got} after {before}, "
                         f"expected {before if valid else 1}")
            print(f"check_cu_seqlens: {name} (T = {t}, {cu.size} entries): "
                  f"{'valid' if valid else 'invalid'}: ok")
        return
    cases = (position_cases(rng) if kind == "doc_positions"
             else segment_cases(rng, opts.separator))
    for name, data in cases:
        gmem = ptxemu.GlobalMemory()
        if kind == "doc_positions":
            t, expected = int(data[-1]), doc_positions(data)
            inp = gmem.alloc(data)
            out = gmem.alloc(np.full(t, -1, np.int32))
            args = memref(inp, [data.size]) + memref(out, [t])
            grid = ((t + threads - 1) // threads, 1, 1)
        else:
            t, expected = data.size, segments_padded(data, opts.separator)
            inp = gmem.alloc(data.astype(np.int64))
            out = gmem.alloc(np.full(t + 1, -1, np.int32))
            args = memref(inp, [t]) + memref(out, [t + 1])
            grid = (1, 1, 1)
        if grid[0] > 0:  # the runtime launches nothing for an empty grid
            try:
                run(kernel, info, args, gmem, grid, opts.schedule, not opts.no_racecheck)
            except ptxemu.EmulationError as e:
                fail(f"{name}: {e}")
        got = gmem.contents(out).view(np.int32)
        if not np.array_equal(got, expected):
            bad = int(np.argmax(got != expected))
            fail(f"{name} (T = {t}): entry {bad} is {got[bad]}, expected {expected[bad]}")
        print(f"{kind}: {name} (T = {t}, {grid[0]} blocks): ok")


if __name__ == "__main__":
    main()
