"""The references attn_opt is checked against: attention over the dense
document mask, built from each token's document id (not from the mask
algebra), computed in float64, or naively in the inputs' own type (the
bound for bf16/f16: within 2x of that computation's error)."""

import torch


def dense_mask(cu, tokens, causal=True, window=None):
    """[T, T] bool: may query q see key k."""
    doc = torch.zeros(tokens, dtype=torch.long)
    c = cu.tolist()
    for d in range(len(c) - 1):
        doc[c[d]:c[d + 1]] = d
    q = torch.arange(tokens)[:, None]
    k = torch.arange(tokens)[None, :]
    m = doc[:, None] == doc[None, :]
    if causal:
        m &= k <= q
    if window:
        m &= q - k < window
    return m


def attention(q, k, v, mask, scale=None, dtype=None):
    """out [T, Hq, Dv] and lse [Hq, T] over `mask`, in `dtype` (default
    float64) with explicit matmuls, so that autograd gives the gradients."""
    dtype = dtype or torch.float64
    group = q.shape[1] // k.shape[1]
    qh = q.to(dtype).transpose(0, 1)
    kh = k.to(dtype).repeat_interleave(group, dim=1).transpose(0, 1)
    vh = v.to(dtype).repeat_interleave(group, dim=1).transpose(0, 1)
    scale = scale if scale is not None else q.shape[2] ** -0.5
    s = (qh @ kh.transpose(1, 2)) * scale
    s = s.masked_fill(~mask, float("-inf"))
    lse = torch.logsumexp(s.float() if dtype != torch.float64 else s, dim=-1)
    p = torch.softmax(s, dim=-1).nan_to_num(0.0)  # rows with no key: 0
    out = (p @ vh).transpose(0, 1)
    return out, lse


def rel_err(a, ref):
    a, ref = a.detach().double(), ref.detach().double()
    assert not torch.isnan(a).any(), "NaN in the result: an element was not written"
    num = (a - ref).norm()
    den = ref.norm()
    return float(num / den) if den > 0 else float(num)


def isolation_runs(q, k, v, dout, keep, **kwargs):
    """attn_opt.doc_attention's outputs and gradients at rows `keep` (whole
    documents), run on q, k, v and dout, and run again with every other row
    replaced by large finite values (|x| about 3e4): the two must agree, as
    other documents contribute exactly nothing."""
    import attn_opt
    g = torch.Generator().manual_seed(13)

    def elsewhere(x):
        w = (torch.randn(x.shape, generator=g) * 3e4).to(x.dtype).to(x.device)
        w[keep] = x[keep]
        return w

    def run(q, k, v, dout):
        q, k, v = (x.detach().clone().requires_grad_() for x in (q, k, v))
        out = attn_opt.doc_attention(q, k, v, **kwargs)
        out.backward(dout)
        return [x[keep] for x in (out, q.grad, k.grad, v.grad)]

    return run(q, k, v, dout), run(*(elsewhere(x) for x in (q, k, v, dout)))
