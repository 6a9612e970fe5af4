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
        current_stream=lambda: types.SimpleNamespace(cuda_stream=0x5150),
        is_available=lambda: False)
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
    # The rest runs on a fixed list, whatever bench/flavours ships.
    gpu_bench.FLAVOURS = {"mma-sync": "", "wgmma": "_wgmma", "wgmma-ws": "_wgmma_ws",
                          "wgmma-pp": "_wgmma_pp", "wgmma-pp-tma": "_wgmma_pp_tma"}
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

    for i, (name, _, tokens, docs) in enumerate(gpu_bench.CASES):
        lengths = gpu_bench.case_lengths(tokens, docs, 7 + i)
        check(f"case '{name}': {len(lengths)} documents cover {tokens} tokens",
              sum(lengths) == tokens and min(lengths) > 0)
    fixed = [gpu_bench.case_lengths(c[2], c[3], 0) for c in gpu_bench.CASES
             if c[3].startswith("fixed")]
    check("fixed packings: 64 x 256, 1 x 16384, 256 x 64, 1 x 4096",
          [(len(x), x[0]) for x in fixed] == [(64, 256), (1, 16384), (256, 64), (1, 4096)],
          [len(x) for x in fixed])
    import numpy as np
    import packing
    rng = np.random.default_rng(3)
    drawn = packing.draw_lengths(49152, "uniform:100-3000", rng)
    check("uniform:100-3000 draws 100..3000 (the last cut to fit)",
          sum(drawn) == 49152 and max(drawn) <= 3000 and min(drawn[:-1]) >= 100, drawn)
    check("bad distributions are refused",
          all(raises(packing.parse_docs, x) for x in
              ("x:1", "uniform:3-1", "fixed:1-2", "lognormal:0", "uniform:", "fixed:a")))
    ns = lambda **kw: types.SimpleNamespace(**{**dict(doc_lengths=None, cu_seqlens=None,
                                                      docs=None, tokens=None,
                                                      config="bf16_h16_d128"), **kw})
    check("one packing from the command line",
          gpu_bench.custom_case(ns(cu_seqlens="0,5,5,9"))[2:] == (9, [5, 0, 4])
          and gpu_bench.custom_case(ns(doc_lengths="3,0,1"))[2:] == (4, [3, 0, 1])
          and gpu_bench.custom_case(ns(docs="fixed:64", tokens=128))[2:] == (128, "fixed:64")
          and gpu_bench.custom_case(ns()) is None)
    check("bad packings are refused",
          all(raises(gpu_bench.custom_case, ns(**kw)) for kw in (
              dict(cu_seqlens="0,5,3"), dict(cu_seqlens="1,5"), dict(doc_lengths="2,-1"),
              dict(doc_lengths="0,0"), dict(doc_lengths="a"), dict(docs="fixed:4"),
              dict(docs="fixed:4", tokens=8, doc_lengths="8"))))

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
    r = {"case": "c", "fa2_tflops": 100.0, "flex_tflops": 120.0, "sdpa_tflops": 5.0,
         "cudnn_tflops": 900.0, "cudnn_rel_diff_out": 0.3,           # wrong peer
         "cudnn_torch_error": "x", "flex_block_mask_ms": 1.0, "fa2_rel_diff_out": 0.0}
    r.update({"ours" + s: x for s, x in good.items()}, ours_tflops=90.0,
             ours_rel_diff_out=1e-3)
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
    check("a peer's figure counts only if its output is close to FA2's",
          gpu_bench.best(r, list(gpu_bench.peers.BAR)) == ("flex", 120.0))
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        gpu_bench.print_table([r], variants, matmul=750.0)
    lines = buf.getvalue().splitlines()
    row = lines[1].split()
    check("the table: the best good variant against the best good peer, 150/120",
          row[1:10] == ["150.0", "wgmma-pp", "100.0", "120.0", "5.0", "bad", "n/a",
                        "1.00", "1.25"] and row[10:] == ["flex", "0.20"], lines[1])
    per_variant = {x.split()[0]: x.split()[1] for x in lines[4:9]}
    check("the table: each variant's figure, or bad",
          per_variant == {"mma-sync": "90.0", "wgmma-pp": "150.0", "wgmma-pp-tma": "bad",
                          "wgmma-ws": "bad", "wgmma": "bad"}, per_variant)
    # wgmma-pp 1 and 0.89 of the best, mma-sync 0.6 and 1: wgmma-pp; with
    # wgmma-pp 0.56 of the best twice: mma-sync.
    r2, r3 = dict(r, wgmma_pp_tflops=80.0), dict(r, wgmma_pp_tflops=50.0)
    check("the fastest flavour: the best geometric mean relative to the best of ours",
          gpu_bench.fastest_flavour([r, r2], variants) == "wgmma-pp"
          and gpu_bench.fastest_flavour([r3, r3], variants) == "mma-sync"
          and gpu_bench.fastest_flavour([{"case": "x"}], variants) is None)

    # Without a GPU: a clear message and exit status 1, no traceback.
    try:
        gpu_bench.require_gpu("gpu_bench.py")
        exited = None
    except SystemExit as e:
        exited = str(e.code)
    check("without a GPU the benchmark says so and stops",
          exited is not None and exited.startswith("gpu_bench.py: needs a CUDA GPU"), exited)


def raises(fn, *args):
    try:
        fn(*args)
    except ValueError:
        return True
    return False


if __name__ == "__main__":
    main()
