"""attn_opt on a CUDA device (marked `gpu`: skipped, with the reason,
without one). Run on a GPU machine with attn_opt built there, kernels
compiled there or taken from a cache attn-opt-aot filled."""

import pytest
import torch

import attn_opt
from reference import attention, dense_mask, isolation_runs, rel_err

pytestmark = pytest.mark.gpu


def problem(lengths, heads=16, kv_heads=4, d=128, dtype=torch.bfloat16, seed=0):
    g = torch.Generator().manual_seed(seed)
    t = sum(lengths)
    make = lambda h: (torch.rand(t, h, d, generator=g) * 2 - 1).to(dtype)
    cu = torch.tensor([0] + torch.tensor(lengths).cumsum(0).tolist(), dtype=torch.int32)
    return make(heads), make(kv_heads), make(kv_heads), cu


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_forward_matches_reference(dtype):
    q, k, v, cu = problem([300, 0, 1, 40, 200, 129], dtype=dtype)
    out, lse = attn_opt.doc_attention(q.cuda(), k.cuda(), v.cuda(), cu.cuda(), return_lse=True)
    mask = dense_mask(cu, q.shape[0])
    ref_out, ref_lse = attention(q, k, v, mask)
    naive_out, _ = attention(q, k, v, mask, dtype=dtype)
    assert rel_err(out.cpu(), ref_out) <= 2 * rel_err(naive_out, ref_out)
    assert rel_err(lse.cpu(), ref_lse) <= 1e-4
    attn_opt.check_errors()


def captured(lengths):
    """A CUDA graph of doc_attention on sum(lengths) tokens (its kernels
    compiled and loaded before the capture), its output and its inputs on
    the GPU."""
    q, k, v, cu = problem(lengths)
    q, k, v, cu = q.cuda(), k.cuda(), v.cuda(), cu.cuda()
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        attn_opt.doc_attention(q, k, v, cu)
    torch.cuda.synchronize()
    attn_opt.check_errors()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = attn_opt.doc_attention(q, k, v, cu)
    return graph, out, (q, k, v, cu)


def test_cuda_graph_replay_with_new_cu_seqlens():
    graph, out, (q, k, v, cu) = captured([100, 156])
    for lengths in ([100, 156], [1, 0, 255], [256]):
        new = torch.tensor([0] + torch.tensor(lengths).cumsum(0).tolist(), dtype=torch.int32)
        cu.copy_(new)
        graph.replay()
        torch.cuda.synchronize()
        ref, _ = attention(q.cpu(), k.cpu(), v.cpu(), dense_mask(new, 256))
        naive, _ = attention(q.cpu(), k.cpu(), v.cpu(), dense_mask(new, 256), dtype=q.dtype)
        assert rel_err(out.cpu(), ref) <= 2 * rel_err(naive, ref), lengths
    attn_opt.check_errors()


def test_graphs_do_not_share_a_tile_counter():
    """torch.cuda.graph captures every graph on one stream: each captured
    call gets a counter of its own, zeroed by its graph before the kernel,
    so a graph replays right whatever the op's per-stream counters hold
    (they are made garbage here) and whichever graph replays first. The
    dynamic-schedule kernel (sm_90a's default) reads the counter once its
    block's first item is done: 2048 tokens are 16 query tiles x 16 heads
    = 256 items, more than the 132 resident blocks of an H100 or H200."""
    graphs = [captured(lengths) for lengths in ([1000, 1048], [1, 2046, 1])]
    from attn_opt import ops
    try:
        for counter in ops._tile_counters.values():
            counter.fill_(123456)
        for graph, out, (q, k, v, cu) in reversed(graphs):
            graph.replay()
            torch.cuda.synchronize()
            mask = dense_mask(cu.cpu(), q.shape[0])
            ref, _ = attention(q.cpu(), k.cpu(), v.cpu(), mask)
            naive, _ = attention(q.cpu(), k.cpu(), v.cpu(), mask, dtype=q.dtype)
            assert rel_err(out.cpu(), ref) <= 2 * rel_err(naive, ref)
    finally:  # (the kernel leaves a counter zero only if it started so)
        for counter in ops._tile_counters.values():
            counter.zero_()
    attn_opt.check_errors()


def test_capture_before_any_call_is_refused(monkeypatch):
    """Captured before any call on the device, the error flag's zeroing
    would be the graph's (clearing the record at each replay): refused."""
    from attn_opt import ops
    monkeypatch.setattr(ops, "_error_flags", {})
    q, k, v, cu = (x.cuda() for x in problem([100, 156]))
    graph = torch.cuda.CUDAGraph()
    with pytest.raises(RuntimeError, match="call it once on cuda:0 before capturing"):
        with torch.cuda.graph(graph):
            attn_opt.doc_attention(q, k, v, cu)


def test_invalid_cu_seqlens_recorded_on_device():
    q, k, v, _ = problem([64, 64])
    bad = torch.tensor([0, 100, 90], dtype=torch.int32).cuda()
    attn_opt.doc_attention(q.cuda(), k.cuda(), v.cuda(), bad)
    with pytest.raises(ValueError, match="invalid cu_seqlens"):
        attn_opt.check_errors()
    attn_opt.check_errors()  # cleared


def test_cuda_graph_replay_records_invalid_cu_seqlens():
    """The check (attn.check_cu_seqlens' kernel) is captured with the
    attention: a replay with invalid values in the same buffer sets the
    record, a replay with valid ones after check_errors() does not."""
    graph, _, (_, _, _, cu) = captured([100, 156])
    cu.copy_(torch.tensor([0, 200, 100], dtype=torch.int32))  # a decrease
    graph.replay()
    with pytest.raises(ValueError, match="invalid cu_seqlens"):
        attn_opt.check_errors()
    cu.copy_(torch.tensor([0, 0, 256], dtype=torch.int32))
    graph.replay()
    attn_opt.check_errors()


