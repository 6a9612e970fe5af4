"""Bad input to attn_opt.doc_attention: a clear Python exception before any
kernel runs, and no output written."""

import pytest
import torch

import attn_opt


def good(t=10, heads=4, kv_heads=2, d=64, dtype=torch.float32):
    return (torch.randn(t, heads, d, dtype=dtype), torch.randn(t, kv_heads, d, dtype=dtype),
            torch.randn(t, kv_heads, d, dtype=dtype), torch.tensor([0, 4, t], dtype=torch.int32))


def raises(exc, match, *args, **kwargs):
    with pytest.raises(exc, match=match):
        attn_opt.doc_attention(*args, **kwargs)


def test_not_a_tensor():
    q, k, v, cu = good()
    raises(TypeError, "cu_seqlens must be a torch.Tensor", q, k, v, [0, 4, 10])


def test_wrong_rank():
    q, k, v, cu = good()
    raises(ValueError, r"q must be \[T, heads, head_dim\]", q[0], k, v, cu)


def test_dtype_mismatch():
    q, k, v, cu = good()
    raises(ValueError, "one dtype", q, k.half(), v, cu)


def test_unsupported_dtype():
    q, k, v, cu = good()
    raises(ValueError, "supported: bfloat16, float16, float32", q.double(), k.double(),
           v.double(), cu)


def test_cu_seqlens_dtype():
    q, k, v, cu = good()
    raises(ValueError, "1-D int32", q, k, v, cu.long())


def test_cu_seqlens_rank():
    q, k, v, cu = good()
    raises(ValueError, "1-D int32", q, k, v, cu[None])


def test_token_counts_differ():
    q, k, v, cu = good()
    raises(ValueError, "same token count", q, k[:5], v[:5], cu)


def test_heads_not_a_multiple():
    q, k, v, cu = good(heads=4, kv_heads=3)
    raises(ValueError, r"query heads \(4\) must be a multiple", q, k, v, cu)


def test_no_heads():
    q, k, v, cu = good(heads=0, kv_heads=0)
    raises(ValueError, "need at least one head, got 0 query and 0 key/value heads",
           q, k, v, cu)


def test_unsupported_head_dim():
    q, k, v, cu = good(d=100)
    raises(ValueError, r"unsupported head dim 100 \(supported: 32, 64, 80, 96, 128, 192, 256\)",
           q, k, v, cu)


def test_backward_head_dim_pairs():
    # The pairs the NVIDIA backward takes, as doc_attention checks them before
    # a forward whose inputs require grad on a GPU (the compiler's rule,
    # attn::backwardColumnParts, through the _C binding): past 128 the
    # columns go in parts of at most 96, so 256 with Dv = 96 has no kernel.
    # (The check itself needs CUDA tensors: test_gpu.py.)
    from attn_opt import ops
    assert ops._BACKWARD_HEAD_DIMS[(128, 128)]
    assert ops._BACKWARD_HEAD_DIMS[(192, 192)]
    assert ops._BACKWARD_HEAD_DIMS[(256, 128)]
    assert not ops._BACKWARD_HEAD_DIMS[(256, 96)]
    assert not ops._BACKWARD_HEAD_DIMS[(192, 80)]
    assert not ops._BACKWARD_HEAD_DIMS[(32, 256)]


def test_window_types():
    q, k, v, cu = good()
    np = pytest.importorskip("numpy")
    ref = attn_opt.doc_attention(q, k, v, cu, window=4)
    assert torch.equal(attn_opt.doc_attention(q, k, v, cu, window=np.int64(4)), ref)
    for bad in (True, 2.5, 0, -3, 2**31):
        raises(ValueError, r"^attn_opt.doc_attention: window must be an integer in "
               rf"\[1, 2147483647\] \(token positions are 32-bit\), got {bad!r}$",
               q, k, v, cu, window=bad)
    assert torch.equal(attn_opt.doc_attention(q, k, v, cu, window=2**31 - 1),
                       attn_opt.doc_attention(q, k, v, cu))


def test_window_without_causal():
    q, k, v, cu = good()
    raises(ValueError, "window needs causal", q, k, v, cu, causal=False, window=4)


def test_bad_scale():
    q, k, v, cu = good()
    rule = r"scale must be positive and finite \(1\.17549e-38 to 2\.35866e\+38, as the kernels' f32\)"
    raises(ValueError, rule + ", got -1.0", q, k, v, cu, scale=-1.0)
    raises(ValueError, rule + ", got inf", q, k, v, cu, scale=float("inf"))
    # (Finite as a double, infinite as the kernels' f32 scale·log2(e).)
    raises(ValueError, rule + r", got 1e\+39", q, k, v, cu, scale=1e39)
    raises(ValueError, "scale must be a positive number, got 'x'", q, k, v, cu, scale="x")
    raises(ValueError, "no gradient would reach it", q, k, v, cu,
           scale=torch.tensor(0.2, requires_grad=True))
    assert torch.equal(attn_opt.doc_attention(q, k, v, cu, scale=torch.tensor(0.2)),
                       attn_opt.doc_attention(q, k, v, cu, scale=0.2))


@pytest.mark.parametrize("cu,match", [
    ([1, 4, 10], "start at 0"),
    ([0, 6, 4, 10], "must not decrease"),
    ([0, 4, 9], "must end at the token count 10"),
])
def test_invalid_cu_seqlens(cu, match):
    """CPU tensors: cu_seqlens are always checked before the kernel runs."""
    q, k, v, _ = good()
    raises(ValueError, match, q, k, v, torch.tensor(cu, dtype=torch.int32))


