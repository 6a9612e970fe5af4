"""attn_opt.doc_attention on CPU tensors: forward and gradients against the
float64 reference over the dense mask, on fresh random inputs with every
output poisoned first (conftest), for the edge cases of packing."""

import pytest
import torch

import attn_opt
from reference import attention, dense_mask, isolation_runs, rel_err

DTYPES = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}

# Lengths: empty and length-1 documents, T not a tile multiple (64), one
# document, many tiny ones.
PACKINGS = {
    "mixed": [300, 0, 1, 40, 200],
    "one": [130],
    "tiny": [1, 3, 0, 2, 5, 1, 4, 1, 1, 7, 2, 3, 1, 6, 0, 2, 1, 1, 3, 2],
    "tiles": [64, 64, 128],
}


def cu_of(lengths):
    cu = [0]
    for n in lengths:
        cu.append(cu[-1] + n)
    return torch.tensor(cu, dtype=torch.int32)


def inputs(lengths, heads, kv_heads, d, dv, dtype, seed):
    g = torch.Generator().manual_seed(seed)
    t = sum(lengths)
    make = lambda h, n: (torch.rand(t, h, n, generator=g) * 2 - 1).to(dtype)
    return make(heads, d), make(kv_heads, d), make(kv_heads, dv), cu_of(lengths)


def bound(dtype, naive_err, floor):
    """f32: the fixed tolerance; bf16/f16: 2x the naive same-type error."""
    return floor if dtype == torch.float32 else max(2 * naive_err, floor)


def check(lengths, heads=4, kv_heads=2, d=64, dv=None, dtype="f32", causal=True,
          window=None, scale=None, seed=0, deterministic=False):
    dv = dv or d
    dt = DTYPES[dtype]
    q, k, v, cu = inputs(lengths, heads, kv_heads, d, dv, dt, seed)
    t = q.shape[0]
    mask = dense_mask(cu, t, causal, window)
    q.requires_grad_(), k.requires_grad_(), v.requires_grad_()
    out, lse = attn_opt.doc_attention(q, k, v, cu, causal=causal, window=window, scale=scale,
                                      return_lse=True, deterministic=deterministic)
    assert out.shape == (t, heads, dv) and out.dtype == dt
    assert lse.shape == (heads, t) and lse.dtype == torch.float32
    dout = (torch.rand(out.shape, generator=torch.Generator().manual_seed(seed + 1)) * 2
            - 1).to(dt)
    out.backward(dout)

    ref = [x.detach().double().requires_grad_() for x in (q, k, v)]
    ref_out, ref_lse = attention(*ref, mask, scale)
    ref_out.backward(dout.double())
    naive = [x.detach().clone().requires_grad_() for x in (q, k, v)]
    naive_out, naive_lse = attention(*naive, mask, scale, dtype=dt)
    naive_out.backward(dout)

    errs = {"out": (rel_err(out, ref_out), rel_err(naive_out, ref_out), 1e-5),
            "lse": (rel_err(lse, ref_lse), rel_err(naive_lse, ref_lse), 1e-5)}
    for name, ours, refg, naiveg in zip(("dq", "dk", "dv"), (q, k, v), ref, naive):
        errs[name] = (rel_err(ours.grad, refg.grad), rel_err(naiveg.grad, refg.grad), 1e-4)
    for name, (err, naive_err, floor) in errs.items():
        assert err <= bound(dt, naive_err, floor), (
            f"{name}: relative error {err:.3g} (naive {dtype}: {naive_err:.3g})")
    return out, lse, q.grad, k.grad, v.grad


@pytest.mark.parametrize("dtype", ["f32", "bf16", "f16"])
@pytest.mark.parametrize("packing", list(PACKINGS))
def test_packings(dtype, packing):
    check(PACKINGS[packing], dtype=dtype)


@pytest.mark.parametrize("heads,kv_heads", [(4, 4), (4, 1), (6, 2), (3, 3)])
def test_heads(heads, kv_heads):
    check(PACKINGS["mixed"], heads=heads, kv_heads=kv_heads, seed=3)


@pytest.mark.parametrize("d,dv", [(32, 32), (128, 128), (64, 32), (96, 96)])
def test_head_dims(d, dv):
    check([70, 0, 1, 60], heads=2, kv_heads=1, d=d, dv=dv, seed=4)


def test_document_only_mask():
    check(PACKINGS["mixed"], causal=False, seed=5)


def test_window_mask():
    check(PACKINGS["mixed"], window=16, dtype="bf16", seed=6)


def test_explicit_scale():
    check([100, 30], scale=0.3, seed=7)


def test_no_tokens():
    q = torch.zeros(0, 2, 64, requires_grad=True)
    k = torch.zeros(0, 1, 64, requires_grad=True)
    v = torch.zeros(0, 1, 64, requires_grad=True)
    out, lse = attn_opt.doc_attention(q, k, v, torch.zeros(1, dtype=torch.int32), return_lse=True)
    assert out.shape == (0, 2, 64) and lse.shape == (2, 0)
    out.sum().backward()
    assert q.grad.shape == q.shape


