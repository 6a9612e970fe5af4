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


class Ragged:
    """cuDNN graph tensors over our packed tensors: the documents as a batch
    padded to the longest (b x h x s x d), stored packed through ragged
    (THD) offsets, with per-document lengths; for graph `g` of packing
    (q, k, cu, lengths). bench/gpu_bench_backward.py's cuDNN builds its
    backward graph from it too."""

    def __init__(self, cudnn, g, q, k, cu, lengths):
        self.cudnn, self.g = cudnn, g
        self.tokens, self.hq, self.d = q.shape
        self.hkv = k.shape[1]
        self.b, self.s = len(lengths), max(lengths)
        self.io = self.io_type(cudnn, q)
        self.seq = torch.tensor(lengths, dtype=torch.int32, device=q.device).view(self.b, 1, 1, 1)
        # Ragged offsets in elements, one per document and the end.
        self.offs = {h: (cu.to(torch.int64) * h * self.d).view(self.b + 1, 1, 1, 1)
                     for h in {self.hq, self.hkv}}
        self.ragged = {h: self.like(o, f"ragged_{h}") for h, o in self.offs.items()}
        self.seq_q, self.seq_kv = self.like(self.seq, "seq_q"), self.like(self.seq, "seq_kv")

    @staticmethod
    def io_type(cudnn, q):
        """The graph's io data type for q's."""
        return {torch.bfloat16: cudnn.data_type.BFLOAT16,
                torch.float16: cudnn.data_type.HALF}[q.dtype]

    def dims(self, h):
        return (self.b, h, self.s, self.d), (self.s * h * self.d, self.d, h * self.d, 1)

    def packed(self, h, name):
        """An input of h heads, packed with its ragged offsets."""
        dim, stride = self.dims(h)
        t = self.g.tensor(dim=dim, stride=stride, data_type=self.io, name=name)
        t.set_ragged_offset(self.ragged[h])
        return t

    def output(self, t, h):
        """Graph output t laid out as a packed tensor of h heads."""
        dim, stride = self.dims(h)
        t.set_output(True).set_dim(dim).set_stride(stride)
        t.set_ragged_offset(self.ragged[h])

    def like(self, t, name):
        return self.g.tensor(dim=tuple(t.shape), stride=tuple(t.stride()),
                             data_type={torch.int32: self.cudnn.data_type.INT32,
                                        torch.int64: self.cudnn.data_type.INT64}[t.dtype],
                             name=name)

    def causal(self):
        """The sdpa / sdpa_backward options of a document-causal mask."""
        return dict(use_padding_mask=True, seq_len_q=self.seq_q, seq_len_kv=self.seq_kv,
                    diagonal_alignment=self.cudnn.diagonal_alignment.TOP_LEFT,
                    diagonal_band_right_bound=0, max_total_seq_len_q=self.tokens,
                    max_total_seq_len_kv=self.tokens)

    def pack(self):
        """The variant-pack entries of the offsets and lengths."""
        entries = {self.ragged[h]: o for h, o in self.offs.items()}
        entries.update({self.seq_q: self.seq, self.seq_kv: self.seq})
        return entries

    def build(self):
        g = self.g
        g.validate()
        g.build_operation_graph()
        g.create_execution_plans([self.cudnn.heur_mode.A, self.cudnn.heur_mode.FALLBACK])
        g.check_support()
        g.build_plans()
        return torch.empty(max(1, g.get_workspace_size()), dtype=torch.uint8,
                           device=self.seq.device)


class Cudnn:
    """cuDNN's SDPA graph, built once for this packing; it also writes the
    softmax stats (self.stats) a backward graph reads."""

    def __init__(self, q, k, v, cu, lengths, scale):
        import cudnn
        self.handle = cudnn.create_handle()
        cudnn.set_stream(handle=self.handle, stream=torch.cuda.current_stream().cuda_stream)
        g = cudnn.pygraph(io_data_type=Ragged.io_type(cudnn, q),
                          intermediate_data_type=cudnn.data_type.FLOAT,
                          compute_data_type=cudnn.data_type.FLOAT, handle=self.handle)
        r = Ragged(cudnn, g, q, k, cu, lengths)
        tq, tk, tv = r.packed(r.hq, "q"), r.packed(r.hkv, "k"), r.packed(r.hkv, "v")
        to, tstats = g.sdpa(name="sdpa", q=tq, k=tk, v=tv, generate_stats=True,
                            attn_scale=scale, **r.causal())
        r.output(to, r.hq)
        tstats.set_output(True).set_data_type(cudnn.data_type.FLOAT)
        self.workspace = r.build()
        self.out = torch.empty_like(q)
        self.stats = torch.empty(r.b, r.hq, r.s, 1, dtype=torch.float32, device=q.device)
        self.graph = g
        self.pack = {tq: q, tk: k, tv: v, to: self.out, tstats: self.stats, **r.pack()}

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
