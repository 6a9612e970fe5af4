"""The JIT library's costs, measured on this machine (no GPU needed):
cold compile per kernel (CPU and NVIDIA forward and backward, NVIDIA for
sm_90a and sm_80 with ptxas included; the sequence helpers' and the op's
cu_seqlens check's); a first training step on the CPU with an empty cache,
the backward's kernel compiled while the forward's is (the op) or by its
own call; a disk-cache hit in a new library (key, read, checksum, load)
and as a new process's first kernel (what a second process pays, with its
one-time MLIR context); an in-memory hit (what every call pays); and
attn_opt.doc_attention's host overhead per call next to
torch.nn.functional.scaled_dot_product_attention on the same tiny CPU
problem (1 token, 1 head, D = 32: the kernels' own work is negligible).

    PYTHONPATH=build/python CUDA_ROOT=/usr/local/cuda python3 bench/jit_overhead.py
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import torch

import attn_opt
from attn_opt import _C, _library


def config(target, dtype, backward=False):
    return json.dumps({"target": target, "direction": "backward" if backward else "forward",
                       "dtype": dtype, "heads": 16, "kv_heads": 4, "head_dim": 128,
                       "value_dim": 128, "mask": "document,causal", "scale": None,
                       "deterministic": False, "kernel_options": ""})


def ms(fn, repeat=1):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def per_call_us(fn, n=2000):
    for _ in range(100):
        fn()
    samples = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        samples.append((time.perf_counter() - start) / n * 1e6)
    return statistics.median(samples)


FIRST_HIT = """
import sys, time
from attn_opt import _C
library = _C.Library(sys.argv[1], True)
start = time.perf_counter()
library.get(sys.argv[2])
print((time.perf_counter() - start) * 1e3)
assert library.stats()["disk_hits"] == 1
"""


def first_hit_ms(cache, c, repeat=3):
    """A new process's first disk-cache hit (its MLIR context included)."""
    return statistics.median(
        float(subprocess.run([sys.executable, "-c", FIRST_HIT, cache, c], check=True,
                             capture_output=True, text=True).stdout)
        for _ in range(repeat))


FIRST_STEP = """
import sys, time, torch, attn_opt
import torch._dynamo  # (what a custom op's first call imports, 1-2 s: not timed)
if sys.argv[1] == "sequential":  # the backward compiled by its own call
    attn_opt._library._in_background = lambda fn, **kwargs: None
torch.manual_seed(0)
cu = torch.tensor([0, 100, 256], dtype=torch.int32)
q, k, v = (torch.randn(256, h, 128, dtype=torch.bfloat16, requires_grad=True)
           for h in (16, 4, 4))
start = time.perf_counter()
attn_opt.doc_attention(q, k, v, cu).float().sum().backward()
print((time.perf_counter() - start) * 1e3)
assert attn_opt.cache_stats()["compiled"] == 2
"""


def first_step_ms(how, repeat=3):
    """A training step's forward and backward on the CPU with an empty
    cache, both compiles included: the backward's started by the forward
    ("overlapped", what the op does) or by the backward ("sequential")."""
    times = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as d:
            env = dict(os.environ, ATTN_OPT_CACHE_DIR=d)
            times.append(float(subprocess.run([sys.executable, "-c", FIRST_STEP, how],
                                              env=env, check=True, capture_output=True,
                                              text=True).stdout))
    return statistics.median(times)


def main():
    print(f"attn-opt {_C.compiler_version}; torch {torch.__version__}; "
          f"{torch.get_num_threads()} threads")
    kernels = [("cpu", "bf16", False), ("cpu", "bf16", True), ("sm_90a", "bf16", False),
               ("sm_90a", "bf16", True), ("sm_80", "bf16", False), ("sm_80", "bf16", True)]
    with tempfile.TemporaryDirectory() as d:
        _C.Library(d, True)  # (the first library pays for registering MLIR's dialects)
        for target, dtype, backward in kernels:
            c = config(target, dtype, backward)
            cold = ms(lambda: _C.Library(d, True).get(c))
            disk = ms(lambda: _C.Library(d, True).get(c), repeat=5)
            first = first_hit_ms(d, c)
            name = f"{target} {'backward' if backward else 'forward'}"
            print(f"{name:18s} cold compile {cold:7.1f} ms   disk-cache hit {disk:6.2f} ms"
                  f"   in a new process {first:5.2f} ms")
        print(f"first training step, cpu (256 tokens, empty cache): "
              f"{first_step_ms('overlapped'):.1f} ms; with the backward compiled by its own "
              f"call {first_step_ms('sequential'):.1f} ms")
        # The sequence helpers' kernels.
        for target in ("cpu", "sm_90a"):
            for helper, extra in (("doc_positions", {}),
                                  ("segments_from_separators", {"separator": 2}),
                                  ("check_cu_seqlens", {})):
                c = json.dumps({"target": target, "sequence": helper, **extra})
                cold = ms(lambda: _C.Library(d, True).get(c))
                disk = ms(lambda: _C.Library(d, True).get(c), repeat=5)
                print(f"{target} {helper:24s} cold compile {cold:7.1f} ms   "
                      f"disk-cache hit {disk:6.2f} ms")
    kwargs = dict(dtype="f32", heads=1, kv_heads=1, head_dim=32, value_dim=32,
                  mask="document,causal", scale=None, target="cpu", backward=False,
                  deterministic=False)
    _library.kernel(**kwargs)
    print(f"in-memory hit (attn_opt's dictionary)   {per_call_us(lambda: _library.kernel(**kwargs)):.2f} us")
    q = torch.randn(1, 1, 32)
    cu = torch.tensor([0, 1], dtype=torch.int32)
    qs = q.transpose(0, 1)
    ours = per_call_us(lambda: attn_opt.doc_attention(q, q, q, cu))
    sdpa = per_call_us(lambda: torch.nn.functional.scaled_dot_product_attention(qs, qs, qs,
                                                                                is_causal=True))
    print(f"per call, 1 token: attn_opt.doc_attention {ours:.1f} us, "
          f"F.scaled_dot_product_attention {sdpa:.1f} us")


if __name__ == "__main__":
    main()
