"""attn_opt.doc_positions and attn_opt.segments_from_separators: kernels
compiled from attn.doc_positions and attn.segments_from_separators
{padded}, checked against their definitions (written here in plain Python)
on edge cases and random packings, outputs poisoned first (conftest); and
the kernel of attn.check_cu_seqlens (the op's check on a GPU) against the
host's check."""

import json
import os

import pytest
import torch
import torch._dynamo.testing

import attn_opt
from attn_opt import sequence


def positions_by_loop(lengths):
    return [i for n in lengths for i in range(n)]


def cu_of(lengths):
    return torch.tensor([0] + torch.tensor(lengths, dtype=torch.int64).cumsum(0).tolist(),
                        dtype=torch.int32)


def segments_by_loop(tokens, separator):
    cu = [0]
    for i, t in enumerate(tokens):
        if t == separator:
            cu.append(i + 1)
    if tokens and cu[-1] != len(tokens):
        cu.append(len(tokens))
    return cu


def test_doc_positions():
    cu = torch.tensor([0, 3, 3, 4, 8], dtype=torch.int32)
    expected = [0, 1, 2, 0, 0, 1, 2, 3]
    assert attn_opt.doc_positions(cu).tolist() == expected
    assert attn_opt.doc_positions(cu, tokens=8).tolist() == expected
    assert attn_opt.doc_positions(torch.zeros(1, dtype=torch.int32)).tolist() == []


@pytest.mark.parametrize("lengths", [
    [1], [5000], [0, 0, 1, 0, 1, 1, 0], [300, 0, 1, 4000, 17],
    "random",
])
def test_doc_positions_against_loop(lengths):
    if lengths == "random":
        g = torch.Generator().manual_seed(0)
        lengths = torch.randint(0, 60, (80,), generator=g).tolist()
    out = attn_opt.doc_positions(cu_of(lengths))
    assert out.dtype == torch.int32 and out.tolist() == positions_by_loop(lengths)


def test_doc_positions_is_the_compiled_kernel(cache_dir):
    """The helper runs the kernel of attn.doc_positions from the kernel
    library (its cache entry names the configuration)."""
    attn_opt.doc_positions(cu_of([3, 4]))
    configs = [json.load(open(os.path.join(cache_dir, f)))["config"]
               for f in os.listdir(cache_dir) if f.endswith(".json")]
    assert {"target": "cpu", "sequence": "doc_positions"} in configs


def test_check_cu_seqlens_kernel_against_the_host_rule():
    """The kernel of attn.check_cu_seqlens (what the op launches on a GPU
    instead of device tensor operations), compiled for the CPU, against
    the host's check: random arrays, valid packings and not, the record
    set to 1 exactly when the host check refuses them, else left as it
    was."""
    from attn_opt.ops import _record_cu_seqlens_errors
    g = torch.Generator().manual_seed(3)
    seen = {True: 0, False: 0}
    for trial in range(400):
        n = int(torch.randint(1, 8, (1,), generator=g))
        if trial % 2:
            cu = torch.randint(-2, 9, (n,), generator=g, dtype=torch.int32)
        else:
            cu = cu_of(torch.randint(0, 5, (n - 1,), generator=g).tolist())
            if trial % 4 == 0:
                cu[int(torch.randint(0, n, (1,), generator=g))] -= 1
        t = int(cu[-1]) + (int(torch.randint(-1, 2, (1,), generator=g)) if trial % 3 == 0 else 0)
        t = max(t, 0)
        valid = True
        try:
            attn_opt.ops._check_cu_seqlens_on_host(cu, t)
        except ValueError:
            valid = False
        for before in (0, 1):
            record = torch.tensor([before], dtype=torch.int32)
            _record_cu_seqlens_errors(cu, t, record)
            assert int(record[0]) == (before if valid else 1), (cu.tolist(), t, before)
        seen[valid] += 1
    assert seen[True] > 50 and seen[False] > 50, seen
    with pytest.raises(ValueError, match="at least one entry"):
        _record_cu_seqlens_errors(torch.zeros(0, dtype=torch.int32), 0,
                                  torch.zeros(1, dtype=torch.int32))


