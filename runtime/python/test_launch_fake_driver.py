#!/usr/bin/env python3
"""Launches compiled kernels (PTX) through the runtime's Python binding
against the recording stand-in for the CUDA driver (runtime/test/
FakeCudaDriver.cpp, first on LD_LIBRARY_PATH; its log in
ATTN_FAKE_CUDA_LOG), and checks what the runtime asked the driver for,
without a GPU, against the launch contract as the emulator's launcher
states it (utils/ptxemu/attn_emulate.py: launch_params, launch_grid), so
the runtime and the emulator are held to one contract:

  - every kernel parameter, in the order and with the sizes the kernel's
    PTX declares: the memref descriptors of q, k, v, cu_seqlens, out and lse
    (addresses, sizes, strides), then for a dynamic grid the tile counter
    (a 4-byte allocation zeroed before the stream's first launch, the same
    on that stream afterwards, another on another stream), then for TMA
    the tensor maps, each encoded over the right tensor (dims, strides,
    box, bf16, 128-byte swizzle, zero fill);
  - the grid (query tiles x heads, or min(items, resident blocks) for a
    persistent or dynamic grid, limit_resident_blocks included), the block
    and the dynamic shared memory, raised first where above 48 KiB;
  - nothing launched for bad cu_seqlens, a misaligned TMA tensor, or 0
    tokens.

    LD_LIBRARY_PATH=FAKE ATTN_FAKE_CUDA_LOG=LOG ATTN_RUNTIME_LIB=LIB \\
      test_launch_fake_driver.py K.ptx...

Prints one line per check; exit status 1 on the first failure.
"""

import ctypes
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "..", "utils", "ptxemu")]
import attn_runtime  # noqa: E402
# The launch contract as the emulator launches kernels: what the runtime
# must have passed.
from attn_emulate import launch_grid, launch_params  # noqa: E402

LOG = os.environ["ATTN_FAKE_CUDA_LOG"]
SMS = 132


def fail(msg):
    print(f"FAIL {msg}")
    sys.exit(1)


def check(name, cond, detail=""):
    if not cond:
        fail(f"{name}: {detail}")
    print(f"ok {name}")


def records():
    if not os.path.exists(LOG):
        return []
    with open(LOG) as f:
        return [json.loads(line) for line in f]


class Buffers:
    """Host memory standing in for device tensors (the fake driver never
    touches them), 16-byte aligned unless `misalign`."""

    def __init__(self, misalign=0):
        self.keep = []
        self.ptr = {}
        for name in ("q", "k", "v", "cu", "out", "lse"):
            raw = ctypes.create_string_buffer(64 + 32)
            self.keep.append(raw)
            self.ptr[name] = (ctypes.addressof(raw) + 15) // 16 * 16 + misalign


def check_launch(label, info, bufs, cu_host, tokens, new, resident, stream, counters):
    launches = [r for r in new if r["call"] == "launch"]
    check(f"{label}: one launch", len(launches) == 1, new)
    launch = launches[0]
    check(f"{label}: grid, block, shared memory",
          launch["grid"] == list(launch_grid(info, tokens, resident))
          and launch["block"] == [info["threads"], 1, 1]
          and launch["shared"] == info["shared_bytes"] and launch["stream"] == stream,
          f"{launch['grid']} {launch['block']} {launch['shared']}")
    counter = None
    if info.get("grid") == "dynamic":
        allocs = [r for r in new if r["call"] == "alloc" and r["bytes"] == 4]
        if stream not in counters:
            check(f"{label}: a tile counter allocated and zeroed for the stream",
                  len(allocs) == 1 and any(r["call"] == "memset" and r["ptr"] == allocs[0]["ptr"]
                                           and r["value"] == 0 and r["bytes"] == 4 for r in new),
                  new)
            counters[stream] = allocs[0]["ptr"]
        else:
            check(f"{label}: the stream's tile counter again", not allocs, allocs)
        counter = counters[stream]
    want = launch_params(info, tokens, len(cu_host), bufs.ptr, counter)
    words = [struct.pack("<q", w) for w in want if not isinstance(w, tuple)]
    maps = [w for w in want if isinstance(w, tuple)]
    params = [bytes.fromhex(p) for p in launch["params"]]
    n = len(words)
    check(f"{label}: {n} + {len(maps)} parameters, sizes as the PTX declares them",
          [len(p) for p in params] == [8] * n + [128] * len(maps),
          [len(p) for p in params])
    check(f"{label}: memref descriptors" + (" and tile counter" if counter else ""),
          params[:n] == words)
    encodes = {r["id"]: r for r in new if r["call"] == "encode"}
    for name, (ptr, (dims, strides, box)), p in zip(("q", "k", "v", "out"), maps,
                                                     params[n:]):
        e = encodes.get(struct.unpack("<Q", p[8:16])[0])
        check(f"{label}: {name}'s tensor map",
              p[:8] == b"FAKEMAP\0" and e is not None and e["global"] == ptr
              and e["dims"] == dims and e["strides"] == strides and e["box"] == box
              and e["type"] == (9 if info["dtype"] == "bf16" else 6)
              and e["element_strides"] == [1, 1, 1] and e["interleave"] == 0
              and e["swizzle"] == 3 and e["fill"] == 0, e)


def launch_and_check(kernel, label, cu_host, stream=0, resident=SMS, counters=None,
                     misalign=0):
    info = kernel.info
    tokens = cu_host[-1]
    bufs = Buffers(misalign)
    before = len(records())
    kernel.launch(cu_host, tokens, bufs.ptr["cu"], bufs.ptr["q"], bufs.ptr["k"],
                  bufs.ptr["v"], bufs.ptr["out"], bufs.ptr["lse"], stream)
    check_launch(label, info, bufs, cu_host, tokens, records()[before:], resident,
                 stream, counters)


