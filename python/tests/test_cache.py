"""The kernel cache across processes: a second process compiles nothing, a
corrupt entry is recompiled, two processes may fill one directory at once,
and a process that cannot compile loads what attn-opt-aot compiled, or
names the command that compiles what is missing."""

import json
import os
import re
import shlex
import subprocess
import sys

import pytest
import torch

import attn_opt

AOT = os.environ.get("ATTN_OPT_AOT") or os.path.join(
    os.path.dirname(attn_opt.__file__), "..", "..", "bin", "attn-opt-aot")

# One process's work: the forward and backward of one configuration,
# checked against the float64 reference; prints the library's statistics.
SCRIPT = """
import json, sys, torch, attn_opt
sys.path.insert(0, {tests!r})
from reference import attention, dense_mask, rel_err
torch.manual_seed(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
cu = torch.tensor([0, 50, 50, 51, 120], dtype=torch.int32)
q, k, v = (torch.randn(120, h, 64, requires_grad=True) for h in (4, 2, 2))
out = attn_opt.doc_attention(q, k, v, cu)
out.sum().backward()
ref = [x.detach().double().requires_grad_() for x in (q, k, v)]
r, _ = attention(*ref, dense_mask(cu, 120))
r.sum().backward()
assert rel_err(out, r) < 1e-5
assert all(rel_err(a.grad, b.grad) < 1e-4 for a, b in zip((q, k, v), ref))
print(json.dumps(attn_opt.cache_stats()))
"""


def run(cache, *args, env=None, check=True):
    e = dict(os.environ, ATTN_OPT_CACHE_DIR=str(cache), **(env or {}))
    code = SCRIPT.format(tests=os.path.dirname(__file__))
    p = subprocess.run([sys.executable, "-c", code, *args], env=e, capture_output=True,
                       text=True, timeout=600)
    if check:
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout.strip().splitlines()[-1])
    return p


def test_second_process_compiles_nothing(tmp_path):
    assert run(tmp_path)["compiled"] == 2  # forward and backward
    stats = run(tmp_path)
    assert stats["compiled"] == 0 and stats["disk_hits"] == 2


