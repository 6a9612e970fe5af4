#!/usr/bin/env python3
"""Checks bench/gpu_bench.py's plumbing without a GPU or PyTorch (a stub
module stands in for torch; nothing is launched or timed), so that a GPU
session does not find its mistakes: the flavours and kernel-file names
agree with bench/flavours.sh (what make_kernels.sh builds), variants parse,
--sweep finds the key-tile builds, every case's packing covers its tokens,
our kernels are bound through the runtime's Python binding with the
tensors' addresses and the current stream, and the table gives a figure
only to a variant whose outputs were all written, identical after the timed
calls and close to FA2's.

Prints one line per check; exit status 1 on the first failure.
"""

import contextlib
import io
import os
import subprocess
import sys
import tempfile
import types

HERE = os.path.dirname(os.path.abspath(__file__))


def stub_torch():
    """A torch module with only what gpu_bench.py touches at import."""
    torch = types.ModuleType("torch")
    nn = types.ModuleType("torch.nn")
    functional = types.ModuleType("torch.nn.functional")
    torch.nn, nn.functional = nn, functional
    torch.cuda = types.SimpleNamespace(
        current_stream=lambda: types.SimpleNamespace(cuda_stream=0x5150))
    sys.modules.update({"torch": torch, "torch.nn": nn,
                        "torch.nn.functional": functional})


stub_torch()
sys.path.insert(0, HERE)
import gpu_bench  # noqa: E402


def check(name, cond, detail=""):
    if not cond:
        print(f"FAIL {name}: {detail}")
        sys.exit(1)
    print(f"ok {name}")


def main():
    # Flavours and file names, as the shell scripts have them.
    shell = subprocess.run(
        ["bash", "-c", 'source bench/flavours.sh; for f in "${FLAVOURS[@]}"; do '
         'echo "$f $(flavour_suffix "$f")"; done'],
        cwd=os.path.dirname(HERE), capture_output=True, text=True, check=True).stdout
    want = {}
    for line in shell.splitlines():
        name, _, suffix = line.partition(" ")
        want[name] = suffix
    check("flavours and suffixes as bench/flavours.sh gives them",
          gpu_bench.FLAVOURS == want, f"{gpu_bench.FLAVOURS} != {want}")
    check("variants parse",
          gpu_bench.variant_suffix("mma-sync") == ""
          and gpu_bench.variant_suffix("wgmma-pp-tma") == "_wgmma_pp_tma"
          and gpu_bench.variant_suffix("wgmma:bk64") == "_wgmma_bk64"
          and gpu_bench.variant_suffix("mma-sync:bk32") == "_bk32")
    check("bad variants are refused",
          all(gpu_bench.variant_suffix(v) is None
              for v in ("nope", "wgmma:64", "wgmma:bkx", "wgmma:bk")))

    with tempfile.TemporaryDirectory() as d:
        for f in ("bf16_h16_d128_wgmma_bk64.cubin", "bf16_h32_d64_wgmma_bk96.cubin",
                  "bf16_h16_d128_bk32.cubin", "bf16_h16_d128_wgmma_pp_bk64.cubin",
                  "bf16_h16_d128_wgmma_bkx.cubin"):
            open(os.path.join(d, f), "w").close()
        got = gpu_bench.sweep_variants(d, ["mma-sync", "wgmma", "wgmma:bk64"])
        check("--sweep finds the key-tile builds of the given flavours",
              got == ["mma-sync:bk32", "wgmma:bk96"], got)

    for i, (name, _, _, _, tokens, dist) in enumerate(gpu_bench.CASES):
        lengths = gpu_bench.case_lengths(tokens, dist, 7 + i)
        check(f"case '{name}': {len(lengths)} documents cover {tokens} tokens",
              sum(lengths) == tokens and min(lengths) > 0)
    fixed = [gpu_bench.case_lengths(c[4], c[5], 0) for c in gpu_bench.CASES
             if c[5][0] == "fixed"]
    check("fixed packings: 64 x 256 and 1 x 16384",
          [len(x) for x in fixed] == [64, 1], [len(x) for x in fixed])

    # Binding: the runtime's Kernel gets the tensors' addresses, the host
    # cu_seqlens and the current stream.
    seen = {}

    class FakeKernel:
        def __init__(self, path):
            self.info = {"kernel": "attn", "path": path}

        def bind(self, *args):
            seen["args"] = args
            return lambda: None

    class FakeTensor:
        def __init__(self, ptr, shape, values=None):
            self.ptr, self.shape, self.values = ptr, shape, values

        def data_ptr(self):
            return self.ptr

        def cpu(self):
            return self

        def tolist(self):
            return self.values

    real = gpu_bench.attn_runtime.Kernel
    gpu_bench.attn_runtime.Kernel = FakeKernel
    try:
        k = gpu_bench.OurKernel("x.cubin")
        q, kk, v = (FakeTensor(0x1000 * (i + 1), (300, 16, 128)) for i in range(3))
        cu = FakeTensor(0x9000, (3,), [0, 100, 300])
        out, lse = FakeTensor(0xa000, (300, 16, 128)), FakeTensor(0xb000, (16, 300))
        k.bind(q, kk, v, cu, out, lse)
    finally:
        gpu_bench.attn_runtime.Kernel = real
    check("a kernel is bound with cu_seqlens, tokens, addresses and the stream",
          seen["args"] == ([0, 100, 300], 300, 0x9000, 0x1000, 0x2000, 0x3000,
                           0xa000, 0xb000, 0x5150), seen["args"])

    # The table: a figure only for good variants; the ratio from those.
    variants = ["mma-sync", "wgmma-pp", "wgmma-pp-tma", "wgmma-ws", "wgmma"]
    good = {"_unwritten": 0, "_rerun_identical": True}
    r = {"case": "c", "fa2_tflops": 100.0, "flex_tflops": 120.0,
         "flex_block_mask_ms": 1.0, "fa2_rel_diff_out": 1e-3}
    r.update({"ours" + s: x for s, x in good.items()}, ours_tflops=90.0)
    r.update({"wgmma_pp" + s: x for s, x in good.items()}, wgmma_pp_tflops=150.0,
             wgmma_pp_rel_diff_out=2e-3)
    r.update({"wgmma_pp_tma" + s: x for s, x in good.items()},
             wgmma_pp_tma_tflops=400.0, wgmma_pp_tma_rel_diff_out=0.5)  # wrong
    r.update(wgmma_ws_unwritten=7, wgmma_ws_rerun_identical=True,
             wgmma_ws_tflops=300.0)                                  # unwritten
    r.update(wgmma_unwritten=0, wgmma_rerun_identical=False,
             wgmma_tflops=300.0)                                     # not repeatable
    keys = [gpu_bench.variant_key(x, variants) for x in variants]
    check("only written, repeatable outputs close to FA2's count",
          gpu_bench.valid_keys(r, keys) == ["ours", "wgmma_pp"],
          gpu_bench.valid_keys(r, keys))
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        gpu_bench.print_table([r], variants)
    row = buf.getvalue().splitlines()[1].split()
    check("the table: bad variants have no figure, the ratio is 150/120",
          row[1:8] == ["90.0", "150.0", "bad", "bad", "bad", "100.0", "120.0"]
          and row[10] == "1.25", buf.getvalue())


if __name__ == "__main__":
    main()
