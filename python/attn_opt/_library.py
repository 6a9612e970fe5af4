"""Kernels by configuration: the one attn_opt._C.Library of this process and
a dictionary in front of it, so that a call whose configuration was seen
before costs one dictionary lookup.

Environment:
  ATTN_OPT_CACHE_DIR   the kernel cache (default $XDG_CACHE_HOME/attn-opt
                       or ~/.cache/attn-opt)
  ATTN_OPT_NO_COMPILE  1: never compile, load only what the cache holds
                       (what a build without the compiler does)
  ATTN_OPT_CUDA_ARCH   the NVIDIA chip to compile for (default: the
                       device's, sm_90a on Hopper), read at a device's
                       first call
"""

import json
import os
import threading

from . import _C

HEAD_DIMS = tuple(_C.head_dims)

_lock = threading.Lock()
_library = None
_kernels = {}


def library():
    """The process's kernel library (created on first use)."""
    global _library
    with _lock:
        if _library is None:
            compile_ok = _C.has_compiler and os.environ.get("ATTN_OPT_NO_COMPILE") != "1"
            _library = _C.Library(os.environ.get("ATTN_OPT_CACHE_DIR", ""), compile_ok)
        return _library


def reset():
    """Forgets the library and its kernels (tests: a new cache directory or
    environment takes effect on the next call)."""
    global _library
    wait_background()
    with _lock:
        _library = None
        _kernels.clear()
        _targets.clear()


def cuda_target(device):
    """The chip to compile for on a CUDA device."""
    arch = os.environ.get("ATTN_OPT_CUDA_ARCH")
    if arch:
        return arch
    import torch
    major, minor = torch.cuda.get_device_capability(device)
    # Hopper's wgmma kernels need the architecture-specific target.
    return f"sm_{major}{minor}" + ("a" if major == 9 else "")


_targets = {}  # device -> its target, found at the device's first call


def target(device):
    """What a kernel for tensors on `device` is compiled for (every call
    asks, twice on a GPU: for the attention and for the check)."""
    if device.type == "cpu":
        return "cpu"
    found = _targets.get(device)
    if found is None:
        found = _targets[device] = cuda_target(device)
    return found


def _memoized(key, config, on_miss=None):
    """The kernel of `config` (a function building the configuration's
    JSON object), compiled or loaded at most once per process under `key`;
    on_miss() runs first when this process has not loaded it yet."""
    found = _kernels.get(key)
    if found is None:
        if on_miss is not None:
            on_miss()
        try:
            text = json.dumps(config(), allow_nan=False)
        except ValueError:  # (JSON has no inf or NaN; its one float is the scale)
            raise ValueError(f"kernel configuration: {_C.scale_rule}") from None
        found = library().get(text)
        with _lock:  # (a background load may have stored its own first)
            found = _kernels.setdefault(key, found)
    return found


def kernel(*, dtype, heads, kv_heads, head_dim, value_dim, mask, scale,
           target, backward, deterministic, backward_next=None):
    """The compiled kernel of this attention configuration. backward_next
    (a forward's, not None: the backward's `deterministic`): if this kernel
    is new to the process, its backward starts loading (or compiling) on a
    background thread, so that a training step's two compiles overlap; the
    backward's own call takes it, or waits for it."""
    # (First, so that the two compiles overlap.)
    start_backward = None if backward_next is None else lambda: _in_background(
        kernel, dtype=dtype, heads=heads, kv_heads=kv_heads, head_dim=head_dim,
        value_dim=value_dim, mask=mask, scale=scale, target=target, backward=True,
        deterministic=backward_next)
    return _memoized(
        (dtype, heads, kv_heads, head_dim, value_dim, mask, scale, target, backward,
         deterministic),
        lambda: {"target": target, "direction": "backward" if backward else "forward",
                 "dtype": dtype, "heads": heads, "kv_heads": kv_heads,
                 "head_dim": head_dim, "value_dim": value_dim, "mask": mask,
                 "scale": scale, "deterministic": deterministic, "kernel_options": ""},
        start_backward)


_background = None  # a thread that loads kernels ahead of their first call
_background_work = set()  # its futures not yet done


def _in_background(fn, **kwargs):
    """fn(**kwargs) on the background thread, if the interpreter is not
    shutting down; its errors are dropped (the kernel's own call meets them
    again)."""
    global _background
    from concurrent.futures import ThreadPoolExecutor
    with _lock:
        if _background is None:
            _background = ThreadPoolExecutor(1, thread_name_prefix="attn_opt-kernels")
        try:
            future = _background.submit(fn, **kwargs)
        except RuntimeError:  # (after shutdown began: no new threads)
            return
        _background_work.add(future)
    future.add_done_callback(_done)


def _done(future):
    with _lock:
        _background_work.discard(future)


def _start_afresh_after_fork():
    """A forked child forgets the parent's library: a load in flight there
    (on a thread the child lacks) would never finish here, and its locks
    may be held. That library and its kernels are kept, never used or
    freed (freeing an NVIDIA kernel would call the driver in the child)."""
    global _lock, _library, _background
    _lock = threading.Lock()
    _orphans.append((_library, list(_kernels.values())))
    _library, _background = None, None
    _kernels.clear()
    _background_work.clear()


_orphans = []
os.register_at_fork(after_in_child=_start_afresh_after_fork)


def wait_background():
    """Waits for every kernel load started in the background (tests)."""
    with _lock:
        work = list(_background_work)
    for future in work:
        future.exception()


def sequence_kernel(*, sequence, target, separator=None):
    """The compiled kernel of a sequence helper ("doc_positions",
    "segments_from_separators" with its separator, or "check_cu_seqlens",
    the op's check on a GPU) for `target`."""
    return _memoized(
        ("sequence", sequence, target, separator),
        lambda: {"target": target, "sequence": sequence,
                 **({} if separator is None else {"separator": separator})})


def cache_stats():
    """How this process's kernels were found: memory_hits, disk_hits,
    compiled, replaced_corrupt (for the library below the dictionary)."""
    return dict(library().stats())
