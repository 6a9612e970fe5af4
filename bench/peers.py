"""The peers bench/gpu_bench.py times ours against, each called on the same
packed tensors (q [T, Hq, D], k and v [T, Hkv, D], cu_seqlens int32
[N+1]) and returning the output [T, Hq, D]:

  fa2          FlashAttention-2 varlen, PyTorch's built-in
               (aten._flash_attention_forward with cu_seqlens, causal)
  flex         FlexAttention with a document-causal block mask (the mask's
               build is timed apart: its users pay it for every packing)
  cudnn        cuDNN SDPA through the nvidia-cudnn-frontend package: the
               documents as a batch padded to the longest, stored packed
               through ragged (THD) offsets, per-document lengths, causal
  cudnn_torch  cuDNN SDPA through PyTorch's aten._cudnn_attention_forward
               with cumulative lengths (the varlen path PyTorch keeps off
               by default)
  sdpa         SDPA one document at a time (the naive loop; context only)

FA2 and cuDNN also write the log-sum-exp a backward pass needs, as ours
does; Flex is called as before (its output only). Building a peer (a
compile, a cuDNN graph) happens in its constructor, outside the timed
calls. Needs PyTorch and a GPU; a peer that cannot be built raises, and
the benchmark reports why.
"""
import torch
import torch.nn.functional as F


class Fa2:
    def __init__(self, q, k, v, cu, lengths, scale):
        self.args = (q, k, v, cu, cu, max(lengths), max(lengths), 0.0, True, False)
        self.scale = scale

    def __call__(self):
        return torch.ops.aten._flash_attention_forward(*self.args, scale=self.scale)[0]


class Flex:
    """Compiled FlexAttention on batch 1 of the packed sequence."""

    def __init__(self, q, k, v, cu, lengths, scale):
        from torch.nn.attention.flex_attention import create_block_mask, flex_attention
        # One compile per case's shape: never fall back to eager (which
        # materializes the T x T scores) for lack of cache entries.
        import torch._dynamo
        for limit in ("cache_size_limit", "recompile_limit"):
            if hasattr(torch._dynamo.config, limit):
                setattr(torch._dynamo.config, limit, 256)
        tokens = q.shape[0]
        doc = torch.repeat_interleave(
            torch.arange(len(lengths), device=q.device),
            torch.tensor(lengths, device=q.device))

        def mask_mod(b, h, qi, ki):
            return (doc[qi] == doc[ki]) & (qi >= ki)

        self.build_mask = lambda: create_block_mask(mask_mod, None, None, tokens, tokens,
                                                    device=q.device)
        self.block_mask = self.build_mask()
        self.fn = torch.compile(flex_attention, dynamic=False)
        self.q, self.k, self.v = (x.transpose(0, 1).unsqueeze(0) for x in (q, k, v))
        self.kw = dict(block_mask=self.block_mask, scale=scale,
                       enable_gqa=q.shape[1] != k.shape[1])

    def __call__(self):
        return self.fn(self.q, self.k, self.v, **self.kw)[0].transpose(0, 1)