@pytest.mark.parametrize("deterministic", [False, True])
@pytest.mark.parametrize("dtype,heads,kv_heads,d", [
    (torch.bfloat16, 16, 4, 128), (torch.float16, 16, 4, 128),
    (torch.bfloat16, 6, 2, 256)])  # D = 256: four column parts
def test_gradients_match_reference(dtype, heads, kv_heads, d, deterministic):
    """The NVIDIA backward, dq by atomics or deterministic: dq, dk and dv
    against float64, within 2x of the naive same-type computation; with
    deterministic, the same bits on a second run (dk and dv always)."""
    q, k, v, cu = problem([300, 0, 1, 40, 200, 129], heads, kv_heads, d, dtype=dtype)
    dout = (torch.rand(q.shape[0], heads, d, generator=torch.Generator().manual_seed(5)) * 2
            - 1).to(dtype)
    grads = []
    for _ in range(2):
        xs = [x.cuda().requires_grad_() for x in (q, k, v)]
        attn_opt.doc_attention(*xs, cu.cuda(), deterministic=deterministic).backward(
            dout.cuda())
        grads.append([x.grad.cpu() for x in xs])
    for i, (a, b) in enumerate(zip(*grads)):
        assert torch.equal(a, b) or (i == 0 and not deterministic)
    mask = dense_mask(cu, q.shape[0])
    ref = [x.double().requires_grad_() for x in (q, k, v)]
    naive = [x.clone().requires_grad_() for x in (q, k, v)]
    attention(*ref, mask)[0].backward(dout.double())
    attention(*naive, mask, dtype=dtype)[0].backward(dout)
    for ours, r, n in zip(grads[0], ref, naive):
        assert rel_err(ours, r.grad) <= 2 * rel_err(n.grad, r.grad)
    attn_opt.check_errors()


@pytest.mark.parametrize("deterministic", [False, True])
def test_cuda_graph_captures_the_backward(deterministic):
    """Forward and backward (dq by atomics, its accumulator zeroed on the
    stream; or deterministic) captured in a CUDA graph and replayed on new
    inputs in the same buffers: the gradients of the new inputs against
    float64 (2x the naive bf16 error), and with deterministic=True the
    eager call's bits."""
    lengths = [100, 0, 156]
    q, k, v, cu = problem(lengths)
    dout = (torch.rand(q.shape[0], 16, 128) * 2 - 1).to(q.dtype).cuda()
    xs = [x.cuda().requires_grad_() for x in (q, k, v)]
    cu = cu.cuda()
    step = lambda: torch.autograd.grad(
        attn_opt.doc_attention(*xs, cu, deterministic=deterministic), xs, dout)
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):  # compile, load and warm up before capture
        step()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        grads = step()
    mask = dense_mask(cu.cpu(), q.shape[0])
    for seed in (1, 2):
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for x in xs:
                x.copy_((torch.rand(x.shape, generator=g) * 2 - 1).to(x.dtype))
        graph.replay()
        torch.cuda.synchronize()
        ref = [x.detach().cpu().double().requires_grad_() for x in xs]
        naive = [x.detach().cpu().requires_grad_() for x in xs]
        attention(*ref, mask)[0].backward(dout.cpu().double())
        attention(*naive, mask, dtype=q.dtype)[0].backward(dout.cpu())
        for name, a, r, n in zip("qkv", grads, ref, naive):
            err, limit = rel_err(a.cpu(), r.grad), 2 * rel_err(n.grad, r.grad)
            assert err <= limit, f"d{name}, replay {seed}: {err:.3g} > {limit:.3g}"
        if deterministic:
            for a, b in zip(grads, step()):
                assert torch.equal(a, b), f"replay {seed} differs from the eager call"
    attn_opt.check_errors()


def test_backward_head_dim_pair_refused_before_the_forward():
    # D = 256 with Dv = 96 has no NVIDIA backward (its column parts do not
    # split Dv): refused before anything runs when the inputs require grad.
    q = torch.randn(10, 2, 256, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    v = torch.randn(10, 2, 96, device="cuda", dtype=torch.bfloat16)
    cu = torch.tensor([0, 4, 10], dtype=torch.int32, device="cuda")
    with pytest.raises(ValueError, match="does not take D = 256 with Dv = 96"):
        attn_opt.doc_attention(q, q.detach(), v, cu)


@pytest.mark.parametrize("deterministic", [False, True])
def test_other_documents_contribute_exactly_nothing(deterministic):
    """test_doc_attention.py's check on the NVIDIA kernels: a document's
    outputs and gradients are the same bits whatever the other documents
    hold (large finite values here)."""
    lengths = [37, 200, 1, 300, 58]
    q, k, v, cu = (x.cuda() for x in problem(lengths, seed=11))
    dout = torch.rand(q.shape, generator=torch.Generator().manual_seed(12)).to(q.dtype).cuda()
    a, b = isolation_runs(q, k, v, dout, slice(37, 238), cu_seqlens=cu,
                          deterministic=deterministic)
    assert torch.equal(a[0], b[0]) and all(torch.isfinite(x).all() for x in a)
    # (dq by atomics adds in an order that varies: equal within rounding.)
    assert torch.equal(a[1], b[1]) if deterministic else rel_err(b[1], a[1]) < 1e-2
    assert torch.equal(a[2], b[2]) and torch.equal(a[3], b[3])
    attn_opt.check_errors()
