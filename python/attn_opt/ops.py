"""The PyTorch op: attention over packed documents, forward and backward,
as torch.library custom ops (fake implementations for torch.compile,
autograd through the backward kernel).

  attn_opt::attention_forward(q, k, v, cu_seqlens, mask, scale,
                              deterministic) -> (out, lse)
  attn_opt::attention_backward(dout, q, k, v, out, lse, cu_seqlens, mask,
                               scale, deterministic) -> (dq, dk, dv)

Neither synchronizes with the host: the grid comes from T and the heads,
and on a GPU cu_seqlens are checked on the device (check_errors() reports
what was found; ATTN_OPT_VALIDATE=1 checks on the host at every call and
raises at once). CPU tensors are always checked before a kernel runs.
"""

import numbers
import os
from typing import Optional, Tuple

import torch
from torch import Tensor

from . import _library

_DTYPES = {torch.float32: "f32", torch.bfloat16: "bf16", torch.float16: "f16"}
# The (D, Dv) pairs the NVIDIA backward takes (attn::backwardColumnParts), as
# a table torch.compile reads without leaving the graph.
_BACKWARD_HEAD_DIMS = {(d, dv): _library._C.backward_column_parts(d, dv) > 0
                       for d in _library.HEAD_DIMS for dv in _library.HEAD_DIMS}


def _validate_on_host() -> bool:
    return os.environ.get("ATTN_OPT_VALIDATE") == "1"


def _poison() -> bool:
    """ATTN_OPT_POISON=1 (tests): outputs are filled with NaN (integers:
    -1) before the kernel runs, so an element it does not write shows."""
    return os.environ.get("ATTN_OPT_POISON") == "1"


def _empty(shape, dtype, device):
    t = torch.empty(shape, dtype=dtype, device=device)
    if not _poison():
        return t
    return t.fill_(float("nan") if dtype.is_floating_point else -1)


# -- cu_seqlens checks -------------------------------------------------------

_error_flags = {}  # device -> int32 [1], 1 after a bad cu_seqlens


def _check_cu_seqlens_on_host(cu: Tensor, tokens: int):
    c = cu.tolist()
    if not c or c[0] != 0:
        raise ValueError("invalid cu_seqlens: it must start at 0")
    for i in range(1, len(c)):
        if c[i] < c[i - 1]:
            raise ValueError(f"invalid cu_seqlens: entry {i} is {c[i]} after {c[i - 1]}")
    if c[-1] != tokens:
        raise ValueError(f"invalid cu_seqlens: it ends at {c[-1]}, not at the token count {tokens}")


def _record_cu_seqlens_errors(cu: Tensor, tokens: int, record: Tensor, stream=None):
    """attn.check_cu_seqlens' kernel: record[0] |= 1 if cu (contiguous
    int32) is not a packing of `tokens` tokens. On the CPU at once; on a
    GPU one launch on `stream` (default: the current one), without a
    synchronization."""
    kern = _library.sequence_kernel(sequence="check_cu_seqlens",
                                    target=_library.target(cu.device))
    if cu.device.type == "cpu":
        kern.run_cpu_check_cu_seqlens(cu.data_ptr(), cu.numel(), tokens, record.data_ptr())
        return
    if stream is None:
        stream = torch.cuda.current_stream(cu.device).cuda_stream
    kern.launch_cuda_check_cu_seqlens(cu.device.index or 0, cu.data_ptr(), cu.numel(), tokens,
                                      record.data_ptr(), stream)


def _capturing(device) -> bool:
    """Whether `device`'s current stream is capturing a CUDA graph (PyTorch
    asks the current device's)."""
    if device.index is not None and device.index != torch.cuda.current_device():
        with torch.cuda.device(device):
            return torch.cuda.is_current_stream_capturing()
    return torch.cuda.is_current_stream_capturing()


def _check_cu_seqlens_on_device(cu: Tensor, tokens: int, stream: int):
    """Records a bad cu_seqlens in the device's error flag (capturable in a
    CUDA graph)."""
    flag = _error_flags.get(cu.device)
    if flag is None:
        if _capturing(cu.device):
            # (Made here, the flag's zeroing would be the graph's, clearing
            # the record at every replay, and its kernels would load inside
            # the capture.)
            raise RuntimeError(
                f"attn_opt: call it once on {cu.device} before capturing a CUDA graph "
                "(the first call on a device makes its cu_seqlens error flag; each "
                "configuration's first call, forward and backward, loads its kernels)")
        flag = _error_flags[cu.device] = torch.zeros((1,), dtype=torch.int32, device=cu.device)
    _record_cu_seqlens_errors(cu, tokens, flag, stream)


