"""The sequence helpers around packed attention, as Megatron's
--reset-position-ids and --reset-attention-mask need them: kernels compiled
from the dialect's attn.doc_positions and attn.segments_from_separators
{padded} (the CPU's through the CPU pipeline, CUDA's from
attn-gpu-sequence-ops), cached like the attention's, as torch.library
custom ops (fake implementations for torch.compile).

  attn_opt::doc_positions(cu_seqlens, tokens) -> positions [T] int32
  attn_opt::segments_padded(tokens, separator) -> cu_seqlens [T + 1] int32
"""

import numbers
from typing import Optional

import torch
from torch import Tensor

from . import _library, ops


def _fail(name, message):
    raise ValueError(f"attn_opt.{name}: {message}")


_MAX_TOKENS = 2**31 - 1  # cu_seqlens are int32


def _check_cu_seqlens(cu_seqlens, tokens):
    """doc_positions' inputs (also those of the op called directly)."""
    if cu_seqlens.dim() != 1 or cu_seqlens.dtype != torch.int32 or cu_seqlens.numel() < 1:
        _fail("doc_positions", "cu_seqlens must be a 1-D int32 tensor with at least one "
              f"entry, got {cu_seqlens.dtype} of shape {tuple(cu_seqlens.shape)}")
    if cu_seqlens.device.type not in ("cpu", "cuda"):
        _fail("doc_positions", f"unsupported device {cu_seqlens.device}")
    if isinstance(tokens, torch.SymInt):  # (torch.compile with a dynamic T)
        torch._check(tokens >= 0)
        return
    if isinstance(tokens, bool) or not isinstance(tokens, numbers.Integral) \
            or not 0 <= tokens <= _MAX_TOKENS:
        _fail("doc_positions", f"tokens must be an integer in [0, 2**31), got {tokens!r}")


def _check_token_ids(tokens, separator):
    """segments_from_separators' token ids and separator (the op's
    checks): a separator no token of the dtype can equal is refused, as
    the dialect's verifier does (uint8 255 is not -1)."""
    if tokens.dim() != 1 or tokens.dtype.is_floating_point or tokens.dtype.is_complex \
            or tokens.dtype == torch.bool:
        _fail("segments_from_separators", "tokens must be a 1-D tensor of integer token ids, "
              f"got {tokens.dtype} of shape {tuple(tokens.shape)}")
    if tokens.device.type not in ("cpu", "cuda"):
        _fail("segments_from_separators", f"unsupported device {tokens.device}")
    if tokens.shape[0] > _MAX_TOKENS:
        _fail("segments_from_separators", f"{tokens.shape[0]} tokens do not fit int32 cu_seqlens")
    info = torch.iinfo(tokens.dtype)
    if not info.min <= separator <= info.max:
        _fail("segments_from_separators", f"separator {separator} cannot occur in {tokens.dtype} "
              f"token ids ({info.min} to {info.max})")


@torch.library.custom_op("attn_opt::doc_positions", mutates_args=(),
                         device_types=("cpu", "cuda"))
def _doc_positions(cu_seqlens: Tensor, tokens: int) -> Tensor:
    _check_cu_seqlens(cu_seqlens, tokens)
    cu = cu_seqlens.contiguous()
    out = ops._empty((tokens,), torch.int32, cu.device)
    kern = _library.sequence_kernel(sequence="doc_positions", target=_library.target(cu.device))
    if cu.device.type == "cpu":
        # (Checks cu_seqlens first: a ValueError, nothing written.)
        kern.run_cpu_sequence(cu.data_ptr(), cu.numel(), out.data_ptr(), tokens)
        return out
    if ops._validate_on_host():
        ops._check_cu_seqlens_on_host(cu, tokens)
    stream = torch.cuda.current_stream(cu.device).cuda_stream
    ops._check_cu_seqlens_on_device(cu, tokens, stream)
    kern.launch_cuda_sequence(cu.device.index or 0, cu.data_ptr(), cu.numel(), out.data_ptr(),
                              tokens, stream)
    return out


@_doc_positions.register_fake
def _(cu_seqlens, tokens):
    _check_cu_seqlens(cu_seqlens, tokens)
    return cu_seqlens.new_empty((tokens,))


@torch.library.custom_op("attn_opt::segments_padded", mutates_args=(),
                         device_types=("cpu", "cuda"))
def _segments_padded(tokens: Tensor, separator: int) -> Tensor:
    _check_token_ids(tokens, separator)
    ids = tokens.to(torch.int64).contiguous()
    n = ids.numel()
    out = ops._empty((n + 1,), torch.int32, ids.device)
    kern = _library.sequence_kernel(sequence="segments_from_separators",
                                    target=_library.target(ids.device), separator=separator)
    if ids.device.type == "cpu":
        kern.run_cpu_sequence(ids.data_ptr(), n, out.data_ptr(), n + 1)
    else:
        stream = torch.cuda.current_stream(ids.device).cuda_stream
        kern.launch_cuda_sequence(ids.device.index or 0, ids.data_ptr(), n, out.data_ptr(),
                                  n + 1, stream)
    return out


@_segments_padded.register_fake
def _(tokens, separator):
    _check_token_ids(tokens, separator)
    return tokens.new_empty((tokens.shape[0] + 1,), dtype=torch.int32)


def doc_positions(cu_seqlens: Tensor, tokens: Optional[int] = None) -> Tensor:
    """Each token's position in its document (position ids that restart at
    0 with every document), int32 [T], on cu_seqlens' device. Pass `tokens`
    (= T = cu_seqlens[-1]) to avoid reading it from the device (a
    synchronization, and a graph break under torch.compile)."""
    if not isinstance(cu_seqlens, Tensor):
        raise TypeError("attn_opt.doc_positions: cu_seqlens must be a torch.Tensor")
    if tokens is None:
        _check_cu_seqlens(cu_seqlens, 0)  # (before reading T from it)
        tokens = int(cu_seqlens[-1])
        if tokens < 0:
            _fail("doc_positions", f"invalid cu_seqlens: its last entry (T) is {tokens}")
    elif isinstance(tokens, bool) or not isinstance(tokens, (numbers.Integral, torch.SymInt)):
        _fail("doc_positions", f"tokens must be an integer in [0, 2**31), got {tokens!r}")
    return _doc_positions(cu_seqlens, tokens)


def segments_from_separators(tokens: Tensor, separator: int, *, padded: bool = False) -> Tensor:
    """cu_seqlens (int32) from a packed sequence of token ids (1-D, any
    integer dtype), on its device: every token equal to `separator` ends
    its document (and belongs to it); the tokens after the last separator
    form one more document. N + 1 entries, which needs N read from the
    device (a synchronization); with padded=True, T + 1 entries whatever N
    is, T repeated past the last document (empty documents, which
    doc_attention takes): no synchronization, a fixed shape for
    torch.compile and CUDA graphs."""
    if not isinstance(tokens, Tensor):
        raise TypeError("attn_opt.segments_from_separators: tokens must be a torch.Tensor")
    if isinstance(separator, bool) or not isinstance(separator, numbers.Integral) \
            or not -2**63 <= separator < 2**63:
        _fail("segments_from_separators", f"separator must be an int64 token id, got {separator!r}")
    if not isinstance(padded, bool):
        raise TypeError("attn_opt.segments_from_separators: padded must be True or False, "
                        f"got {padded!r}")
    cu = _segments_padded(tokens, int(separator))
    if padded:
        return cu
    # The entries before the padding: those below T, and one T.
    return cu[:int((cu < tokens.shape[0]).sum()) + 1]
