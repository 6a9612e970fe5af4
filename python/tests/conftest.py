"""Shared fixtures of attn_opt's tests: a fresh kernel cache per session
(ATTN_OPT_CACHE_DIR, set before attn_opt is imported; or
ATTN_OPT_TEST_CACHE_DIR), a fresh torch.compile (Inductor) cache too,
outputs poisoned
with NaN before every kernel (ATTN_OPT_POISON), and the `gpu` marker:
those tests need a CUDA device and are skipped, with the reason, without
one."""

import atexit
import os
import shutil
import tempfile

import pytest

# ATTN_OPT_TEST_CACHE_DIR: a cache to use instead (the GPU machine's, which
# attn-opt-aot filled: there attn_opt cannot compile).
_CACHE = os.environ.get("ATTN_OPT_TEST_CACHE_DIR") or tempfile.mkdtemp(
    prefix="attn-opt-test-cache-")
os.environ["ATTN_OPT_CACHE_DIR"] = _CACHE
os.environ["ATTN_OPT_POISON"] = "1"
# Inductor's cache does not key on a custom op's fake implementation: an
# earlier run's compiled graphs would outlive a change to one.
os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="attn-opt-test-inductor-")
atexit.register(shutil.rmtree, os.environ["TORCHINDUCTOR_CACHE_DIR"], ignore_errors=True)


def pytest_configure(config):
    config.addinivalue_line("markers", "gpu: needs a CUDA device (skipped without one)")


def pytest_collection_modifyitems(config, items):
    import torch
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU: torch.cuda.is_available() is False")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def cache_dir():
    return _CACHE
