"""attn_opt: attention over packed documents, compiled by attn-opt.

    import attn_opt
    out = attn_opt.doc_attention(q, k, v, cu_seqlens)        # FlashAttention's varlen layout
    out.sum().backward()                                      # dq, dk, dv

Kernels are compiled on first use for each configuration (element type,
heads, head dims, mask, scale, device), cached in memory and on disk
(ATTN_OPT_CACHE_DIR, default $XDG_CACHE_HOME/attn-opt or ~/.cache/attn-opt),
and serve every packing.
`attn-opt-aot` (build/bin) fills a cache ahead of time for machines without
the compiler.
"""

from . import _C
from ._library import cache_stats
from .ops import check_errors, doc_attention
from .sequence import doc_positions, segments_from_separators

__all__ = ["doc_attention", "doc_positions", "segments_from_separators", "check_errors",
           "cache_stats"]
