"""attn_opt's ops under torch.library.opcheck and torch.compile."""

import torch
import torch._dynamo.testing

import attn_opt
from attn_opt import ops
from reference import rel_err


def problem(t=130, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(t, 4, 64, generator=g)
    k = torch.randn(t, 2, 64, generator=g)
    v = torch.randn(t, 2, 64, generator=g)
    return q, k, v


def test_opcheck_forward():
    q, k, v = problem()
    cu = torch.tensor([0, 60, 60, 61, 130], dtype=torch.int32)
    for args in [(q, k, v, cu, "document,causal", None, False),
                 (q.requires_grad_(), k, v, cu, "document", 0.2, False)]:
        torch.library.opcheck(ops.attention_forward, args)


def test_opcheck_backward():
    q, k, v = problem()
    cu = torch.tensor([0, 60, 60, 61, 130], dtype=torch.int32)
    out, lse = ops.attention_forward(q, k, v, cu, "document,causal", None, False)
    for deterministic in (False, True):
        torch.library.opcheck(ops.attention_backward,
                              (torch.randn_like(out), q, k, v, out, lse, cu, "document,causal",
                               None, deterministic))


def permuted(x):
    """x's values with other strides ([T, H, D] stored as [T, D, H])."""
    return x.transpose(1, 2).contiguous().transpose(1, 2)


def test_opcheck_non_contiguous():
    """The ops copy such inputs; their fake outputs are contiguous like
    theirs (a fake backward that kept q's strides failed opcheck and
    torch.compile's backward)."""
    q, k, v = (permuted(x) for x in problem())
    assert not q.is_contiguous()
    cu = torch.tensor([0, 60, 60, 61, 130], dtype=torch.int32)
    torch.library.opcheck(ops.attention_forward, (q, k, v, cu, "document,causal", None, False))
    out, lse = ops.attention_forward(q, k, v, cu, "document,causal", None, False)
    torch.library.opcheck(ops.attention_backward,
                          (permuted(torch.randn_like(out)), q, k, v, permuted(out), lse, cu,
                           "document,causal", None, False))


def test_compile_backward_non_contiguous():
    @torch.compile(fullgraph=True)  # (inductor checks the fake's strides)
    def loss(q, k, v, cu):
        return (attn_opt.doc_attention(q, k, v, cu) ** 2).sum()

    cu = torch.tensor([0, 60, 130], dtype=torch.int32)
    q, k, v = (permuted(x).requires_grad_() for x in problem())
    loss(q, k, v, cu).backward()
    eager = [x.detach().clone().requires_grad_() for x in (q, k, v)]
    (attn_opt.doc_attention(*eager, cu) ** 2).sum().backward()
    for ours, ref in zip((q, k, v), eager):
        assert rel_err(ours.grad, ref.grad) < 1e-6


def test_compile_fullgraph_forward_and_backward_no_recompile():
    """No graph break; a new packing of the same T and document count does
    not recompile; with cu_seqlens marked dynamic, neither does another
    document count."""
    counter = torch._dynamo.testing.CompileCounter()

    @torch.compile(fullgraph=True, backend=counter)
    def loss(q, k, v, cu):
        return (attn_opt.doc_attention(q, k, v, cu) ** 2).sum()

    q, k, v = (x.requires_grad_() for x in problem())
    packings = [[0, 60, 60, 61, 130], [0, 1, 2, 3, 130], [0, 130, 130, 130, 130]]
    for cu in packings:
        cu = torch.tensor(cu, dtype=torch.int32)
        q.grad = k.grad = v.grad = None
        loss(q, k, v, cu).backward()
        eager = [x.detach().clone().requires_grad_() for x in (q, k, v)]
        (attn_opt.doc_attention(*eager, cu) ** 2).sum().backward()
        for ours, ref in zip((q, k, v), eager):
            assert rel_err(ours.grad, ref.grad) < 1e-6
    assert counter.frame_count == 1

    for n in (2, 7):
        cu = torch.linspace(0, 130, n + 1).to(torch.int32)
        torch._dynamo.mark_dynamic(cu, 0)
        loss(q, k, v, cu)
    assert counter.frame_count == 2  # once more for the dynamic document count


def test_compile_inductor():
    q, k, v = problem()
    cu = torch.tensor([0, 60, 130], dtype=torch.int32)
    compiled = torch.compile(lambda *a: attn_opt.doc_attention(*a) * 2, fullgraph=True)
    assert torch.equal(compiled(q, k, v, cu), attn_opt.doc_attention(q, k, v, cu) * 2)
