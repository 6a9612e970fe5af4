#!/usr/bin/env python3
"""Times attn-opt's forward kernel against PyTorch's FlexAttention (with a
document-causal block mask, whose construction is timed too), PyTorch's
built-in FlashAttention varlen (aten._flash_attention_forward with
cu_seqlens) and SDPA run document by document, in one process, on the same
inputs; cross-checks every output against ours; prints useful TFLOP/s
(sum over documents of 2*D*H*L^2 / time) and ratios. Times are device
times per call: the median of samples that each time a batch of back-to-back
calls (median_ms), the same for every method.

Our kernels are compiled elsewhere (bench/make_kernels.sh: cubin + manifest)
and launched here through the runtime's C API (runtime/python/
attn_runtime.py over libattn-runtime.so, which bench/build_cuda_run.sh
builds; ATTN_RUNTIME_LIB names it), the launch attn-cuda-run checks. Needs
an NVIDIA GPU and PyTorch.
--variants times several builds of ours side by side: a variant is a
flavour of bench/flavours, optionally with a key-tile size: FLAVOUR is
NAME[_FLAVOUR].cubin (the first flavour, mma-sync, without a suffix, '-'
as '_'), FLAVOUR:bkN is NAME[_FLAVOUR]_bkN.cubin, as bench/make_kernels.sh
names them; the first variant is reported as "ours".
--sweep adds every such key-tile build of the given flavours that is there.
    python3 bench/gpu_bench.py --kernels .kernels [--variants mma-sync,wgmma] [--sweep]
                               [--out results.json]
"""
import argparse
import glob
import json
import os
import statistics
import sys

import numpy as np
import torch
import torch.nn.functional as F

from packing import lognormal_lengths

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "runtime", "python"))
import attn_runtime  # noqa: E402


CASES = [
    # name, kernel, heads, head_dim, tokens, lengths
    ("16K lognormal(1024)", "bf16_h16_d128", 16, 128, 16384, ("lognormal", 1024)),
    ("64K lognormal(2048)", "bf16_h16_d128", 16, 128, 65536, ("lognormal", 2048)),
    ("16K = 64 x 256", "bf16_h16_d128", 16, 128, 16384, ("fixed", 256)),
    ("16K = 1 x 16384", "bf16_h16_d128", 16, 128, 16384, ("fixed", 16384)),
    ("16K lognormal(1024), Hq=32 D=64", "bf16_h32_d64", 32, 64, 16384, ("lognormal", 1024)),
]


class OurKernel:
    """One of our kernels, launched through the runtime's C API
    (attn_runtime: the launch attn-cuda-run checks, with its kernel
    parameters, grid, tensor maps and tile counter)."""

    def __init__(self, path):
        self.kernel = attn_runtime.Kernel(path)
        self.info = self.kernel.info

    def bind(self, q, k, v, cu, out, lse):
        """The launch for these tensors on the current stream, its
        arguments converted once (the per-call cost stays small)."""
        cu_host = cu.cpu().tolist()
        stream = torch.cuda.current_stream().cuda_stream
        return self.kernel.bind(cu_host, q.shape[0], cu.data_ptr(), q.data_ptr(),
                                k.data_ptr(), v.data_ptr(), out.data_ptr(),
                                lse.data_ptr(), stream)


def median_ms(fn, warmup=5, reps=30, min_sample_ms=2.0, max_batch=50):
    """Median device time of one call of fn, in ms. Each sample times a
    batch of back-to-back calls between two CUDA events and divides, so the
    host's launch overhead (Python, argument handling) overlaps the device
    work instead of being counted in it; the batch is sized from a first
    timing to take about min_sample_ms. The same for every method."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()

    def sample(n):
        s = torch.cuda.Event(enable_timing=True)
        e = torch.cuda.Event(enable_timing=True)
        s.record()
        for _ in range(n):
            fn()
        e.record()
        e.synchronize()
        return s.elapsed_time(e) / n

    batch = max(1, min(max_batch, int(min_sample_ms / max(sample(1), 1e-3))))
    return statistics.median(sample(batch) for _ in range(reps))


def rel(a, b):
    a, b = a.float(), b.float()
    return float((a - b).norm() / b.norm())


def read_flavours():
    """Our flavours (bench/flavours) -> their kernel-file suffixes, as
    bench/make_kernels.sh names the builds: none for the first, else
    _NAME with '-' as '_'."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "flavours")
    with open(path) as f:
        names = [line.split()[0] for line in f if line.strip() and not line.startswith("#")]
    return {n: "" if i == 0 else "_" + n.replace("-", "_") for i, n in enumerate(names)}


