#!/usr/bin/env python3
"""The cuDNN peers' graph plumbing without a GPU or cuDNN: a recording
stand-in for the nvidia-cudnn-frontend module builds bench/peers.py's
forward graph and bench/gpu_bench_backward.py's forward + backward graphs
on CPU tensors, and checks what the real library would refuse or get
wrong: a graph tensor left out of the variant pack (or a stranger in it),
an output not marked as one, a packed tensor without its ragged offsets or
bound to a tensor of another size, offsets that are not cu_seqlens x heads
x D, and the document-causal options. Nothing is computed.

Prints one line per check; exit status 1 on the first failure.
"""
import os
import sys
import types

import torch

_here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _here)
sys.path.insert(0, os.path.join(_here, "..", "utils", "ptxemu"))
from checks import expect  # noqa: E402


class FakeTensor:
    def __init__(self, name, dim=None, stride=None, data_type=None):
        self.name, self.dim, self.stride, self.data_type = name, dim, stride, data_type
        self.ragged, self.is_output = None, False

    def set_ragged_offset(self, t):
        self.ragged = t
        return self

    def set_output(self, value):
        self.is_output = value
        return self

    def set_dim(self, dim):
        self.dim = tuple(dim)
        return self

    def set_stride(self, stride):
        self.stride = tuple(stride)
        return self

    def set_data_type(self, t):
        self.data_type = t
        return self


CAUSAL_OPTIONS = {"use_padding_mask", "seq_len_q", "seq_len_kv", "diagonal_alignment",
                  "diagonal_band_right_bound", "max_total_seq_len_q", "max_total_seq_len_kv"}


class FakeGraph:
    graphs = []

    def __init__(self, **kw):
        self.tensors, self.ops, self.executed = [], [], []
        FakeGraph.graphs.append(self)

    def tensor(self, dim, stride, data_type, name):
        t = FakeTensor(name, tuple(dim), tuple(stride), data_type)
        self.tensors.append(t)
        return t

    def _op(self, kind, inputs, opts, outputs):
        assert all(t in self.tensors for t in inputs), f"{kind}: an input of another graph"
        assert CAUSAL_OPTIONS <= set(opts), f"{kind}: options {sorted(opts)}"
        assert opts["diagonal_band_right_bound"] == 0 and opts["use_padding_mask"]
        assert opts["seq_len_q"] in self.tensors and opts["seq_len_kv"] in self.tensors
        made = [FakeTensor(f"{kind}_{i}") for i in range(outputs)]
        self.tensors += made
        self.ops.append(kind)
        return made

    def sdpa(self, name, q, k, v, generate_stats, attn_scale, **opts):
        assert generate_stats, "the forward must write the stats a backward reads"
        return self._op("sdpa", [q, k, v], opts, 2)

    def sdpa_backward(self, name, q, k, v, o, dO, stats, attn_scale, **opts):
        return self._op("sdpa_backward", [q, k, v, o, dO, stats], opts, 3)

    def validate(self):
        pass

    build_operation_graph = check_support = build_plans = validate

    def create_execution_plans(self, modes):
        pass

    def get_workspace_size(self):
        return 0

    def execute(self, pack, workspace, handle=None):
        missing = [t.name for t in self.tensors if t not in pack]
        assert not missing, f"not in the variant pack: {missing}"
        strangers = [t for t in pack if t not in self.tensors]
        assert not strangers, "the variant pack binds tensors of another graph"
        for t, value in pack.items():
            if t.name.startswith(("sdpa_", "sdpa_backward_")):
                assert t.is_output, f"{t.name} is not marked as an output"
            if t.dim is not None and len(t.dim) == 4 and t.dim[3] > 1:
                b, h, s, d = t.dim
                assert t.ragged is not None, f"{t.name}: no ragged offsets"
                assert value.numel() == int(pack[t.ragged][-1]) == TOKENS * h * D, \
                    f"{t.name}: bound to {tuple(value.shape)}, offsets end at {int(pack[t.ragged][-1])}"
                offsets = pack[t.ragged].flatten()
                assert torch.equal(offsets, CU.to(torch.int64) * h * D), f"{t.name}: offsets"
        self.executed.append(len(pack))


def fake_cudnn():
    m = types.ModuleType("cudnn")
    m.pygraph = FakeGraph
    m.data_type = types.SimpleNamespace(BFLOAT16="bf16", HALF="f16", FLOAT="f32",
                                        INT32="i32", INT64="i64")
    m.heur_mode = types.SimpleNamespace(A="A", FALLBACK="FALLBACK")
    m.diagonal_alignment = types.SimpleNamespace(TOP_LEFT="top_left")
    m.create_handle = lambda: "handle"
    m.set_stream = lambda handle, stream: None
    return m


sys.modules["cudnn"] = fake_cudnn()
torch.cuda.current_stream = lambda *a: types.SimpleNamespace(cuda_stream=0)
import gpu_bench_backward  # noqa: E402
import peers  # noqa: E402

LENGTHS, HQ, HKV, D = [5, 0, 1, 9], 4, 2, 64
TOKENS = sum(LENGTHS)
CU = torch.tensor([0, 5, 5, 6, 15], dtype=torch.int32)
q, k, v, dout = (torch.zeros(TOKENS, h, D, dtype=torch.bfloat16) for h in (HQ, HKV, HKV, HQ))


def check_forward():
    FakeGraph.graphs.clear()
    peer = peers.Cudnn(q, k, v, CU, LENGTHS, 0.125)
    out = peer()
    (g,) = FakeGraph.graphs
    assert g.ops == ["sdpa"] and g.executed, (g.ops, g.executed)
    assert out.shape == q.shape and peer.stats.shape == (len(LENGTHS), HQ, max(LENGTHS), 1)


def check_backward():
    FakeGraph.graphs.clear()
    peer = gpu_bench_backward.Cudnn(q, k, v, CU, dout, LENGTHS, 0.125)
    grads = peer.forward_backward()
    fwd, bwd = FakeGraph.graphs
    assert fwd.ops == ["sdpa"] and bwd.ops == ["sdpa_backward"]
    assert len(fwd.executed) == 2 and len(bwd.executed) == 1
    assert [tuple(g.shape) for g in grads] == [tuple(x.shape) for x in (q, k, v)]
    stats = [t for t in bwd.tensors if t.name == "stats"][0]
    assert stats.dim == tuple(peer.forward.stats.shape)


expect("the cuDNN forward graph: every tensor bound, ragged, causal", check_forward)
expect("the cuDNN backward graph: every tensor bound, ragged, causal, the forward's stats",
       check_backward)
