"""The sequence helpers around packed attention, as Megatron's
--reset-position-ids and --reset-attention-mask need them, on any device,
with the semantics of the dialect's attn.doc_positions and
attn.segments_from_separators (written here with PyTorch's operations, so
they run wherever the tensors are)."""

from typing import Optional

import torch
from torch import Tensor


def doc_positions(cu_seqlens: Tensor, tokens: Optional[int] = None) -> Tensor:
    """Each token's position in its document (position ids that restart at
    0 with every document), int32 [T]. Pass `tokens` (= T = cu_seqlens[-1])
    to avoid reading it from the device (a synchronization)."""
    if cu_seqlens.dim() != 1 or cu_seqlens.dtype != torch.int32:
        raise ValueError("attn_opt.doc_positions: cu_seqlens must be a 1-D int32 tensor")
    if tokens is None:
        tokens = int(cu_seqlens[-1])
    t = torch.arange(tokens, dtype=torch.int32, device=cu_seqlens.device)
    doc = torch.searchsorted(cu_seqlens[1:], t, right=True)
    return t - cu_seqlens[doc]


def segments_from_separators(tokens: Tensor, separator: int) -> Tensor:
    """cu_seqlens (int32 [N+1]) from a packed sequence of token ids: every
    token equal to `separator` ends its document (and belongs to it); the
    tokens after the last separator form one more document. The number of
    documents is data: this reads it from the device."""
    if tokens.dim() != 1:
        raise ValueError("attn_opt.segments_from_separators: tokens must be 1-D")
    n = tokens.shape[0]
    ends = (tokens == separator).nonzero().flatten().to(torch.int32) + 1
    parts = [torch.zeros(1, dtype=torch.int32, device=tokens.device), ends]
    if n > 0 and (ends.numel() == 0 or int(ends[-1]) != n):
        parts.append(torch.full((1,), n, dtype=torch.int32, device=tokens.device))
    return torch.cat(parts)