FLAVOURS = read_flavours()


def variant_suffix(variant):
    """Kernel file suffix of a variant "FLAVOUR[:bkN]", or None if malformed."""
    flavour, _, tile = variant.partition(":")
    if flavour not in FLAVOURS or (tile and not (tile.startswith("bk") and tile[2:].isdigit())):
        return None
    return FLAVOURS[flavour] + (f"_{tile}" if tile else "")


def sweep_variants(kernels_dir, variants):
    """The other key-tile builds of the given flavours that make_kernels.sh
    left in kernels_dir (NAME[_FLAVOUR]_bkN.cubin for a benchmarked NAME), as
    variants FLAVOUR:bkN."""
    found = set()
    for variant in variants:
        flavour = variant.partition(":")[0]
        for kernel in {c[1] for c in CASES}:
            prefix = f"{kernel}{FLAVOURS[flavour]}_bk"
            for f in glob.glob(os.path.join(kernels_dir, prefix + "*.cubin")):
                tile = os.path.basename(f)[len(prefix):-len(".cubin")]
                if tile.isdigit():
                    found.add((flavour, int(tile)))
    return [f"{fl}:bk{n}" for fl, n in sorted(found)
            if f"{fl}:bk{n}" not in variants]


def variant_key(variant, variants):
    """JSON key prefix of a flavour: "ours" for the first, else its name."""
    return ("ours" if variant == variants[0]
            else variant.replace("-", "_").replace(":", "_"))