def check_errors():
    """Raises ValueError if any call since the last check got invalid
    cu_seqlens on a GPU (their results are then undefined), and clears the
    record. Synchronizes with each device used."""
    bad = []
    for device, flag in _error_flags.items():
        torch.cuda.synchronize(device)  # (the checks may be on any stream)
        if int(flag[0]) != 0:
            bad.append(str(device))
        flag.zero_()
    if bad:
        raise ValueError("invalid cu_seqlens were passed to attn_opt on " + ", ".join(bad) +
                         " (they must start at 0, never decrease and end at the token count; "
                         "ATTN_OPT_VALIDATE=1 finds the call)")


_tile_counters = {}  # (device, stream) -> a zeroed int32 the kernel leaves zero


def _tile_counter(device, stream) -> Tensor:
    """The dynamic schedule's tile counter for a launch on `stream`: one per
    (device, stream), which the kernel leaves zero; in a CUDA-graph capture
    a new one per call, zeroed by the graph just before the kernel at each
    replay (torch.cuda.graph captures every graph on one stream, and graphs
    replayed at once, or one whose capture made the counter and was never
    replayed, must not share one)."""
    if _capturing(device):
        return torch.zeros((4,), dtype=torch.int32, device=device)
    counter = _tile_counters.get((device, stream))
    if counter is None:
        counter = _tile_counters[(device, stream)] = torch.zeros(
            (4,), dtype=torch.int32, device=device)
    return counter


# -- the ops -----------------------------------------------------------------

def _kernel(q: Tensor, v: Tensor, kv_heads: int, mask: str, scale, backward, deterministic,
            backward_next=None):
    return _library.kernel(
        dtype=_DTYPES[q.dtype], heads=q.shape[1], kv_heads=kv_heads,
        head_dim=q.shape[2], value_dim=v.shape[2], mask=mask, scale=scale,
        target=_library.target(q.device), backward=backward, deterministic=deterministic,
        backward_next=backward_next)


@torch.library.custom_op("attn_opt::attention_forward", mutates_args=(),
                         device_types=("cpu", "cuda"))
def attention_forward(q: Tensor, k: Tensor, v: Tensor, cu_seqlens: Tensor, mask: str,
                      scale: Optional[float], deterministic: bool) -> Tuple[Tensor, Tensor]:
    _check_tensors(q, k, v, cu_seqlens)
    q, k, v, cu = q.contiguous(), k.contiguous(), v.contiguous(), cu_seqlens.contiguous()
    tokens, heads = q.shape[0], q.shape[1]
    # (Inputs that require grad: the backward's kernel loads meanwhile.)
    grad = q.requires_grad or k.requires_grad or v.requires_grad
    out = _empty((tokens, heads, v.shape[2]), q.dtype, q.device)
    lse = _empty((heads, tokens), torch.float32, q.device)
    kern = _kernel(q, v, k.shape[1], mask, scale, False, False,
                   deterministic if grad else None)
    if _validate_on_host():
        _check_cu_seqlens_on_host(cu, tokens)
    if q.device.type == "cpu":
        kern.run_cpu(tokens, cu.data_ptr(), cu.numel(), q.data_ptr(), k.data_ptr(),
                     v.data_ptr(), out.data_ptr(), lse.data_ptr(), 0, 0, 0, 0)
    else:
        stream = torch.cuda.current_stream(q.device).cuda_stream
        _check_cu_seqlens_on_device(cu, tokens, stream)
        if tokens > 0:
            counter = _tile_counter(q.device, stream)  # (alive until launched)
            kern.launch_cuda(q.device.index or 0, tokens, cu.data_ptr(), cu.numel(),
                             q.data_ptr(), k.data_ptr(), v.data_ptr(), out.data_ptr(),
                             lse.data_ptr(), stream, counter.data_ptr())
    return out, lse


@attention_forward.register_fake
def _(q, k, v, cu_seqlens, mask, scale, deterministic):
    _check_tensors(q, k, v, cu_seqlens)
    tokens, heads = q.shape[0], q.shape[1]
    return (q.new_empty((tokens, heads, v.shape[2])),
            q.new_empty((heads, tokens), dtype=torch.float32))


@torch.library.custom_op("attn_opt::attention_backward", mutates_args=(),
                         device_types=("cpu", "cuda"))
