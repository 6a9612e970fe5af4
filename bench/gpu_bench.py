#!/usr/bin/env python3
"""Times attn-opt's forward kernels against the peers of bench/peers.py
(FlashAttention-2 varlen, FlexAttention, cuDNN SDPA with ragged offsets,
SDPA document by document), in one process, on the same inputs;
cross-checks every output against FA2's; prints useful TFLOP/s (sum over
documents of 2*D*Hq*L^2 / time), each method's ratio to the best peer and
ours as a fraction of the dense bf16 matrix product's rate, measured in the
same run. Times are device times per call: the median of samples that each
time a batch of back-to-back calls (median_ms), the same for every method.

Our kernels are compiled elsewhere (bench/make_kernels.sh: cubin + manifest,
which gives each kernel's dtype, heads and head dim) and launched here
through the runtime's C API (runtime/python/attn_runtime.py over
libattn-runtime.so, which bench/build_cuda_run.sh builds; ATTN_RUNTIME_LIB
names it), the launch attn-cuda-run checks. Needs an NVIDIA GPU and PyTorch.
--variants times several builds of ours side by side: a variant is a
flavour of bench/flavours, optionally with a key-tile size: FLAVOUR is
NAME[_FLAVOUR].cubin (the first flavour, mma-sync, without a suffix, '-'
as '_'), FLAVOUR:bkN is NAME[_FLAVOUR]_bkN.cubin, as bench/make_kernels.sh
names them; the first variant is reported as "ours".
--sweep adds every such key-tile build of the given flavours that is there.
The cases are CASES (--cases 0,3 picks some), or one packing given as
--doc-lengths, --cu-seqlens or --tokens with --docs (a distribution, with
--seed) on the kernel config --config.
    python3 bench/gpu_bench.py --kernels .kernels [--variants mma-sync,wgmma] [--sweep]
                               [--out results.json] [--peers fa2,flex,cudnn,...]
    python3 bench/gpu_bench.py --config bf16_h16_d128 --tokens 32768 --docs uniform:100-3000
"""
import argparse
import glob
import json
import os
import statistics
import sys
import time

import numpy as np
import torch

import peers
from packing import draw_lengths, parse_docs

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "runtime", "python"))
import attn_runtime  # noqa: E402