@pytest.mark.parametrize("tokens,cu", [
    ([5, 2, 7, 7, 2, 9], [0, 2, 5, 6]),   # the dialect's example
    ([5, 2, 7, 7, 2], [0, 2, 5]),         # ends with a separator
    ([2, 2], [0, 1, 2]),                  # length-1 documents
    ([7, 7], [0, 2]),                     # one document, no separator
    ([2], [0, 1]),
    ([7], [0, 1]),
    ([], [0]),                            # no tokens
])
def test_segments_from_separators(tokens, cu):
    got = attn_opt.segments_from_separators(torch.tensor(tokens, dtype=torch.int32), 2)
    assert got.dtype == torch.int32 and got.tolist() == cu
    padded = attn_opt.segments_from_separators(torch.tensor(tokens, dtype=torch.int64), 2,
                                               padded=True)
    t = len(tokens)
    assert padded.tolist() == cu + [t] * (t + 1 - len(cu))


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.int16, torch.uint8])
def test_segments_random_against_loop(dtype):
    g = torch.Generator().manual_seed(1)
    tokens = torch.randint(0, 40, (3000,), generator=g).to(dtype)
    got = attn_opt.segments_from_separators(tokens, 3)
    assert got.tolist() == segments_by_loop(tokens.tolist(), 3)
    # Every document's positions, from the segments.
    lengths = (got[1:] - got[:-1]).tolist()
    assert attn_opt.doc_positions(got).tolist() == positions_by_loop(lengths)


def test_padded_segments_feed_doc_attention():
    """Megatron's flow: token ids -> cu_seqlens (padded, no
    synchronization) -> doc_attention, the same output as with the exact
    cu_seqlens."""
    g = torch.Generator().manual_seed(4)
    ids = torch.randint(0, 10, (200,), generator=g)
    q, k, v = (torch.randn(200, h, 32, generator=g) for h in (4, 2, 2))
    exact = attn_opt.segments_from_separators(ids, 0)
    padded = attn_opt.segments_from_separators(ids, 0, padded=True)
    assert padded.numel() == 201 and exact.numel() < 201
    assert torch.equal(attn_opt.doc_attention(q, k, v, padded),
                       attn_opt.doc_attention(q, k, v, exact))


def test_separator_outside_the_token_type_is_refused():
    """As the dialect's verifier refuses it: a separator no token of the
    dtype can equal is a mistake (uint8 255 is not -1)."""
    tokens = torch.tensor([1, 255, 2], dtype=torch.uint8)
    with pytest.raises(ValueError, match=r"separator 50256 cannot occur in torch.uint8 token "
                                         r"ids \(0 to 255\)"):
        attn_opt.segments_from_separators(tokens, 50256)
    with pytest.raises(ValueError, match="separator -1 cannot occur in torch.uint8"):
        attn_opt.segments_from_separators(tokens, -1)
    assert attn_opt.segments_from_separators(tokens, 255).tolist() == [0, 2, 3]


def test_bad_input_is_a_clear_error():
    i32 = torch.int32
    with pytest.raises(ValueError, match="invalid cu_seqlens: .*decrease"):
        attn_opt.doc_positions(torch.tensor([0, 5, 3], dtype=i32))
    with pytest.raises(ValueError, match="invalid cu_seqlens: cu_seqlens must end at the token count 7, got 5"):
        attn_opt.doc_positions(torch.tensor([0, 5], dtype=i32), tokens=7)
    with pytest.raises(ValueError, match="cu_seqlens must be a 1-D int32 tensor"):
        attn_opt.doc_positions(torch.tensor([0, 5], dtype=torch.int64))
    with pytest.raises(ValueError, match="cu_seqlens must be a 1-D int32 tensor"):
        attn_opt.doc_positions(torch.zeros(0, dtype=i32))
    with pytest.raises(ValueError, match=r"invalid cu_seqlens: its last entry \(T\) is -1"):
        attn_opt.doc_positions(torch.tensor([0, -1], dtype=i32))
    with pytest.raises(ValueError, match=r"tokens must be an integer in \[0, 2\*\*31\)"):
        attn_opt.doc_positions(torch.tensor([0, 5], dtype=i32), tokens=-1)
    with pytest.raises(ValueError, match=r"tokens must be an integer in \[0, 2\*\*31\)"):
        attn_opt.doc_positions(torch.tensor([0, 5], dtype=i32), tokens=2**31)
    with pytest.raises(TypeError, match="cu_seqlens must be a torch.Tensor"):
        attn_opt.doc_positions([0, 5])
    with pytest.raises(ValueError, match="tokens must be a 1-D tensor of integer token ids"):
        attn_opt.segments_from_separators(torch.zeros(4), 2)
    with pytest.raises(ValueError, match="tokens must be a 1-D tensor of integer token ids"):
        attn_opt.segments_from_separators(torch.zeros(2, 2, dtype=torch.int64), 2)
    with pytest.raises(ValueError, match="separator must be an int64 token id"):
        attn_opt.segments_from_separators(torch.zeros(4, dtype=torch.int64), 2**63)
    with pytest.raises(TypeError, match="padded must be True or False, got 1"):
        attn_opt.segments_from_separators(torch.zeros(4, dtype=torch.int64), 2, padded=1)
    with pytest.raises(ValueError, match="separator must be an int64 token id"):
        attn_opt.segments_from_separators(torch.zeros(4, dtype=torch.int64), 2.0)