def attention_backward(dout: Tensor, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor,
                       cu_seqlens: Tensor, mask: str, scale: Optional[float],
                       deterministic: bool) -> Tuple[Tensor, Tensor, Tensor]:
    _check_backward_tensors(dout, q, k, v, out, lse, cu_seqlens)
    dout, q, k, v = dout.contiguous(), q.contiguous(), k.contiguous(), v.contiguous()
    out, lse, cu = out.contiguous(), lse.contiguous(), cu_seqlens.contiguous()
    dq = _empty(q.shape, q.dtype, q.device)
    dk = _empty(k.shape, k.dtype, k.device)
    dv = _empty(v.shape, v.dtype, v.device)
    tokens = q.shape[0]
    ptrs = (q.data_ptr(), k.data_ptr(), v.data_ptr(), out.data_ptr(), lse.data_ptr(),
            dout.data_ptr(), dq.data_ptr(), dk.data_ptr(), dv.data_ptr())
    kern = _kernel(q, v, k.shape[1], mask, scale, True, deterministic)
    if q.device.type == "cpu":
        kern.run_cpu(tokens, cu.data_ptr(), cu.numel(), *ptrs)
    elif tokens > 0:
        # (Its cu_seqlens are the forward's, checked there.) Without
        # `deterministic` the kernel adds dq into an f32 accumulator (zeroed
        # by the launch, on the stream).
        acc = None if deterministic else _empty(q.shape, torch.float32, q.device)
        stream = torch.cuda.current_stream(q.device).cuda_stream
        kern.launch_cuda_backward(q.device.index or 0, tokens, cu.data_ptr(), cu.numel(),
                                  *ptrs, 0 if acc is None else acc.data_ptr(), stream)
    return dq, dk, dv


@attention_backward.register_fake
def _(dout, q, k, v, out, lse, cu_seqlens, mask, scale, deterministic):
    _check_backward_tensors(dout, q, k, v, out, lse, cu_seqlens)
    # (Contiguous, as the op's are, whatever the strides of q, k and v.)
    return q.new_empty(q.shape), k.new_empty(k.shape), v.new_empty(v.shape)


def _setup_context(ctx, inputs, output):
    q, k, v, cu_seqlens, mask, scale, deterministic = inputs
    out, lse = output
    ctx.save_for_backward(q, k, v, out, lse, cu_seqlens)
    ctx.mask, ctx.scale, ctx.deterministic = mask, scale, deterministic
    ctx.mark_non_differentiable(lse)


def _backward(ctx, dout, dlse):
    q, k, v, out, lse, cu_seqlens = ctx.saved_tensors
    dq, dk, dv = attention_backward(dout, q, k, v, out, lse, cu_seqlens, ctx.mask, ctx.scale,
                                    ctx.deterministic)
    return dq, dk, dv, None, None, None, None


attention_forward.register_autograd(_backward, setup_context=_setup_context)


# -- the public function -----------------------------------------------------

def _fail(message, where="attn_opt"):
    raise ValueError(f"{where}: {message}")


def _check_tensors(q, k, v, cu):
    """What the kernels need of their inputs (shapes, dtypes, devices, head
    dims), checked by both ops and their fake implementations, each message
    built only when it fails (they run on every call)."""
    for name, t in (("q", q), ("k", k), ("v", v)):
        if t.dim() != 3:
            _fail(f"{name} must be [T, heads, head_dim], got {tuple(t.shape)}")
    dtype, device = q.dtype, q.device
    if dtype not in _DTYPES:
        _fail(f"q has dtype {dtype}; supported: bfloat16, float16, float32")
    if k.dtype != dtype or v.dtype != dtype:
        _fail(f"q, k and v must have one dtype, got {dtype}, {k.dtype}, {v.dtype}")
    if device.type not in ("cpu", "cuda"):
        _fail(f"unsupported device {device}")
    if k.device != device or v.device != device or cu.device != device:
        _fail(f"q, k, v and cu_seqlens must be on one device, got {device}, {k.device}, "
              f"{v.device}, {cu.device}")
    if cu.dim() != 1 or cu.dtype != torch.int32:
        _fail(f"cu_seqlens must be a 1-D int32 tensor, got {cu.dtype} of shape "
              f"{tuple(cu.shape)}")
    if cu.shape[0] < 1:
        _fail("cu_seqlens needs at least one entry")
    (t, hq, d), (tk, hkv, dk), (tv, hv, dv) = q.shape, k.shape, v.shape
    if tk != t or tv != t:
        _fail(f"q, k and v must have the same token count, got {t}, {tk}, {tv}")
    if hv != hkv:
        _fail(f"k and v must have the same heads, got {hkv} and {hv}")
    if hq < 1 or hkv < 1:
        _fail(f"q, k and v need at least one head, got {hq} query and {hkv} key/value heads")
    if hq % hkv != 0:
        _fail(f"the query heads ({hq}) must be a multiple of the key/value heads ({hkv})")
    if dk != d:
        _fail(f"q and k must have one head dim, got {d} and {dk}")
    for name, n in (("head dim", d), ("value head dim", dv)):
        if n not in _library.HEAD_DIMS:
            _fail(f"unsupported {name} {n} (supported: "
                  + ", ".join(map(str, _library.HEAD_DIMS)) + ")")
    if device.type != "cpu" and dtype == torch.float32:
        _fail("float32 runs on the CPU only (the GPU kernels use bf16 or f16 tensor cores)")


