"""gpu-machine-builds.test's check of the runtime-only attn_opt (no
compiler) on kernels attn-opt-aot compiled: doc_attention's forward and
gradients against float64 on CPU tensors, and a configuration the cache
lacks refused with the command that builds it."""

import torch

import attn_opt
from attn_opt import _C
from reference import attention, dense_mask, rel_err

assert not _C.has_compiler
g = torch.Generator().manual_seed(5)
cu = torch.tensor([0, 40, 40, 41, 100], dtype=torch.int32)
q, k, v = (torch.randn(100, 2, 32, generator=g).requires_grad_() for _ in range(3))
out = attn_opt.doc_attention(q, k, v, cu)
dout = torch.randn(out.shape, generator=g)
out.backward(dout)
q64, k64, v64 = (x.detach().double().requires_grad_() for x in (q, k, v))
ref, _ = attention(q64, k64, v64, dense_mask(cu, 100))
ref.backward(dout.double())
errors = [rel_err(out, ref)] + [rel_err(a.grad, b.grad) for a, b in
                                ((q, q64), (k, k64), (v, v64))]
ok = errors[0] < 1e-5 and all(e < 1e-4 for e in errors[1:])
print("forward within 1e-5, gradients within 1e-4:", ok, errors)
try:
    attn_opt.doc_attention(q.detach()[:, :1], k.detach()[:, :1], v.detach()[:, :1], cu)
except RuntimeError as e:
    print("missing:", str(e).replace("\n", " "))
