#!/usr/bin/env python3
"""Runs an attention kernel's PTX (attn-run --target cuda --emit ptx) on the
CPU with the PTX emulator, on inputs written by attn-cuda-run:

  attn-cuda-run --kernel K.ptx --doc-lengths 0,1,130 --seed 3 --save-inputs D
  attn_emulate.py --kernel K.ptx --dir D [--timing copies-late|mma-late]
  attn-cuda-run --kernel K.ptx --doc-lengths 0,1,130 --seed 3 --check-outputs D

It launches the kernel the way the runtime does (runtime/lib/Attention.cpp:
memref arguments q, k, v, cu_seqlens, out, lse, for the grid "dynamic" a
zeroed tile counter, which must be zero again afterwards, and for "loads":
"tma" the tensor maps of q, k and v (and out for "stores": "tma"); one block per (query tile, head), or
--resident-blocks for a persistent or dynamic grid; the manifest's threads
and dynamic shared bytes) on outputs poisoned with NaN, and writes
D/out.bin and D/lse.bin. The check is attn-cuda-run's.
"""

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ptxemu  # noqa: E402


def fail(msg):
    print(f"attn_emulate.py: error: {msg}", file=sys.stderr)
    sys.exit(1)


def read(path, dtype, count):
    data = np.fromfile(path, dtype=dtype)
    if data.size != count:
        fail(f"{path} holds {data.size} elements, expected {count}")
    return data


def tensor_map_specs(info, tokens):
    """The tensor maps of a "loads": "tma" kernel's q, k and v (and out for
    "stores": "tma") for `tokens` (> 0) tokens, as attn::rt::tensorMapSpecs
    gives them: (dims, byte strides of dims 1 and 2, box), innermost first,
    of the (column, head, token) tensors; 16-bit elements, 64-column boxes
    of a tile's rows (out: a warpgroup's, store_rows), 128-byte swizzle."""
    def spec(heads, cols, rows):
        return [cols, heads, tokens], [cols * 2, heads * cols * 2], [64, 1, rows]
    specs = [spec(info["heads"], info["head_dim"], info["block_q"]),
             spec(info["kv_heads"], info["head_dim"], info["block_k"]),
             spec(info["kv_heads"], info["value_dim"], info["block_k"])]
    if info.get("stores", "st.global") == "tma":
        specs.append(spec(info["heads"], info["value_dim"], info["store_rows"]))
    return specs


def memref(ptr, shape):
    strides = [int(np.prod(shape[i + 1:])) for i in range(len(shape))]
    return [ptr, ptr, 0, *shape, *strides]


def launch_params(info, tokens, cu_entries, ptrs, counter=None):
    """The kernel parameters as attn::rt::AttentionKernel::launch passes
    them for `tokens` tokens and `cu_entries` cu_seqlens entries, with the
    tensors at ptrs["q"], "k", "v", "cu", "out", "lse": the memref
    descriptors' words (ints), for the grid "dynamic" the tile counter's
    address, then for "loads": "tma" one (tensor's address, (dims, strides,
    box)) per tensor map."""
    words = memrefs(info, tokens, cu_entries, ptrs, ("q", "k", "v", "cu", "out", "lse"))
    if info.get("grid", "tiles") == "dynamic":
        words.append(counter)
    maps = []
    if info.get("loads", "cp.async") == "tma" and tokens > 0:
        maps = list(zip((ptrs[n] for n in ("q", "k", "v", "out")),
                        tensor_map_specs(info, tokens)))
    return words + maps


def memrefs(info, tokens, cu_entries, ptrs, names):
    """The memref descriptors' words of the tensors `names` (at ptrs[name]),
    in that order, with their shapes for `tokens` tokens."""
    hq, hkv = info["heads"], info["kv_heads"]
    d, dv = info["head_dim"], info["value_dim"]
    shapes = {"q": [tokens, hq, d], "k": [tokens, hkv, d], "v": [tokens, hkv, dv],
              "cu": [cu_entries], "out": [tokens, hq, dv], "lse": [hq, tokens],
              "dout": [tokens, hq, dv], "dq": [tokens, hq, d], "dk": [tokens, hkv, d],
              "dv": [tokens, hkv, dv], "dq_acc": [tokens, hq, d]}
    return [w for name in names for w in memref(ptrs[name], shapes[name])]