def expect_nothing_launched(label, fn, want):
    before = len(records())
    try:
        fn()
    except attn_runtime.Error as e:
        if want not in str(e):
            fail(f"{label}: '{e}', expected '{want}'")
        check(f"{label}: {e}; nothing launched",
              not any(r["call"] == "launch" for r in records()[before:]))
        return
    fail(f"{label}: no error")


def main():
    ok, why = attn_runtime.driver_available()
    check("the fake driver is the one loaded", ok, why)
    for path in sys.argv[1:]:
        name = os.path.basename(path)
        before = len(records())
        kernel = attn_runtime.Kernel(path)
        info = kernel.info
        raised = [r for r in records()[before:] if r["call"] == "set_attribute"]
        check(f"{name}: dynamic shared memory raised to {info['shared_bytes']}",
              raised == [{"call": "set_attribute", "kernel": info["kernel"],
                          "attribute": 8, "value": info["shared_bytes"]}]
              if info["shared_bytes"] > 48 * 1024 else not raised, raised)
        counters = {}
        launch_and_check(kernel, f"{name} (300 tokens in 4 documents)",
                         [0, 100, 100, 101, 300], counters=counters)
        launch_and_check(kernel, f"{name} (1 document of 1000, again)", [0, 1000],
                         counters=counters)
        if info.get("grid", "tiles") != "tiles":
            kernel.limit_resident_blocks(5)
            launch_and_check(kernel, f"{name} (5 resident blocks)", [0, 700, 1000],
                             resident=5, counters=counters)
            launch_and_check(kernel, f"{name} (another stream)", [0, 500], stream=0x1234,
                             resident=5, counters=counters)
        bufs = Buffers()
        expect_nothing_launched(
            f"{name}: bad cu_seqlens",
            lambda: kernel.launch([0, 5, 3], 3, bufs.ptr["cu"], bufs.ptr["q"], bufs.ptr["k"],
                                  bufs.ptr["v"], bufs.ptr["out"], bufs.ptr["lse"]),
            "invalid cu_seqlens: cu_seqlens must not decrease")
        # Every kernel reads q, k and v in 16-byte pieces; out and lse 4.
        byte = Buffers(misalign=1)
        expect_nothing_launched(
            f"{name}: q 1 byte off",
            lambda: kernel.launch([0, 10], 10, bufs.ptr["cu"], byte.ptr["q"],
                                  bufs.ptr["k"], bufs.ptr["v"], bufs.ptr["out"],
                                  bufs.ptr["lse"]),
            "needs q 16-byte aligned")
        expect_nothing_launched(
            f"{name}: lse 2 bytes off",
            lambda: kernel.launch([0, 10], 10, bufs.ptr["cu"], bufs.ptr["q"],
                                  bufs.ptr["k"], bufs.ptr["v"], bufs.ptr["out"],
                                  bufs.ptr["lse"] + 2),
            "the kernel needs lse 4-byte aligned")
        # cu_seqlens entries are int32s: no wrapping, no truncation.
        for entries, want in (([0, 2**33], "does not fit in int32"),
                              ([0, 5.5], "must be integers"),
                              ([0, "7"], "must be integers")):
            expect_nothing_launched(
                f"{name}: cu_seqlens {entries}",
                lambda: kernel.launch(entries, 10, bufs.ptr["cu"], bufs.ptr["q"],
                                      bufs.ptr["k"], bufs.ptr["v"], bufs.ptr["out"],
                                      bufs.ptr["lse"]),
                want)
        if info.get("loads") == "tma":
            bad = Buffers(misalign=8)
            expect_nothing_launched(
                f"{name}: misaligned q",
                lambda: kernel.launch([0, 10], 10, bad.ptr["cu"], bad.ptr["q"],
                                      bad.ptr["k"], bad.ptr["v"], bad.ptr["out"],
                                      bad.ptr["lse"]),
                "TMA needs q 16-byte aligned")
        # Tokens, addresses and the stream are checked, not wrapped by ctypes.
        good = [bufs.ptr[n] for n in ("cu", "q", "k", "v", "out", "lse")]
        for label, tokens, ptrs, want in (
                ("tokens 2**64 + 10", 2**64 + 10, good, "tokens must be in [0, "),
                ("tokens 10.5", 10.5, good, "tokens must be an integer"),
                ("q 2**64 + q", 10, [good[0], 2**64 + good[1]] + good[2:],
                 "q must be in [0, "),
                ("lse -4", 10, good[:5] + [-4], "lse must be in [0, ")):
            expect_nothing_launched(f"{name}: {label}",
                                    lambda: kernel.launch([0, 10], tokens, *ptrs), want)
        before = len(records())
        kernel.launch([0], 0, 0, 0, 0, 0, 0, 0)
        check(f"{name}: 0 tokens, nothing launched",
              not any(r["call"] == "launch" for r in records()[before:]))
        # A bound launch keeps its kernel loaded (it used to keep only the
        # handle, which the kernel's collection freed under it), and one of
        # a closed kernel is an error.
        launch = attn_runtime.Kernel(path).bind([0, 10], 10, *good)
        import gc
        gc.collect()
        before = len(records())
        launch()
        check(f"{name}: a bound launch outlives its Kernel object",
              sum(r["call"] == "launch" for r in records()[before:]) == 1)
        launch.kernel.close()
        expect_nothing_launched(f"{name}: a closed kernel", launch, "the kernel was closed")


if __name__ == "__main__":
    main()