def test_deterministic_gradients_are_identical():
    """dq without atomics: correct (check() compares with float64), the
    same bits on every run, and the same values (within f32 rounding) as
    with atomics. (On the CPU the atomic kernel is sequential and repeats
    its bits too: test_gpu.py's rerun, and backward.test's check that the
    deterministic images have no floating-point atomics, tell the modes
    apart.)"""
    runs = [check(PACKINGS["mixed"], seed=8, deterministic=True) for _ in range(2)]
    for a, b in zip(runs[0], runs[1]):
        assert torch.equal(a, b)
    atomic = check(PACKINGS["mixed"], seed=8)
    assert rel_err(atomic[2], runs[0][2]) < 1e-6


@pytest.mark.parametrize("dtype", ["f32", "bf16"])
def test_packed_equals_one_by_one(dtype):
    """metaseq's test of packed training: 20 documents (empty and length-1
    among them) packed, and each alone: the outputs and all three gradients
    agree within the tolerance rule."""
    lengths = [17, 0, 1, 90, 5, 64, 1, 33, 0, 128, 7, 2, 70, 1, 12, 40, 65, 3, 0, 20]
    dt = DTYPES[dtype]
    q, k, v, cu = inputs(lengths, 4, 2, 64, 64, dt, seed=9)
    dout = (torch.rand(q.shape, generator=torch.Generator().manual_seed(10)) * 2 - 1).to(dt)
    packed = [x.clone().requires_grad_() for x in (q, k, v)]
    out = attn_opt.doc_attention(*packed, cu)
    out.backward(dout)
    alone_out, alone_grads = [], [[], [], []]
    for a, b in zip(cu[:-1].tolist(), cu[1:].tolist()):
        part = [x[a:b].clone().requires_grad_() for x in (q, k, v)]
        o = attn_opt.doc_attention(*part, torch.tensor([0, b - a], dtype=torch.int32))
        o.backward(dout[a:b])
        alone_out.append(o.detach())
        for i in range(3):
            alone_grads[i].append(part[i].grad)
    # The tolerance rule: f32 1e-5 (outputs) and 1e-4 (gradients); bf16 2x
    # the error of the naive bf16 computation against float64.
    mask = dense_mask(cu, q.shape[0])
    ref = [x.double().requires_grad_() for x in (q, k, v)]
    naive = [x.clone().requires_grad_() for x in (q, k, v)]
    ref_out, _ = attention(*ref, mask)
    naive_out, _ = attention(*naive, mask, dtype=dt)
    ref_out.backward(dout.double())
    naive_out.backward(dout)
    # Packed against one by one, and each of them against float64 (two
    # equal wrong answers must not pass).
    limit = bound(dt, rel_err(naive_out, ref_out), 1e-5)
    for what, got in (("packed", out), ("one by one", torch.cat(alone_out))):
        assert rel_err(got, ref_out) <= limit, f"out ({what}) vs float64"
    err = rel_err(out, torch.cat(alone_out))
    assert err <= limit, f"out: {err:.3g}"
    for i, name in enumerate(("dq", "dk", "dv")):
        limit = bound(dt, rel_err(naive[i].grad, ref[i].grad), 1e-4)
        alone = torch.cat(alone_grads[i])
        for what, got in (("packed", packed[i].grad), ("one by one", alone)):
            assert rel_err(got, ref[i].grad) <= limit, f"{name} ({what}) vs float64"
        err = rel_err(packed[i].grad, alone)
        assert err <= limit, f"{name}: packed vs one by one {err:.3g} (limit {limit:.3g})"


@pytest.mark.parametrize("dtype", ["f32", "bf16"])
@pytest.mark.parametrize("causal", [True, False])
def test_other_documents_contribute_exactly_nothing(dtype, causal):
    """A document's outputs and gradients do not depend, by a single bit,
    on what the other documents hold: their q, k, v and dout here become
    large finite values (padding need not be zeros), and every tile these
    documents share is partial. (Non-finite values are another matter:
    0 * inf is NaN inside a shared tile: README, "The PyTorch op".)"""
    lengths = [37, 70, 1, 90, 58]
    dt = DTYPES[dtype]
    q, k, v, cu = inputs(lengths, 4, 2, 64, 64, dt, seed=11)
    dout = torch.rand(q.shape, generator=torch.Generator().manual_seed(12)).to(dt)
    mine = slice(37, 108)  # the 70-token and the 1-token documents
    ours, theirs = isolation_runs(q, k, v, dout, mine, cu_seqlens=cu, causal=causal)
    for a, b in zip(ours, theirs):
        assert torch.isfinite(a).all() and torch.equal(a, b)