def backward_launch_params(info, tokens, cu_entries, ptrs):
    """A backward kernel's parameters (attn::rt's backward launch): the
    memref descriptors of q, k, v, cu_seqlens, out, lse, dout, dq, dk, dv,
    and with "dq": "atomic" of the f32 dq accumulator."""
    names = ("q", "k", "v", "cu", "out", "lse", "dout", "dq", "dk", "dv")
    if atomic_dq(info):
        names += ("dq_acc",)
    return memrefs(info, tokens, cu_entries, ptrs, names)


def atomic_dq(info):
    """Whether a backward kernel adds dq into an accumulator ("dq":
    "atomic"; manifests without the field: query items)."""
    return info.get("dq", "query-items") == "atomic"


def dq_convert_grid(info, tokens):
    """The grid of the atomic backward's dq kernel: one thread per pair of
    dq's columns, "dq_threads" per block (attn::rt's launchBackward)."""
    pairs = tokens * info["heads"] * info["head_dim"] // 2
    return ((pairs + info["dq_threads"] - 1) // info["dq_threads"], 1, 1)


def launch_grid(info, tokens, resident_blocks):
    """The grid, as attn::rt::launchGrid gives it: (query tiles, heads), or
    for a persistent or dynamic kernel at most `resident_blocks` blocks, or
    for a backward kernel (key tiles x kv heads + query tiles x heads) x
    column parts."""
    tiles = (tokens + info["block_q"] - 1) // info["block_q"]
    if info.get("direction", "forward") == "backward":
        key_tiles = (tokens + info["block_k"] - 1) // info["block_k"]
        items = key_tiles * info["kv_heads"]
        if not atomic_dq(info):  # the query items after the key items
            items += tiles * info["heads"]
        return (items * info["column_parts"], 1, 1)
    if info.get("grid", "tiles") == "tiles":
        return (tiles, info["heads"], 1)
    return (min(tiles * info["heads"], resident_blocks), 1, 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kernel", required=True, help="PTX file (FILE.json beside it)")
    ap.add_argument("--dir", required=True, help="inputs from attn-cuda-run --save-inputs")
    ap.add_argument("--timing", default="copies-late", choices=["copies-late", "mma-late"])
    ap.add_argument("--schedule", default="lockstep", choices=list(ptxemu.SCHEDULES),
                    help="lockstep: every thread together; ascending / descending: "
                         "each warp runs as far as it can before the next one")
    ap.add_argument("--resident-blocks", type=int, default=3,
                    help="persistent and dynamic kernels: the blocks the GPU would run at "
                         "once (the grid: at most this many, each looping over "
                         "work items)")
    ap.add_argument("--max-steps", type=int, default=5_000_000)
    ap.add_argument("--no-racecheck", action="store_true",
                    help="skip the race check on shared memory (ptx_race.py: an access not "
                         "ordered by happens-before after a conflicting one fails the run)")
    ap.add_argument("--tokens", type=int, default=None,
                    help="T (default: the last cu_seqlens entry); another T runs the kernel "
                         "on cu_seqlens that do not match its tensors")
    ap.add_argument("--backward", action="store_true",
                    help="the image's backward kernel (its manifest's \"backward\"), on "
                         "inputs from attn-cuda-run --backward --save-inputs; writes dq.bin, "
                         "dk.bin and dv.bin")
    opts = ap.parse_args()

    with open(opts.kernel + ".json") as f:
        info = json.load(f)
    if opts.backward:
        if "backward" not in info:
            fail(f"{opts.kernel}.json describes no backward kernel")
        info = info["backward"]
    if info.get("format") != "ptx":
        fail("the emulator runs PTX (attn-run --target cuda --emit ptx)")
    elt = {"bf16": np.uint16, "f16": np.uint16}.get(info["dtype"])
    if elt is None:
        fail(f"dtype {info['dtype']} has no GPU kernel")
    hq, hkv = info["heads"], info["kv_heads"]
    d, dv = info["head_dim"], info["value_dim"]

    cu = np.fromfile(os.path.join(opts.dir, "cu_seqlens.bin"), dtype=np.int32)
    if cu.size < 1:
        fail("cu_seqlens.bin is empty")
    t = int(cu[-1]) if opts.tokens is None else opts.tokens
    q = read(os.path.join(opts.dir, "q.bin"), elt, t * hq * d)
    k = read(os.path.join(opts.dir, "k.bin"), elt, t * hkv * d)
    v = read(os.path.join(opts.dir, "v.bin"), elt, t * hkv * dv)
    with open(opts.kernel) as f:
        ptx = f.read()
    kernel = ptxemu.Kernel(ptx, name=info["kernel"])
    gmem = ptxemu.GlobalMemory()
    ptrs = {"q": gmem.alloc(q), "k": gmem.alloc(k), "v": gmem.alloc(v), "cu": gmem.alloc(cu)}
    pcounter = None
    if opts.backward:
        # The forward's out and lse and dout are inputs; the gradients,
        # poisoned, the outputs.
        ptrs["out"] = gmem.alloc(read(os.path.join(opts.dir, "out.bin"), elt, t * hq * dv))
        ptrs["lse"] = gmem.alloc(read(os.path.join(opts.dir, "lse.bin"), np.float32, hq * t))
        ptrs["dout"] = gmem.alloc(read(os.path.join(opts.dir, "dout.bin"), elt, t * hq * dv))
        for name, n in (("dq", t * hq * d), ("dk", t * hkv * d), ("dv", t * hkv * dv)):
            ptrs[name] = gmem.alloc(np.full(n, 0xFFFF, np.uint16))  # NaN
        if atomic_dq(info):  # zeroed, as the runtime does
            ptrs["dq_acc"] = gmem.alloc(np.zeros(t * hq * d, np.float32))
        args = backward_launch_params(info, t, cu.size, ptrs)
        results = ("dq", "dk", "dv")
    else:
        ptrs["out"] = gmem.alloc(np.full(t * hq * dv, 0xFFFF, np.uint16))  # NaN
        ptrs["lse"] = gmem.alloc(np.full(hq * t, 0xFFFFFFFF, np.uint32))   # NaN
        pcounter = (gmem.alloc(np.zeros(1, np.uint32))
                    if info.get("grid", "tiles") == "dynamic" else None)
        args = [ptxemu.TensorMap(p[0], 2, *p[1], 128) if isinstance(p, tuple) else p
                for p in launch_params(info, t, cu.size, ptrs, pcounter)]
        results = ("out", "lse")
    grid = launch_grid(info, t, opts.resident_blocks)
    start = time.time()
    steps = 0

    def run(k, grid, threads, shared_bytes, args):
        nonlocal steps
        launch = ptxemu.Launch(k, grid, (threads, 1, 1), shared_bytes, args, gmem,
                               timing=opts.timing, schedule=opts.schedule,
                               max_steps=opts.max_steps, racecheck=not opts.no_racecheck)
        launch.run()
        steps += launch.steps

    if t > 0:  # the runtime launches nothing for an empty grid
        try:
            run(kernel, grid, info["threads"], info["shared_bytes"], args)
            if opts.backward and atomic_dq(info):  # then dq from the accumulator
                run(ptxemu.Kernel(ptx, name=info["dq_kernel"]), dq_convert_grid(info, t),
                    info["dq_threads"], 0, memrefs(info, t, cu.size, ptrs, ("dq_acc", "dq")))
        except ptxemu.EmulationError as e:
            fail(f"{opts.kernel}: {e}")
    if pcounter is not None:
        left = int(gmem.contents(pcounter).view(np.uint32)[0])
        if left != 0:
            fail(f"{opts.kernel}: the tile counter is {left} after the launch "
                 "(the next launch would skip work items)")
    for name in results:
        gmem.contents(ptrs[name]).tofile(os.path.join(opts.dir, name + ".bin"))
    print(f"emulated {grid[0]}x{grid[1]} blocks of {info['threads']} threads, "
          f"{steps} steps, {opts.timing}, {opts.schedule}"
          f"{'' if opts.no_racecheck else ', no races'}, {time.time() - start:.1f} s",
          file=sys.stderr)


if __name__ == "__main__":
    main()
