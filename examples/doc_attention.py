"""The PyTorch op on the bundled example's packing: documents of 300, 0, 1,
40 and 200 tokens, bf16, GQA 16/4, D = 128, on the CPU. One training step's
attention, forward and backward, compared with running each document alone.

    PYTHONPATH=build/python python3 examples/doc_attention.py
"""

import time

import torch

import attn_opt

lengths = [300, 0, 1, 40, 200]
cu = torch.tensor([0] + torch.tensor(lengths).cumsum(0).tolist(), dtype=torch.int32)
t = int(cu[-1])
torch.manual_seed(0)
q = torch.randn(t, 16, 128, dtype=torch.bfloat16, requires_grad=True)
k = torch.randn(t, 4, 128, dtype=torch.bfloat16, requires_grad=True)
v = torch.randn(t, 4, 128, dtype=torch.bfloat16, requires_grad=True)

start = time.perf_counter()
out = attn_opt.doc_attention(q, k, v, cu)  # compiles (or loads) the kernels on first use
out.float().square().mean().backward()
print(f"packed: {t} tokens in {len(lengths)} documents, out {tuple(out.shape)}, "
      f"forward + backward {1e3 * (time.perf_counter() - start):.0f} ms "
      f"\n  kernels: {attn_opt.cache_stats()}")

worst = 0.0
for a, b in zip(cu[:-1].tolist(), cu[1:].tolist()):
    part = [x.detach()[a:b].clone().requires_grad_() for x in (q, k, v)]
    alone = attn_opt.doc_attention(*part, torch.tensor([0, b - a], dtype=torch.int32))
    (alone.float().square().sum() / out.numel()).backward()
    for x, y in [(out[a:b], alone)] + [(g.grad[a:b], p.grad) for g, p in zip((q, k, v), part)]:
        if x.numel():
            worst = max(worst, (x.float() - y.float()).abs().max().item())
print(f"each document alone vs packed, outputs and gradients: max difference {worst:.3g}")

# The documents as a data loader sees them: token ids, each document ended by
# an end-of-document id. cu_seqlens and the position ids (for RoPE) come
# from the compiled sequence helpers; padded=True keeps T + 1 entries (empty
# documents at the end), so nothing waits for the device.
EOD = 50256
ids = torch.randint(0, EOD, (t,))
ids[cu[1:][cu[1:] > cu[:-1]] - 1] = EOD  # (the empty document has no end)
cu_found = attn_opt.segments_from_separators(ids, EOD, padded=True)
positions = attn_opt.doc_positions(cu_found, tokens=t)
again = attn_opt.doc_attention(q.detach(), k.detach(), v.detach(), cu_found)
print(f"from end-of-document ids: cu_seqlens {cu_found[:6].tolist()}... ({cu_found.numel()} "
      f"entries), positions restart at {(positions == 0).nonzero().flatten().tolist()}, "
      f"same output: {torch.equal(again, out.detach())}")