def case_lengths(tokens, dist, seed):
    rng = np.random.default_rng(seed)
    kind, param = dist
    lengths = (lognormal_lengths(tokens, param, rng.lognormal) if kind == "lognormal"
               else [param] * (tokens // param))
    assert sum(lengths) == tokens
    return lengths


def case_inputs(heads, d, tokens, lengths, seed):
    """cu_seqlens and random q, k, v in [-1, 1) on the GPU."""
    dev = "cuda"
    cu = torch.tensor([0] + list(np.cumsum(lengths)), dtype=torch.int32, device=dev)
    g = torch.Generator(device=dev).manual_seed(seed)
    q, k, v = (torch.rand(tokens, heads, d, device=dev, dtype=torch.bfloat16,
                          generator=g) * 2 - 1 for _ in range(3))
    return cu, q, k, v


def fa2(q, k, v, cu, maxlen, scale):
    return torch.ops.aten._flash_attention_forward(
        q, k, v, cu, cu, maxlen, maxlen, 0.0, True, False, scale=scale)


def run_case(name, kernel, heads, d, tokens, dist, kernels_dir, seed,
             variants):
    lengths = case_lengths(tokens, dist, seed)
    dev = "cuda"
    cu, q, k, v = case_inputs(heads, d, tokens, lengths, seed)
    scale = d ** -0.5
    flops = sum(2.0 * d * heads * l * l for l in lengths)
    res = {"case": name, "tokens": tokens, "docs": len(lengths), "heads": heads,
           "head_dim": d, "useful_flops": flops}

    outs = {}
    for variant in variants:
        key = variant_key(variant, variants)
        path = f"{kernels_dir}/{kernel}{variant_suffix(variant)}.cubin"
        if key != "ours" and not os.path.exists(path):
            res[key + "_error"] = "no kernel " + path
            continue
        try:
            ours = OurKernel(path)
            out = torch.full_like(q, float("nan"))
            lse = torch.full((heads, tokens), float("nan"), device=dev)
            launch = ours.bind(q, k, v, cu, out, lse)
            launch()
            torch.cuda.synchronize()
            res[key + "_unwritten"] = int(out.isnan().sum() + lse.isnan().sum())
            first = (out.clone(), lse.clone())
            res[key + "_ms"] = median_ms(launch)
            # Once more after the timed calls, on poisoned outputs: the first
            # outputs bit for bit, or the timed calls did not all do the work
            # (a dynamic grid's tile counter not left at zero would show).
            out.fill_(float("nan"))
            lse.fill_(float("nan"))
            launch()
            torch.cuda.synchronize()
            res[key + "_rerun_identical"] = bool(
                torch.equal(out.view(torch.int16), first[0].view(torch.int16))
                and torch.equal(lse.view(torch.int32), first[1].view(torch.int32)))
            outs[key] = (out, lse)
        except attn_runtime.Error as e:  # this variant only: report it
            res[key + "_error"] = str(e)[:300]
    if not outs:
        return res  # nothing of ours ran (the errors say why)
    # The peers are compared with ours, or if it failed with the first of
    # ours that ran ("compared").
    res["compared"] = "ours" if "ours" in outs else next(iter(outs))
    out, lse = outs[res["compared"]]
    for key, (o, _) in outs.items():
        if key != "ours":
            res[key + "_rel_diff_out_vs_ours"] = rel(o, out)

    maxlen = max(lengths)
    try:
        fa = fa2(q, k, v, cu, maxlen, scale)
        res["fa2_rel_diff_out"] = rel(out, fa[0])
        for key, (o, _) in outs.items():
            if key != "ours":
                res[key + "_rel_diff_out"] = rel(o, fa[0])
        res["fa2_ms"] = median_ms(lambda: fa2(q, k, v, cu, maxlen, scale))
        fa_lse = fa[1].reshape(heads, tokens) if fa[1].numel() == heads * tokens else None
        if fa_lse is not None:
            res["fa2_rel_diff_lse"] = rel(lse, fa_lse)
    except Exception as e:  # report, do not hide
        res["fa2_error"] = repr(e)[:300]

    try:
        from torch.nn.attention.flex_attention import create_block_mask, flex_attention
        doc = torch.repeat_interleave(torch.arange(len(lengths), device=dev),
                                      torch.tensor(lengths, device=dev))

        def mask_mod(b, h, qi, ki):
            return (doc[qi] == doc[ki]) & (qi >= ki)

        bm = create_block_mask(mask_mod, None, None, tokens, tokens, device=dev)
        res["flex_block_mask_ms"] = median_ms(
            lambda: create_block_mask(mask_mod, None, None, tokens, tokens, device=dev),
            warmup=2, reps=5, max_batch=1)
        flex = torch.compile(flex_attention, dynamic=False)
        qh, kh, vh = (x.transpose(0, 1).unsqueeze(0) for x in (q, k, v))
        fo = flex(qh, kh, vh, block_mask=bm, scale=scale)
        res["flex_rel_diff_out"] = rel(out, fo[0].transpose(0, 1))
        res["flex_ms"] = median_ms(lambda: flex(qh, kh, vh, block_mask=bm, scale=scale))
    except Exception as e:
        res["flex_error"] = repr(e)[:300]

    bounds = [0] + list(np.cumsum(lengths))

    def sdpa_docs():
        o = torch.empty_like(q)
        for s, e in zip(bounds[:-1], bounds[1:]):
            o[s:e] = F.scaled_dot_product_attention(
                q[s:e].transpose(0, 1), k[s:e].transpose(0, 1),
                v[s:e].transpose(0, 1), is_causal=True, scale=scale).transpose(0, 1)
        return o

    so = sdpa_docs()
    res["sdpa_rel_diff_out"] = rel(out, so)
    res["sdpa_ms"] = median_ms(sdpa_docs, warmup=2, reps=10)
    keys = [variant_key(v, variants) for v in variants] + ["fa2", "flex", "sdpa"]
    for key in keys:
        if key + "_ms" in res:
            res[key + "_tflops"] = flops / (res[key + "_ms"] * 1e9)
    return res


# Our output's relative difference from FA2's above which a variant has no
# figure: bf16 rounding gives about 1e-3 (measured 1.2-2.2e-3), a wrong
# kernel O(1).
MAX_REL_DIFF_VS_FA2 = 2e-2


def diff_key(key):
    """The result key of a variant's output vs FA2's."""
    return "fa2_rel_diff_out" if key == "ours" else key + "_rel_diff_out"


def valid_keys(r, keys):
    """The variants (result keys) of case result r that get a figure: every
    output written, the same outputs after the timed calls, and (where FA2
    ran) within MAX_REL_DIFF_VS_FA2 of FA2's output."""
    return [k for k in keys if r.get(k + "_unwritten", 1) == 0
            and r.get(k + "_rerun_identical", False)
            and r.get(diff_key(k), 0.0) <= MAX_REL_DIFF_VS_FA2]


def print_table(results, variants):
    ours_keys = [variant_key(v, variants) for v in variants]
    names = variants

    widths = [max(8, len(n)) for n in names]
    hdr = (f"{'case':34s} " + " ".join(f"{n:>{w}s}" for n, w in zip(names, widths)) +
           f" {'FA2':>7s} {'Flex':>7s} {'SDPA':>7s} {'mask ms':>8s} {'best ours/peer':>14s}  diff vs FA2")
    print(hdr)
    for r in results:
        best = max(r.get("fa2_tflops", 0), r.get("flex_tflops", 0))
        valid = valid_keys(r, ours_keys)
        mine = max((r.get(k + "_tflops", 0) for k in valid), default=0)
        f = lambda k, w=7: f"{r[k]:{w}.1f}" if k in r else " " * (w - 3) + "n/a"
        cell = lambda k, w: f(k + "_tflops", w) if k in valid else f"{'bad':>{w}s}"
        print(f"{r['case']:34s} " + " ".join(cell(k, w) for k, w in zip(ours_keys, widths)) +
              f" {f('fa2_tflops')} {f('flex_tflops')} "
              f"{f('sdpa_tflops')} {r.get('flex_block_mask_ms', float('nan')):8.2f} "
              f"{(mine / best if best else float('nan')):14.2f}  "
              + " ".join(f"{r.get(diff_key(k), float('nan')):.2e}" for k in ours_keys))
    print("(useful TFLOP/s, bf16; time per call = median over 30 samples, each a batch\n"
          " of back-to-back calls between CUDA events, so host launch overhead is hidden;\n"
          " bad: outputs left unwritten, different after the timed calls, or\n"
          f" more than {MAX_REL_DIFF_VS_FA2:g} from FA2's)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernels", default=".kernels")
    ap.add_argument("--out")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--cases", default="")
    ap.add_argument("--variants", default="mma-sync",
                    help="our builds, comma-separated: FLAVOUR[:bkN] with "
                         "FLAVOUR one of bench/flavours")
    ap.add_argument("--sweep", action="store_true",
                    help="also time every other key-tile build of the given "
                         "flavours found in --kernels (NAME[_FLAVOUR]_bkN)")
    ap.add_argument("--fa2-only", action="store_true",
                    help="run FA2 varlen twice on each selected case and stop "
                         "(for a profiler: bench/profile.sh)")
    args = ap.parse_args()
    wanted = args.cases.split(",") if args.cases else None
    cases = [(i, c) for i, c in enumerate(CASES) if not wanted or str(i) in wanted]
    if args.fa2_only:
        for i, (_, _, heads, d, tokens, dist) in cases:
            lengths = case_lengths(tokens, dist, args.seed + i)
            cu, q, k, v = case_inputs(heads, d, tokens, lengths, args.seed + i)
            for _ in range(2):
                fa2(q, k, v, cu, max(lengths), d ** -0.5)
        torch.cuda.synchronize()
        return 0
    variants = args.variants.split(",")
    for v in variants:
        if variant_suffix(v) is None:
            ap.error(f"bad variant {v!r} (expected one of "
                     f"{', '.join(FLAVOURS)}, optionally with :bkN)")
    if args.sweep:
        variants += sweep_variants(args.kernels, variants)
    print("device:", torch.cuda.get_device_name(), "torch", torch.__version__,
          flush=True)
    results = []
    for i, c in cases:
        r = run_case(*c, kernels_dir=args.kernels, seed=args.seed + i,
                     variants=variants)
        results.append(r)
        print(json.dumps(r), flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)
    print()
    print_table(results, variants)


if __name__ == "__main__":
    sys.exit(main())
