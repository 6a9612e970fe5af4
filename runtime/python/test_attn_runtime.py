#!/usr/bin/env python3
"""Checks the Python binding of the runtime's C API (attn_runtime) where
no kernel can run: a missing library, missing files, a bad manifest and a
bad image (the driver's reason without a GPU, cuModuleLoadData's error
with one) each raise attn_runtime.Error with the runtime's message, and
the driver's availability is reported with its reason. Launching a kernel
needs a GPU: bench/gpu_bench.py does it there.

    ATTN_RUNTIME_LIB=build/lib/libattn-runtime.so test_attn_runtime.py

Prints one line per check; exit status 1 on the first failure.
"""

import ctypes.util
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import attn_runtime  # noqa: E402

MANIFEST = {"kernel": "attn", "arch": "sm_90a", "format": "cubin", "dtype": "bf16",
            "heads": 16, "kv_heads": 4, "head_dim": 128, "value_dim": 128,
            "mask": "document,causal", "scale": 0.0883883, "block_q": 128,
            "block_k": 64, "threads": 128, "shared_bytes": 87040}


def fail(msg):
    print(f"FAIL {msg}")
    sys.exit(1)


def expect_error(name, fn, *wanted):
    """fn() must raise attn_runtime.Error whose message contains one of
    `wanted`."""
    try:
        fn()
    except attn_runtime.Error as e:
        if not any(w in str(e) for w in wanted):
            fail(f"{name}: '{e}', expected one of {wanted}")
        print(f"ok {name}: {e}")
        return
    fail(f"{name}: no error")


def main():
    d = tempfile.mkdtemp()

    def write(name, text):
        path = os.path.join(d, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    # Without the library: a clear error, in a fresh interpreter (the
    # library is loaded once per process).
    r = subprocess.run(
        [sys.executable, "-c", "import attn_runtime; attn_runtime.Kernel('k.cubin')"],
        cwd=os.path.dirname(os.path.abspath(__file__)), capture_output=True, text=True,
        env=dict(os.environ, ATTN_RUNTIME_LIB=os.path.join(d, "no-such-lib.so")))
    if r.returncode == 0 or "attn_runtime.Error: cannot load " not in r.stderr:
        fail(f"a missing library: exit {r.returncode}, {r.stderr.strip()[-300:]}")
    print("ok a missing library names its path")
    r = subprocess.run(
        [sys.executable, "-c", "import attn_runtime; print(attn_runtime.driver_available())"],
        cwd=os.path.dirname(os.path.abspath(__file__)), capture_output=True, text=True,
        env=dict(os.environ, ATTN_RUNTIME_LIB=os.path.join(d, "no-such-lib.so")))
    if r.returncode != 0 or not r.stdout.startswith("(False, 'cannot load "):
        fail(f"driver_available without the library: exit {r.returncode}, "
             f"{(r.stdout + r.stderr).strip()[-300:]}")
    print("ok driver_available without the library says why, raising nothing")
    r = subprocess.run(
        [sys.executable, "-c", "import attn_runtime; print(attn_runtime.driver_available())"],
        cwd=os.path.dirname(os.path.abspath(__file__)), capture_output=True, text=True,
        env=dict(os.environ, ATTN_RUNTIME_LIB=ctypes.util.find_library("m") or "libm.so.6"))
    if r.returncode != 0 or "is not the attn runtime library" not in r.stdout:
        fail(f"driver_available with another library: exit {r.returncode}, "
             f"{(r.stdout + r.stderr).strip()[-300:]}")
    print("ok driver_available with another library says why, raising nothing")

    ok, why = attn_runtime.driver_available()
    if ok == bool(why):
        fail(f"driver_available gave ({ok}, {why!r})")
    print(f"ok driver availability reported ({'a device' if ok else why})")

    missing = os.path.join(d, "missing.cubin")
    expect_error("no manifest", lambda: attn_runtime.Kernel(missing),
                 f"cannot read {missing}.json")
    only = write("only.cubin.json", json.dumps(MANIFEST))
    expect_error("no image", lambda: attn_runtime.Kernel(missing, only),
                 f"cannot read {missing}")
    bad = write("bad.cubin", "not a cubin")
    write("bad.cubin.json", json.dumps({"kernel": "attn"}))
    expect_error("bad manifest", lambda: attn_runtime.Kernel(bad),
                 'kernel manifest lacks "')
    write("bad.cubin.json", json.dumps(dict(MANIFEST, grid="sideways")))
    expect_error("unknown grid", lambda: attn_runtime.Kernel(bad),
                 "kernel manifest: unknown \"grid\" 'sideways'")
    write("bad.cubin.json", json.dumps(MANIFEST))
    if ok:
        expect_error("bad image (GPU)", lambda: attn_runtime.Kernel(bad),
                     "cuModuleLoadData failed")
    else:
        expect_error("bad image (no GPU: the driver's reason)",
                     lambda: attn_runtime.Kernel(bad), why.split(":")[0])


if __name__ == "__main__":
    main()