class Cudnn:
    """cuDNN's SDPA graph, built once for this packing."""

    def __init__(self, q, k, v, cu, lengths, scale):
        import cudnn
        tokens, hq, d = q.shape
        hkv = k.shape[1]
        b, s = len(lengths), max(lengths)
        dev = q.device
        io = {torch.bfloat16: cudnn.data_type.BFLOAT16,
              torch.float16: cudnn.data_type.HALF}[q.dtype]
        self.handle = cudnn.create_handle()
        cudnn.set_stream(handle=self.handle, stream=torch.cuda.current_stream().cuda_stream)
        g = cudnn.pygraph(io_data_type=io, intermediate_data_type=cudnn.data_type.FLOAT,
                          compute_data_type=cudnn.data_type.FLOAT, handle=self.handle)
        seq = torch.tensor(lengths, dtype=torch.int32, device=dev).view(b, 1, 1, 1)
        # Ragged offsets in elements, one per document and the end.
        offs = {h: (cu.to(torch.int64) * h * d).view(b + 1, 1, 1, 1) for h in {hq, hkv}}

        def packed(h, name):
            return g.tensor(dim=(b, h, s, d), stride=(s * h * d, d, h * d, 1),
                            data_type=io, name=name)

        def like(t, name):
            return g.tensor(dim=tuple(t.shape), stride=tuple(t.stride()),
                            data_type={torch.int32: cudnn.data_type.INT32,
                                       torch.int64: cudnn.data_type.INT64}[t.dtype],
                            name=name)

        tq, tk, tv = packed(hq, "q"), packed(hkv, "k"), packed(hkv, "v")
        roq, rokv = like(offs[hq], "ragged_q"), like(offs[hkv], "ragged_kv")
        sq, skv = like(seq, "seq_q"), like(seq, "seq_kv")
        tq.set_ragged_offset(roq)
        tk.set_ragged_offset(rokv)
        tv.set_ragged_offset(rokv)
        to, tstats = g.sdpa(name="sdpa", q=tq, k=tk, v=tv, generate_stats=True,
                            attn_scale=scale, use_padding_mask=True, seq_len_q=sq,
                            seq_len_kv=skv, diagonal_alignment=cudnn.diagonal_alignment.TOP_LEFT,
                            diagonal_band_right_bound=0, max_total_seq_len_q=tokens,
                            max_total_seq_len_kv=tokens)
        to.set_output(True).set_dim((b, hq, s, d)).set_stride((s * hq * d, d, hq * d, 1))
        to.set_ragged_offset(roq)
        tstats.set_output(True).set_data_type(cudnn.data_type.FLOAT)
        g.validate()
        g.build_operation_graph()
        g.create_execution_plans([cudnn.heur_mode.A, cudnn.heur_mode.FALLBACK])
        g.check_support()
        g.build_plans()
        self.out = torch.empty_like(q)
        self.stats = torch.empty(b, hq, s, 1, dtype=torch.float32, device=dev)
        self.graph = g
        self.pack = {tq: q, tk: k, tv: v, roq: offs[hq], rokv: offs[hkv], sq: seq,
                     skv: seq, to: self.out, tstats: self.stats}
        self.workspace = torch.empty(max(1, g.get_workspace_size()), dtype=torch.uint8,
                                     device=dev)

    def __call__(self):
        self.graph.execute(self.pack, self.workspace, handle=self.handle)
        return self.out


class CudnnTorch:
    def __init__(self, q, k, v, cu, lengths, scale):
        self.args = (q, k, v, None, cu, cu, max(lengths), max(lengths), True, 0.0, True,
                     False)
        self.scale = scale

    def __call__(self):
        return torch.ops.aten._cudnn_attention_forward(*self.args, scale=self.scale)[0]


class SdpaPerDocument:
    def __init__(self, q, k, v, cu, lengths, scale):
        self.q, self.k, self.v, self.scale = q, k, v, scale
        self.bounds = cu.tolist()
        self.gqa = q.shape[1] != k.shape[1]

    def __call__(self):
        o = torch.empty_like(self.q)
        for s, e in zip(self.bounds[:-1], self.bounds[1:]):
            if e > s:
                o[s:e] = F.scaled_dot_product_attention(
                    *(x[s:e].transpose(0, 1) for x in (self.q, self.k, self.v)),
                    is_causal=True, scale=self.scale, enable_gqa=self.gqa).transpose(0, 1)
        return o


# name -> class, in the order they are run and printed.
# (cuDNN's last: a fault there, should it come, would take the others along.)
PEERS = {"fa2": Fa2, "flex": Flex, "sdpa": SdpaPerDocument, "cudnn": Cudnn,
         "cudnn_torch": CudnnTorch}
# The peers whose best time is the bar (the naive loop is context only).
BAR = ("fa2", "flex", "cudnn", "cudnn_torch")


def matmul_tflops(median_ms, n=8192):
    """The dense bf16 matrix product's rate on random data (n x n x n, through
    PyTorch): the ceiling the attention kernels are held to."""
    g = torch.Generator(device="cuda").manual_seed(1)
    a, b = (torch.randn(n, n, device="cuda", dtype=torch.bfloat16, generator=g)
            for _ in range(2))
    ms = median_ms(lambda: a @ b, reps=10)
    return 2.0 * n ** 3 / (ms * 1e9)