def test_invalid_cu_seqlens_with_host_validation(monkeypatch):
    monkeypatch.setenv("ATTN_OPT_VALIDATE", "1")
    q, k, v, _ = good()
    raises(ValueError, "ends at 9, not at the token count 10", q, k, v,
           torch.tensor([0, 4, 9], dtype=torch.int32))


def test_non_contiguous_inputs_are_made_contiguous():
    q, k, v, cu = good()
    qt = q.transpose(1, 2).contiguous().transpose(1, 2)  # same values, other strides
    assert not qt.is_contiguous()
    assert torch.equal(attn_opt.doc_attention(qt, k, v, cu), attn_opt.doc_attention(q, k, v, cu))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU for a second device")
def test_device_mismatch():
    q, k, v, cu = good(dtype=torch.bfloat16)
    raises(ValueError, "on one device", q.cuda(), k.cuda(), v.cuda(), cu)


def test_device_mismatch_meta():
    """(Without a GPU: a meta tensor is another device.)"""
    q, k, v, cu = good()
    raises(ValueError, "on one device", q, k, v, cu.to("meta"))


def test_flags_must_be_bools():
    q, k, v, cu = good()
    raises(TypeError, "deterministic must be True or False, got 'yes'", q, k, v, cu,
           deterministic="yes")
    raises(TypeError, "causal must be True or False, got 'no'", q, k, v, cu, causal="no")
    raises(TypeError, "return_lse must be True or False, got 1", q, k, v, cu, return_lse=1)


# The custom ops themselves (torch.ops.attn_opt.*), which a user or a
# framework may call directly: the same checks, so that no kernel reads
# past a tensor that does not match the others.
FORWARD = torch.ops.attn_opt.attention_forward
BACKWARD = torch.ops.attn_opt.attention_backward


@pytest.mark.parametrize("change,match", [
    (lambda q, k, v, cu: (q, k[:2], v[:2], cu), "same token count"),
    (lambda q, k, v, cu: (q, k, v[:, :1], cu), "same heads"),
    (lambda q, k, v, cu: (q, k, v, cu.long()), "1-D int32"),
    (lambda q, k, v, cu: (q.double(), k.double(), v.double(), cu), "supported: bfloat16"),
    (lambda q, k, v, cu: (q, k[..., :32], v, cu), "one head dim"),
])
def test_forward_op_checks_its_tensors(change, match):
    with pytest.raises(ValueError, match=match):
        FORWARD(*change(*good()), "document,causal", None, False)


@pytest.mark.parametrize("scale", [-1.0, 0.0, float("inf"), float("nan"), 1e39, 1e-40])
def test_ops_check_the_scale(scale):
    """Called directly, the ops refuse what doc_attention refuses (an
    infinite or NaN scale used to be blamed on invalid JSON)."""
    q, k, v, cu = good()
    with pytest.raises(ValueError, match=r"^kernel configuration: the scale must be "
                                         r"positive and finite \(1\.17549e-38 to "
                                         r"2\.35866e\+38, as the kernels' f32\)$"):
        FORWARD(q, k, v, cu, "document,causal", scale, False)
    with pytest.raises(ValueError, match="positive and finite"):
        BACKWARD(q, q, k, v, q, torch.zeros(4, 10), cu, "document,causal", scale, False)


@pytest.mark.parametrize("mask,match", [
    ("", "empty mask \\(give 'none' for every key\\)"),
    ("document,sliding", "bad or repeated mask term 'sliding'"),
])
def test_ops_check_the_mask(mask, match):
    """An empty mask string (an unset variable, say) is not full
    attention: 'none' is."""
    with pytest.raises(ValueError, match=match):
        FORWARD(*good(), mask, None, False)


def test_backward_op_checks_its_tensors():
    q, k, v, cu = good()
    out, lse = FORWARD(q, k, v, cu, "document,causal", None, False)
    dout = torch.randn_like(out)
    args = ("document,causal", None, False)
    with pytest.raises(ValueError, match=r"dout must be \[10, 4, 64\]"):
        BACKWARD(dout[:2], q, k, v, out, lse, cu, *args)
    with pytest.raises(ValueError, match=r"out must be \[10, 4, 64\] of torch.float32"):
        BACKWARD(dout, q, k, v, out.double(), lse, cu, *args)
    with pytest.raises(ValueError, match=r"lse must be \[4, 10\] of torch.float32"):
        BACKWARD(dout, q, k, v, out, lse[:, :5], cu, *args)
    with pytest.raises(ValueError, match="same token count"):
        BACKWARD(dout, q, k[:5], v[:5], out, lse, cu, *args)
    dq, dk, dv = BACKWARD(dout, q, k, v, out, lse, cu, *args)  # (and the good call runs)
    assert dq.shape == q.shape and dk.shape == k.shape and dv.shape == v.shape


def test_compiled_call_checks_shapes_when_traced():
    """The fake implementation checks too: torch.compile refuses the call
    while tracing, before anything runs."""
    q, k, v, cu = good()
    fn = torch.compile(lambda q, k, v, cu: FORWARD(q, k, v, cu, "document,causal", None,
                                                   False)[0], fullgraph=True)
    with pytest.raises(Exception, match="same token count"):
        fn(q, k[:2], v[:2], cu)
