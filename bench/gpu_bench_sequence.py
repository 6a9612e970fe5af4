#!/usr/bin/env python3
"""Times the sequence helpers' kernels (attn_opt.doc_positions with
tokens=T, attn_opt.segments_from_separators with padded=True: no
synchronization) against the same results computed with PyTorch's own
operations (searchsorted; nonzero, which synchronizes), and the kernel of
attn.check_cu_seqlens that doc_attention launches on a GPU against the
eight PyTorch operations it replaced, after checking that each pair
agrees. Device time per call as bench/gpu_bench.py takes it
(median_ms); --device cpu runs the same on the CPU (wall time, for the
script's own test: test/Bench/sequence-bench.test).

    python3 bench/gpu_bench_sequence.py [--device cuda|cpu] [--tokens 16384,65536]
"""
import argparse
import sys

import numpy as np
import torch

import attn_opt
from attn_opt.ops import _record_cu_seqlens_errors as our_check
from jit_overhead import ms
from packing import draw_lengths

EOD = 50256


def torch_positions(cu, tokens):
    t = torch.arange(tokens, dtype=torch.int32, device=cu.device)
    return t - cu[torch.searchsorted(cu[1:], t, right=True)]


def torch_segments(ids):
    ends = (ids == EOD).nonzero().flatten().to(torch.int32) + 1
    cu = torch.cat([torch.zeros(1, dtype=torch.int32, device=ids.device), ends])
    if ids.numel() and int(cu[-1]) != ids.numel():
        cu = torch.cat([cu, torch.full((1,), ids.numel(), dtype=torch.int32, device=ids.device)])
    return cu


def torch_check(cu, tokens, record):
    """The check of attn.check_cu_seqlens with PyTorch's operations (the
    op's check before that kernel)."""
    bad = (cu[0] != 0) | (cu[-1] != tokens) | (cu[1:] < cu[:-1]).any()
    record.add_(bad.to(torch.int32))


def checks_agree(cu, tokens):
    """Both checks on a valid packing (record 0) and on the same with one
    decrease (record nonzero)."""
    broken = cu.clone()
    broken[cu.numel() // 2] = -1
    for data, bad in ((cu, False), (broken, True)):
        for check in (our_check, torch_check):
            record = torch.zeros(1, dtype=torch.int32, device=cu.device)
            check(data, tokens, record)
            if bool(record[0] != 0) != bad:
                return False
    return True


def wall_ms(fn):
    """The median wall time of 20 calls after a first one (--device cpu)."""
    fn()
    return ms(fn, repeat=20)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--tokens", default="16384,65536")
    opts = ap.parse_args()
    if opts.device == "cuda":
        from gpu_bench import median_ms as timer
        from gpu_bench import require_gpu
        require_gpu("gpu_bench_sequence.py")
    else:
        timer = wall_ms
    rng = np.random.default_rng(0)
    print("tokens | documents | doc_positions ms | torch searchsorted ms | "
          "segments (padded) ms | torch nonzero ms | check ms | torch check ms")
    for tokens in map(int, opts.tokens.split(",")):
        lengths = draw_lengths(tokens, "lognormal:1024", rng)
        ids = torch.from_numpy(rng.integers(0, EOD, tokens)).to(opts.device)
        ends = torch.from_numpy(np.cumsum(lengths) - 1).to(opts.device)
        ids[ends] = EOD
        cu = torch_segments(ids)
        padded = attn_opt.segments_from_separators(ids, EOD, padded=True)
        n = cu.numel()
        if not (torch.equal(padded[:n], cu) and bool((padded[n:] == tokens).all())):
            sys.exit(f"FAIL: segments_from_separators differs from PyTorch's at T = {tokens}")
        if not torch.equal(attn_opt.doc_positions(cu, tokens=tokens), torch_positions(cu, tokens)):
            sys.exit(f"FAIL: doc_positions differs from PyTorch's at T = {tokens}")
        if not checks_agree(cu, tokens):
            sys.exit(f"FAIL: check_cu_seqlens' kernel and PyTorch's check differ at T = {tokens}")
        record = torch.zeros(1, dtype=torch.int32, device=opts.device)
        figures = [timer(lambda: attn_opt.doc_positions(cu, tokens=tokens)),
                   timer(lambda: torch_positions(cu, tokens)),
                   timer(lambda: attn_opt.segments_from_separators(ids, EOD, padded=True)),
                   timer(lambda: torch_segments(ids)),
                   timer(lambda: our_check(cu, tokens, record)),
                   timer(lambda: torch_check(cu, tokens, record))]
        print(f"{tokens} | {n - 1} | " + " | ".join(f"{f:.4f}" for f in figures))
    attn_opt.check_errors()


if __name__ == "__main__":
    main()