def _check_backward_tensors(dout, q, k, v, out, lse, cu):
    """The backward's inputs: the forward's, and out and dout [T, Hq, Dv]
    of q's dtype, lse [Hq, T] float32, on q's device."""
    _check_tensors(q, k, v, cu)
    want = (q.shape[0], q.shape[1], v.shape[2])
    for name, t in (("dout", dout), ("out", out)):
        if t.dtype != q.dtype or t.device != q.device or tuple(t.shape) != want:
            _fail(f"{name} must be {list(want)} of {q.dtype} on {q.device}, got "
                  f"{list(t.shape)} of {t.dtype} on {t.device}")
    if (lse.dtype != torch.float32 or lse.device != q.device
            or tuple(lse.shape) != (q.shape[1], q.shape[0])):
        _fail(f"lse must be [{q.shape[1]}, {q.shape[0]}] of torch.float32 on {q.device}, got "
              f"{list(lse.shape)} of {lse.dtype} on {lse.device}")


_DOC = "attn_opt.doc_attention"


def doc_attention(q: Tensor, k: Tensor, v: Tensor, cu_seqlens: Tensor, *, causal: bool = True,
                  window: Optional[int] = None, scale: Optional[float] = None,
                  return_lse: bool = False, deterministic: bool = False):
    """Attention over packed documents, in FlashAttention's varlen layout.

    q [T, Hq, D], k [T, Hkv, D], v [T, Hkv, Dv] (bf16, f16 or f32; Hq a
    multiple of Hkv: GQA/MQA), cu_seqlens int32 [N+1] on the same device
    (0 = c0 <= ... <= cN = T; empty documents allowed). Each token attends
    to the tokens of its own document, causally unless causal=False, and
    with `window` only to the last `window` of them. scale defaults to
    1/sqrt(D). Returns out [T, Hq, Dv] (and lse [Hq, T], float32, natural
    log, without a gradient, if return_lse). Differentiable in q, k and v;
    deterministic=True computes dq without atomics (the same bits every run).
    Non-contiguous inputs are copied to contiguous ones.
    """
    for name, t in (("q", q), ("k", k), ("v", v), ("cu_seqlens", cu_seqlens)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{_DOC}: {name} must be a torch.Tensor")
    for name, flag in (("causal", causal), ("return_lse", return_lse),
                       ("deterministic", deterministic)):
        if not isinstance(flag, bool):
            raise TypeError(f"{_DOC}: {name} must be True or False, got {flag!r}")
    if window is not None:
        if not causal:
            _fail("window needs causal=True", _DOC)
        if (isinstance(window, bool) or not isinstance(window, numbers.Integral)
                or not 1 <= window <= 2**31 - 1):
            _fail("window must be an integer in [1, 2147483647] (token positions "
                  f"are 32-bit), got {window!r}", _DOC)
        window = int(window)
    if scale is not None:
        if isinstance(scale, torch.Tensor) and scale.requires_grad:
            _fail("scale is a tensor that requires grad; the kernels take it as a "
                  "number, so no gradient would reach it (pass float(scale))", _DOC)
        try:
            scale = float(scale)
        except (TypeError, ValueError):
            _fail(f"scale must be a positive number, got {scale!r}", _DOC)
        if not _library._C.is_supported_scale(scale):
            _fail(f"{_library._C.scale_rule}, got {scale}", _DOC)
    # (The op checks the tensors; this needs the caller's grad mode, which
    # the op's body does not see.)
    if (q.device.type == "cuda" and q.dim() == 3 and v.dim() == 3 and torch.is_grad_enabled()
            and (q.requires_grad or k.requires_grad or v.requires_grad)
            and not _BACKWARD_HEAD_DIMS.get((q.shape[2], v.shape[2]))):
        _fail(f"the NVIDIA backward does not take D = {q.shape[2]} with Dv = {v.shape[2]} "
              "(past 128 it splits both into parts of at most 96 columns in whole 16-column "
              "steps); got them with inputs that require grad", _DOC)
    mask = "document" + (",causal" if causal else "") + (f",window={window}" if window else "")
    out, lse = attention_forward(q, k, v, cu_seqlens, mask, scale, deterministic)
    return (out, lse) if return_lse else out