def test_the_ops_check_their_inputs_too():
    """The custom ops are callable directly (torch.ops.attn_opt): the same
    checks, never a buffer read as another type."""
    with pytest.raises(ValueError, match="cu_seqlens must be a 1-D int32 tensor"):
        torch.ops.attn_opt.doc_positions(torch.tensor([0, 5]), 5)
    with pytest.raises(ValueError, match="tokens must be a 1-D tensor of integer token ids"):
        torch.ops.attn_opt.segments_padded(torch.zeros(3), 2)


def test_opcheck():
    torch.library.opcheck(sequence._doc_positions, (cu_of([3, 0, 1, 4]), 8))
    torch.library.opcheck(sequence._segments_padded,
                          (torch.tensor([5, 2, 7, 7, 2, 9]), 2))


def test_compile_fullgraph_no_recompile():
    """With `tokens` given and padded segments, both compile without a graph
    break, and new token ids of the same T do not recompile."""
    counter = torch._dynamo.testing.CompileCounter()

    @torch.compile(fullgraph=True, backend=counter)
    def positions(ids):
        cu = attn_opt.segments_from_separators(ids, 2, padded=True)
        return attn_opt.doc_positions(cu, tokens=ids.shape[0])

    for ids in ([5, 2, 7, 7, 2, 9], [2, 2, 2, 2, 2, 2], [1, 1, 1, 1, 1, 1]):
        lengths = torch.tensor(segments_by_loop(ids, 2)).diff().tolist()
        assert positions(torch.tensor(ids)).tolist() == positions_by_loop(lengths)
    assert counter.frame_count == 1
    # Another T: one recompilation, with T symbolic, and no more after it.
    for ids in ([2, 5, 5, 2, 7, 7, 7, 2, 1], [1, 2, 3], [2] * 20):
        lengths = torch.tensor(segments_by_loop(ids, 2)).diff().tolist()
        assert positions(torch.tensor(ids)).tolist() == positions_by_loop(lengths)
    assert counter.frame_count == 2


# -- on a GPU -----------------------------------------------------------------

@pytest.mark.gpu
def test_cuda_matches_definition():
    g = torch.Generator().manual_seed(2)
    for n in (0, 1, 5, 1023, 1024, 1025, 70000):
        tokens = torch.randint(0, 30, (n,), generator=g)
        expected = segments_by_loop(tokens.tolist(), 3)
        got = attn_opt.segments_from_separators(tokens.cuda(), 3)
        assert got.is_cuda and got.cpu().tolist() == expected, n
        lengths = torch.tensor(expected).diff().tolist()
        assert attn_opt.doc_positions(got, tokens=n).cpu().tolist() == \
            positions_by_loop(lengths), n
    attn_opt.check_errors()


@pytest.mark.gpu
def test_cuda_graph_replay_with_new_tokens():
    ids = torch.full((4096,), 7, dtype=torch.int64, device="cuda")
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):  # compile and load before capture
        attn_opt.doc_positions(attn_opt.segments_from_separators(ids, 2, padded=True), 4096)
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        cu = attn_opt.segments_from_separators(ids, 2, padded=True)
        pos = attn_opt.doc_positions(cu, tokens=4096)
    g = torch.Generator().manual_seed(3)
    for _ in range(3):
        new = torch.randint(0, 20, (4096,), generator=g)
        ids.copy_(new)
        graph.replay()
        torch.cuda.synchronize()
        lengths = torch.tensor(segments_by_loop(new.tolist(), 2)).diff().tolist()
        assert pos.cpu().tolist() == positions_by_loop(lengths)
    attn_opt.check_errors()