CASES = [
    # name, kernel config (bench/make_kernels.sh), tokens, document lengths
    ("16K lognormal(1024)", "bf16_h16_d128", 16384, "lognormal:1024"),
    ("64K lognormal(2048)", "bf16_h16_d128", 65536, "lognormal:2048"),
    ("16K = 64 x 256", "bf16_h16_d128", 16384, "fixed:256"),
    ("16K = 1 x 16384", "bf16_h16_d128", 16384, "fixed:16384"),
    ("16K lognormal(1024), Hq=32 D=64", "bf16_h32_d64", 16384, "lognormal:1024"),
    ("48K uniform(100-3000), GQA 32/4", "bf16_h32kv4_d128", 49152, "uniform:100-3000"),
    ("16K = 256 x 64", "bf16_h16_d128", 16384, "fixed:64"),
    ("fp16 4K = 1 x 4096, Hq=32 D=64", "f16_h32_d64", 4096, "fixed:4096"),
    ("16K lognormal(1024), GQA 12/4 D=96", "bf16_h12kv4_d96", 16384, "lognormal:1024"),
    ("16K lognormal(1024), Hq=8 D=256", "bf16_h8_d256", 16384, "lognormal:1024"),
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


def require_gpu(script):
    """Exits with a clear message (status 1) unless PyTorch sees a CUDA
    GPU: the benchmarks time GPU kernels only."""
    if not torch.cuda.is_available():
        sys.exit(f"{script}: needs a CUDA GPU (torch.cuda.is_available() is "
                 "False); run it on the GPU machine (bench/gpu_session.sh)")


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


def case_lengths(tokens, docs, seed):
    """The document lengths of a case: `docs` is a list of lengths or a
    distribution (packing.parse_docs) drawn with `seed`."""
    if not isinstance(docs, str):
        return list(docs)
    lengths = draw_lengths(tokens, docs, np.random.default_rng(seed))
    assert sum(lengths) == tokens
    return lengths


def kernel_config(kernels_dir, kernel):
    """dtype, heads, kv heads and head dim of a kernel config, from the
    manifest of its first flavour's build."""
    with open(os.path.join(kernels_dir, kernel + ".cubin.json")) as f:
        m = json.load(f)
    return m["dtype"], m["heads"], m["kv_heads"], m["head_dim"]


DTYPES = {"bf16": "bfloat16", "f16": "float16"}


def case_inputs(dtype, heads, kv_heads, d, lengths, seed):
    """cu_seqlens and random q [T, heads, d], k and v [T, kv_heads, d] in
    [-1, 1) on the GPU."""
    dev, tokens = "cuda", sum(lengths)
    cu = torch.tensor([0] + list(np.cumsum(lengths)), dtype=torch.int32, device=dev)
    g = torch.Generator(device=dev).manual_seed(seed)
    dt = getattr(torch, DTYPES[dtype])
    q, k, v = (torch.rand(tokens, h, d, device=dev, dtype=dt, generator=g) * 2 - 1
               for h in (heads, kv_heads, kv_heads))
    return cu, q, k, v


def run_ours(res, q, k, v, cu, kernels_dir, kernel, variants):
    """Times each variant of ours; returns key -> (out, lse) of those that
    ran, recording in res their times, unwritten outputs, whether a rerun
    on poisoned outputs gives the same bits, and errors."""
    heads, tokens = q.shape[1], q.shape[0]
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
            lse = torch.full((heads, tokens), float("nan"), device=q.device)
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
    return outs


def run_peers(res, q, k, v, cu, lengths, scale, names):
    """Builds and times each peer (bench/peers.py); returns name -> output
    of those that ran, recording times, build times and errors."""
    outs = {}
    for name in names:
        try:
            t0 = time.time()
            peer = peers.PEERS[name](q, k, v, cu, lengths, scale)
            o = peer()
            torch.cuda.synchronize()
            res[name + "_build_s"] = round(time.time() - t0, 2)
            outs[name] = o.clone()
            fast = name != "sdpa"
            res[name + "_ms"] = (median_ms(peer) if fast else
                                 median_ms(peer, warmup=1, reps=5, max_batch=1))
            if name == "flex":
                res["flex_block_mask_ms"] = median_ms(peer.build_mask, warmup=1, reps=5,
                                                      max_batch=1)
        except Exception as e:  # report, do not hide
            res[name + "_error"] = repr(e)[:300]
    return outs


def run_case(name, kernel, tokens, docs, kernels_dir, seed, variants, peer_names):
    lengths = case_lengths(tokens, docs, seed)
    dtype, heads, kv_heads, d = kernel_config(kernels_dir, kernel)
    cu, q, k, v = case_inputs(dtype, heads, kv_heads, d, lengths, seed)
    scale = d ** -0.5
    flops = sum(2.0 * d * heads * l * l for l in lengths)
    res = {"case": name, "kernel": kernel, "dtype": dtype, "tokens": tokens,
           "docs": len(lengths), "max_doc": max(lengths), "heads": heads,
           "kv_heads": kv_heads, "head_dim": d, "useful_flops": flops}
    t0 = time.time()
    outs = run_ours(res, q, k, v, cu, kernels_dir, kernel, variants)
    peer_outs = run_peers(res, q, k, v, cu, lengths, scale, peer_names)
    # Every output against FA2's (else, if FA2 failed, against the first of
    # ours that ran): ours under KEY_rel_diff_out, the peers' too.
    ref = peer_outs.get("fa2")
    if ref is None and outs:
        res["reference"] = next(iter(outs))
        ref = outs[res["reference"]][0]
    if ref is not None:
        for key, (o, _) in outs.items():
            res[key + "_rel_diff_out"] = rel(o, ref)
        for key, o in peer_outs.items():
            res[key + "_rel_diff_out"] = rel(o, ref)
    for key in [variant_key(x, variants) for x in variants] + list(peer_names):
        if key + "_ms" in res:
            res[key + "_tflops"] = flops / (res[key + "_ms"] * 1e9)
    res["seconds"] = round(time.time() - t0, 1)
    return res


# A method's output's relative difference from FA2's above which it has no
# figure: on the H200 (2026-12-04) every method, ours and each peer, was
# within 2.3e-3 of FA2 on every case (bf16 rounding on both sides); twice
# that, so a correct kernel's rounding never loses its figure and a kernel
# wrong on a few tiles does.
MAX_REL_DIFF_VS_FA2 = 5e-3


def valid_keys(r, keys):
    """The methods (result keys) of case result r that get a figure: ours
    with every output written and the same outputs after the timed calls;
    every method within MAX_REL_DIFF_VS_FA2 of FA2's output where FA2 ran."""
    return [k for k in keys if k + "_tflops" in r
            and r.get(k + "_unwritten", 0) == 0
            and r.get(k + "_rerun_identical", k + "_unwritten" not in r)
            and r.get(k + "_rel_diff_out", 0.0) <= MAX_REL_DIFF_VS_FA2]


def best(r, keys):
    """(key, TFLOP/s) of the fastest valid method among keys, or (None, 0)."""
    valid = valid_keys(r, keys)
    return max(((k, r[k + "_tflops"]) for k in valid), key=lambda x: x[1],
               default=(None, 0.0))


def print_table(results, variants, matmul=None):
    """Two tables: per case, the best of ours against each peer; then each
    variant of ours on each case ('bad': no figure, see valid_keys)."""
    ours_keys = [variant_key(v, variants) for v in variants]
    f = lambda x, w=7: f"{x:{w}.1f}" if x else f"{'-':>{w}s}"
    peer_cols = list(peers.PEERS)
    print(f"{'case':34s} {'best ours':>24s} " + " ".join(f"{p:>11s}" for p in peer_cols) +
          f" {'mask ms':>8s} {'ours/peer':>9s} {'best peer':>11s}" +
          (" ours/matmul" if matmul else ""))
    for r in results:
        key, mine = best(r, ours_keys)
        name = variants[ours_keys.index(key)] if key else "none"
        pkey, theirs = best(r, list(peers.BAR))
        cells = " ".join(f(r[p + "_tflops"], 11) if p in valid_keys(r, [p])
                         else f"{('bad' if p + '_tflops' in r else 'n/a'):>11s}"
                         for p in peer_cols)
        print(f"{r['case']:34s} {f(mine, 7)} {name:>16s} {cells} "
              f"{r.get('flex_block_mask_ms', float('nan')):8.2f} "
              f"{(mine / theirs if theirs else float('nan')):9.2f} {pkey or 'none':>11s}" +
              (f" {mine / matmul:11.2f}" if matmul else ""))
    print()
    w = max(len(v) for v in variants)
    print(f"{'variant':{w}s} " + " ".join(f"{'case ' + str(i):>8s}" for i in range(len(results))))
    for v, key in zip(variants, ours_keys):
        cells = []
        for r in results:
            if key in valid_keys(r, [key]):
                cells.append(f(r[key + "_tflops"], 8))
            else:
                cells.append(f"{('bad' if key + '_tflops' in r else '-'):>8s}")
        print(f"{v:{w}s} " + " ".join(cells))
    print("(useful TFLOP/s; time per call = median over 30 samples, each a batch\n"
          " of back-to-back calls between CUDA events, so host launch overhead is hidden;\n"
          " bad: outputs left unwritten, different after the timed calls, or\n"
          f" more than {MAX_REL_DIFF_VS_FA2:g} from FA2's; n/a: did not run, see the JSON)")


def fastest_flavour(results, variants):
    """The flavour (bench/flavours name, without a key-tile size) whose best
    valid variant has the highest geometric mean, over the cases, of its
    TFLOP/s relative to the best of ours on that case; a variant with no
    figure on a case counts as 1/100 of the best there. None if nothing of
    ours has a figure."""
    keys = [variant_key(v, variants) for v in variants]
    scores = {}
    for v, key in zip(variants, keys):
        logs, figures = [], 0
        for r in results:
            top = best(r, keys)[1]
            mine = r[key + "_tflops"] if key in valid_keys(r, [key]) else 0.0
            figures += mine > 0
            logs.append(np.log(max(mine / top, 1e-2)) if top else np.log(1e-2))
        flavour = v.partition(":")[0]
        if figures:
            scores[flavour] = max(scores.get(flavour, -np.inf), float(np.mean(logs)))
    return max(scores, key=scores.get, default=None)


def custom_case(args):
    """The one case the packing options give, or None."""
    given = [x for x in (args.doc_lengths, args.cu_seqlens, args.docs) if x]
    if not given:
        return None
    if len(given) > 1:
        raise ValueError("give one of --doc-lengths, --cu-seqlens, --docs")
    if args.docs:
        parse_docs(args.docs)
        if not args.tokens or args.tokens < 1:
            raise ValueError("--docs needs --tokens N (N >= 1)")
        return (f"{args.tokens} tokens {args.docs}", args.config, args.tokens, args.docs)
    try:
        values = [int(x) for x in (args.doc_lengths or args.cu_seqlens).split(",")]
    except ValueError:
        raise ValueError("lengths must be comma-separated integers") from None
    if args.cu_seqlens:
        if len(values) < 2 or values[0] != 0 or any(b < a for a, b in zip(values, values[1:])):
            raise ValueError("--cu-seqlens must start at 0 and never decrease")
        values = [b - a for a, b in zip(values, values[1:])]
    if any(x < 0 for x in values) or sum(values) < 1:
        raise ValueError("document lengths must be >= 0 and cover at least one token")
    return (f"{sum(values)} tokens in {len(values)} documents", args.config, sum(values), values)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernels", default=".kernels")
    ap.add_argument("--out")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--cases", default="", help="indices into CASES, comma-separated")
    ap.add_argument("--variants", default="mma-sync",
                    help="our builds, comma-separated: FLAVOUR[:bkN] with "
                         "FLAVOUR one of bench/flavours")
    ap.add_argument("--sweep", action="store_true",
                    help="also time every other key-tile build of the given "
                         "flavours found in --kernels (NAME[_FLAVOUR]_bkN)")
    ap.add_argument("--peers", default=",".join(peers.PEERS),
                    help="comma-separated, of " + ", ".join(peers.PEERS))
    ap.add_argument("--no-matmul", action="store_true",
                    help="skip measuring the dense bf16 matrix product's rate")
    ap.add_argument("--config", default="bf16_h16_d128",
                    help="kernel config of a packing given below")
    ap.add_argument("--doc-lengths", help="one case: these document lengths")
    ap.add_argument("--cu-seqlens", help="one case: these cumulative lengths")
    ap.add_argument("--tokens", type=int, help="one case: with --docs")
    ap.add_argument("--docs", help="one case: lengths drawn from lognormal:MEDIAN, "
                                   "uniform:MAX, uniform:MIN-MAX or fixed:L")
    ap.add_argument("--peer-only", choices=list(peers.PEERS),
                    help="run this peer twice on each selected case and stop "
                         "(for a profiler: bench/profile.sh)")
    args = ap.parse_args()
    try:
        custom = custom_case(args)
    except ValueError as e:
        ap.error(str(e))
    wanted = args.cases.split(",") if args.cases else None
    cases = ([(0, custom)] if custom else
             [(i, c) for i, c in enumerate(CASES) if not wanted or str(i) in wanted])
    peer_names = [p for p in args.peers.split(",") if p]
    for p in peer_names:
        if p not in peers.PEERS:
            ap.error(f"bad peer {p!r} (expected some of {', '.join(peers.PEERS)})")
    require_gpu("gpu_bench.py")  # (after the arguments' checks)
    if args.peer_only:
        for i, (_, kernel, tokens, docs) in cases:
            lengths = case_lengths(tokens, docs, args.seed + i)
            dtype, heads, kv_heads, d = kernel_config(args.kernels, kernel)
            cu, q, k, v = case_inputs(dtype, heads, kv_heads, d, lengths, args.seed + i)
            peer = peers.PEERS[args.peer_only](q, k, v, cu, lengths, d ** -0.5)
            for _ in range(2):
                peer()
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
    header = {"device": torch.cuda.get_device_name(), "torch": torch.__version__,
              "variants": variants}
    if not args.no_matmul:
        header["matmul_bf16_tflops"] = peers.matmul_tflops(median_ms)
        print(f"dense bf16 matmul (8192^3, random): {header['matmul_bf16_tflops']:.1f} TFLOP/s",
              flush=True)
    results = []
    for i, c in cases:
        r = run_case(*c, kernels_dir=args.kernels, seed=args.seed + i,
                     variants=variants, peer_names=peer_names)
        results.append(r)
        print(json.dumps(r), flush=True)
        if args.out:  # after every case: a run stopped early keeps what it measured
            with open(args.out, "w") as f:
                json.dump({**header, "results": results}, f, indent=1)
    print()
    print_table(results, variants, header.get("matmul_bf16_tflops"))
    print("fastest flavour:", fastest_flavour(results, variants))


if __name__ == "__main__":
    sys.exit(main())
