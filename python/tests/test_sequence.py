"""attn_opt.doc_positions and attn_opt.segments_from_separators, with the
semantics of attn.doc_positions and attn.segments_from_separators."""

import pytest
import torch

import attn_opt


def test_doc_positions():
    cu = torch.tensor([0, 3, 3, 4, 8], dtype=torch.int32)
    expected = [0, 1, 2, 0, 0, 1, 2, 3]
    assert attn_opt.doc_positions(cu).tolist() == expected
    assert attn_opt.doc_positions(cu, tokens=8).tolist() == expected
    assert attn_opt.doc_positions(torch.zeros(1, dtype=torch.int32)).tolist() == []


def test_doc_positions_random_against_loop():
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(0, 20, (50,), generator=g).tolist()
    cu = torch.tensor([0] + torch.tensor(lengths).cumsum(0).tolist(), dtype=torch.int32)
    expected = [i for n in lengths for i in range(n)]
    assert attn_opt.doc_positions(cu).tolist() == expected


@pytest.mark.parametrize("tokens,cu", [
    ([5, 2, 7, 7, 2, 9], [0, 2, 5, 6]),   # the dialect's example
    ([5, 2, 7, 7, 2], [0, 2, 5]),         # ends with a separator
    ([2, 2], [0, 1, 2]),                  # length-1 documents
    ([7, 7], [0, 2]),                     # one document, no separator
    ([], [0]),                            # no tokens
])
def test_segments_from_separators(tokens, cu):
    got = attn_opt.segments_from_separators(torch.tensor(tokens, dtype=torch.int32), 2)
    assert got.dtype == torch.int32 and got.tolist() == cu