def test_corrupt_entry_is_recompiled(tmp_path):
    run(tmp_path)
    damages = [lambda b: b[: len(b) // 2],  # truncated
               lambda b: b[:1000] + bytes([b[1000] ^ 1]) + b[1001:]]  # one bit, same size
    for damage in damages:
        for so in tmp_path.glob("*.so"):
            so.write_bytes(damage(so.read_bytes()))
        stats = run(tmp_path)
        assert stats["compiled"] == 2 and stats["replaced_corrupt"] == 2
        assert run(tmp_path)["compiled"] == 0


def test_manifest_pointing_elsewhere_is_not_loaded(tmp_path):
    run(tmp_path)
    for manifest in tmp_path.glob("*.json"):
        m = json.loads(manifest.read_text())
        m["binary"] = "../" + m["binary"]
        manifest.write_text(json.dumps(m))
    assert run(tmp_path)["replaced_corrupt"] == 2


def test_two_processes_fill_one_directory(tmp_path):
    e = dict(os.environ, ATTN_OPT_CACHE_DIR=str(tmp_path))
    code = SCRIPT.format(tests=os.path.dirname(__file__))
    procs = [subprocess.Popen([sys.executable, "-c", code, str(i)], env=e,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    assert not list(tmp_path.glob("*.tmp.*")), "a temporary file was left behind"
    assert run(tmp_path)["compiled"] == 0


def test_without_compiler_missing_kernel_names_the_command(tmp_path):
    """ATTN_OPT_NO_COMPILE=1 behaves as a build without the compiler: a
    missing kernel is an error naming its configuration and the command
    that compiles it; after that command, the same process works."""
    p = run(tmp_path, env={"ATTN_OPT_NO_COMPILE": "1"}, check=False)
    assert p.returncode != 0
    assert "no compiled kernel for f32, Hq=4 Hkv=2 D=64 Dv=64, mask document,causal" in p.stderr
    commands = re.findall(r"^\s+(attn-opt-aot .*)$", p.stderr, re.M)
    assert commands, p.stderr
    if not os.path.exists(AOT):
        pytest.skip(f"attn-opt-aot not found at {AOT} (set ATTN_OPT_AOT)")
    for direction in ([], ["--backward"]):
        argv = shlex.split(commands[0])
        argv[0] = AOT
        subprocess.run(argv + direction, check=True, capture_output=True, timeout=600)
    stats = run(tmp_path, env={"ATTN_OPT_NO_COMPILE": "1"})
    # (memory_hits: 1 when the backward's call came while the forward's
    # background load of it was still reading the disk, and waited.)
    assert stats["memory_hits"] in (0, 1), stats
    assert {k: v for k, v in stats.items() if k != "memory_hits"} == {
        "disk_hits": 2, "compiled": 0, "replaced_corrupt": 0}
    # A corrupt entry is not loaded, and the error says it is there.
    for binary in tmp_path.glob("*.so"):
        data = bytearray(binary.read_bytes())
        data[len(data) // 2] ^= 0xFF
        binary.write_bytes(bytes(data))
    p = run(tmp_path, env={"ATTN_OPT_NO_COMPILE": "1"}, check=False)
    assert p.returncode != 0
    assert re.search(r"no compiled kernel for f32, .* \(the one there is unusable: "
                     r".*\.json: its binary does not match its checksum", p.stderr), p.stderr


def test_threads_find_the_same_keys(tmp_path):
    """Keys are printed in one context per thread: threads filling one
    directory at once (Library.get releases the GIL), then reading it
    again and again, find every kernel on disk, as one library later
    does."""
    from concurrent.futures import ThreadPoolExecutor

    from attn_opt import _C

    configs = [json.dumps({"target": "cpu", "sequence": "segments_from_separators",
                           "separator": s}) for s in range(4)]
    configs += [json.dumps({"target": "cpu", "sequence": s})
                for s in ("doc_positions", "check_cu_seqlens")]
    def fill(c):
        return _C.Library(str(tmp_path), True).get(c)

    def find_all(_):  # keys only: every kernel is on disk
        stats = [_C.Library(str(tmp_path), True) for _ in range(50)]
        for library in stats:
            for c in configs:
                library.get(c)
        return [library.stats() for library in stats]

    with ThreadPoolExecutor(len(configs)) as pool:
        list(pool.map(fill, configs))
        found = [s for ss in pool.map(find_all, range(4)) for s in ss]
    assert all(s["disk_hits"] == len(configs) and s["compiled"] == 0 for s in found)


def test_training_forward_loads_its_backward_meanwhile(tmp_path, monkeypatch):
    """A forward kernel new to the process, called with inputs that require
    grad, starts its backward's compile on a background thread (the step's
    two compiles overlap); the backward then compiles nothing. An inference
    call starts nothing."""
    from attn_opt import _library
    monkeypatch.setenv("ATTN_OPT_CACHE_DIR", str(tmp_path))
    _library.reset()
    try:
        cu = torch.tensor([0, 30, 30, 31, 90], dtype=torch.int32)
        q, k, v = (torch.randn(90, h, 32) for h in (4, 2, 2))
        attn_opt.doc_attention(q, k, v, cu)
        _library.wait_background()
        assert attn_opt.cache_stats()["compiled"] == 1
        for deterministic in (False, True):
            q, k, v = (torch.randn(90, h, 64, requires_grad=True) for h in (4, 2, 2))
            out = attn_opt.doc_attention(q, k, v, cu, window=7 if deterministic else None,
                                         deterministic=deterministic)
            _library.wait_background()
            compiled = attn_opt.cache_stats()["compiled"]
            out.sum().backward()
            assert attn_opt.cache_stats()["compiled"] == compiled
        assert compiled == 5
    finally:
        monkeypatch.undo()
        _library.reset()


FORK = """
import os, torch, attn_opt
q = torch.randn(50, 2, 32, requires_grad=True)
cu = torch.tensor([0, 20, 50], dtype=torch.int32)
out = attn_opt.doc_attention(q, q, q, cu)  # its backward now compiles in the background
pid = os.fork()
if pid == 0:
    attn_opt.doc_attention(q, q, q, cu).sum().backward()
    os._exit(0)
_, status = os.waitpid(pid, 0)
assert os.waitstatus_to_exitcode(status) == 0, status
out.sum().backward()
print("ok")
"""


def test_forked_child_does_not_wait_for_the_parents_compile(tmp_path):
    """A child forked while the parent's background thread compiles (a
    DataLoader worker, say) starts with a library of its own: the parent's
    load in flight would never finish in the child."""
    e = dict(os.environ, ATTN_OPT_CACHE_DIR=str(tmp_path))
    p = subprocess.run([sys.executable, "-c", FORK], env=e, capture_output=True, text=True,
                       timeout=120)  # (without the fresh start: a hang)
    assert p.returncode == 0 and p.stdout.strip() == "ok", p.stderr


def test_compiles_leave_the_process_alarm_alone(tmp_path):
    """Linking a CPU kernel (ld.lld) neither cancels the process's pending
    SIGALRM nor replaces its handler, even with two links at once."""
    import signal
    from concurrent.futures import ThreadPoolExecutor

    from attn_opt import _C

    def handler(signum, frame):
        raise AssertionError("the alarm went off")

    old = signal.signal(signal.SIGALRM, handler)
    try:
        signal.alarm(1000)
        configs = [json.dumps({"target": "cpu", "sequence": "segments_from_separators",
                               "separator": s}) for s in (11, 12)]
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda c: _C.Library(str(tmp_path), True).get(c), configs))
        assert signal.getsignal(signal.SIGALRM) is handler
        assert signal.alarm(0) > 900, "the pending alarm was cancelled"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def test_cuda_target_is_found_once_per_device(monkeypatch):
    """Each GPU call asks for its device's target twice (the attention and
    the check): the capability is read at a device's first call only, and
    again after reset()."""
    from attn_opt import _library
    asked = []

    def capability(device):
        asked.append(device)
        return (9, 0)

    monkeypatch.delenv("ATTN_OPT_CUDA_ARCH", raising=False)
    monkeypatch.setattr(torch.cuda, "get_device_capability", capability)
    _library.reset()
    try:
        for _ in range(3):
            assert _library.target(torch.device("cuda", 0)) == "sm_90a"
            assert _library.target(torch.device("cuda", 1)) == "sm_90a"
            assert _library.target(torch.device("cpu")) == "cpu"
        assert len(asked) == 2
        _library.reset()
        _library.target(torch.device("cuda", 0))
        assert len(asked) == 3
    finally:
        _library.reset()
