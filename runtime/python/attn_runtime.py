"""Python binding of the kernel runtime's C API (runtime/include/attn-c/
Runtime.h), through ctypes: load a kernel that `attn-run --target cuda
--emit cubin|ptx -o FILE` compiled, and launch it on device memory the
caller holds (PyTorch, CuPy, ...), the way attn-cuda-run launches it.
No dependency beyond the standard library.

    import attn_runtime
    kernel = attn_runtime.Kernel("k.cubin")          # k.cubin.json beside it
    kernel.launch(cu_host, tokens, cu_ptr, q_ptr, k_ptr, v_ptr, out_ptr,
                  lse_ptr, stream=torch.cuda.current_stream().cuda_stream)

The library: ATTN_RUNTIME_LIB, else libattn-runtime.so in the build tree
(build/lib) or beside this file. Every failure raises attn_runtime.Error
with the runtime's message; a failed launch launched nothing.
"""

import ctypes
import functools
import json
import numbers
import os

_HERE = os.path.dirname(os.path.abspath(__file__))
_CANDIDATES = [
    os.path.join(_HERE, "..", "..", "build", "lib", "libattn-runtime.so"),
    os.path.join(_HERE, "libattn-runtime.so"),
]


class Error(RuntimeError):
    """A failed runtime call; its message says what failed and why."""


@functools.cache
def library(path=None):
    """The loaded C API library (path, else ATTN_RUNTIME_LIB, else the
    first of the usual places that exists)."""
    path = path or os.environ.get("ATTN_RUNTIME_LIB")
    if not path:
        found = [p for p in _CANDIDATES if os.path.exists(p)]
        if not found:
            raise Error("libattn-runtime.so not found (set ATTN_RUNTIME_LIB; "
                        "looked in " + ", ".join(map(os.path.normpath, _CANDIDATES)) + ")")
        path = found[0]
    try:
        lib = ctypes.CDLL(path)
    except OSError as e:
        raise Error(f"cannot load {path}: {e}") from None
    p, i64, c = ctypes.c_void_p, ctypes.c_int64, ctypes.c_char_p
    try:
        lib.attnRtLastError  # (another library: a clear error, not AttributeError)
    except AttributeError:
        raise Error(f"{path} is not the attn runtime library (no attnRtLastError)") from None
    lib.attnRtLastError.restype = c
    lib.attnRtLastError.argtypes = []
    lib.attnRtDriverAvailable.restype = ctypes.c_int
    lib.attnRtDriverAvailable.argtypes = []
    lib.attnRtKernelLoad.restype = p
    lib.attnRtKernelLoad.argtypes = [c, c]
    lib.attnRtKernelDestroy.restype = None
    lib.attnRtKernelDestroy.argtypes = [p]
    lib.attnRtKernelManifest.restype = c
    lib.attnRtKernelManifest.argtypes = [p]
    lib.attnRtKernelLimitResidentBlocks.restype = ctypes.c_int
    lib.attnRtKernelLimitResidentBlocks.argtypes = [p, i64]
    lib.attnRtKernelLaunch.restype = ctypes.c_int
    lib.attnRtKernelLaunch.argtypes = [p, ctypes.POINTER(ctypes.c_int32), i64, i64,
                                       p, p, p, p, p, p, p]
    return lib


def _error(lib):
    return Error(lib.attnRtLastError().decode())


def driver_available():
    """(True, "") if a CUDA driver and device can be used, else (False, why),
    also when the runtime library itself cannot be loaded."""
    try:
        lib = library()
    except Error as e:
        return False, str(e)
    ok = bool(lib.attnRtDriverAvailable())
    return ok, "" if ok else lib.attnRtLastError().decode()


def _int32s(values):
    """The entries of a host cu_seqlens as Python ints, each an integer
    (Python or numpy; not a float or a string) that fits in int32."""
    out = []
    for i, x in enumerate(values):
        if isinstance(x, bool) or not isinstance(x, numbers.Integral):
            raise Error(f"cu_seqlens entries must be integers, entry {i} is {x!r}")
        if not -2**31 <= int(x) < 2**31:
            raise Error(f"cu_seqlens entry {i} ({int(x)}) does not fit in int32")
        out.append(int(x))
    return out


def _int(name, x, lo, hi):
    """x as a Python int in [lo, hi) (ctypes would wrap it silently)."""
    if isinstance(x, bool) or not isinstance(x, numbers.Integral):
        raise Error(f"{name} must be an integer, got {x!r}")
    if not lo <= int(x) < hi:
        raise Error(f"{name} must be in [{lo}, {hi}), got {int(x)}")
    return int(x)


class Kernel:
    """A loaded kernel: `info` is its manifest (a dict)."""

    def __init__(self, image_path, manifest_path=None):
        self._lib = library()
        handle = self._lib.attnRtKernelLoad(
            os.fsencode(image_path), os.fsencode(manifest_path) if manifest_path else None)
        if not handle:
            raise _error(self._lib)
        self._handle = handle
        self.info = json.loads(self._lib.attnRtKernelManifest(handle).decode("utf-8-sig"))

    def _live(self):
        if not getattr(self, "_handle", None):
            raise Error("the kernel was closed")
        return self._handle

    def close(self):
        if getattr(self, "_handle", None):
            self._lib.attnRtKernelDestroy(self._handle)
            self._handle = None

    def __del__(self):
        self.close()

    def limit_resident_blocks(self, blocks):
        """Persistent and dynamic grids: at most `blocks` blocks per launch."""
        blocks = _int("blocks", blocks, 1, 2**63)
        if self._lib.attnRtKernelLimitResidentBlocks(self._live(), blocks):
            raise _error(self._lib)

    def bind(self, cu_host, tokens, cu, q, k, v, out, lse, stream=0):
        """The launch for these arguments as a function of no arguments,
        converted once (for timing loops). cu_host: the host cu_seqlens (a
        sequence of ints); the rest: device addresses (ints) and the stream
        (a CUstream / cudaStream_t as an int, 0 for the default stream)."""
        cu_array = (ctypes.c_int32 * len(cu_host))(*_int32s(cu_host))
        pointers = {"cu": cu, "q": q, "k": k, "v": v, "out": out, "lse": lse,
                    "stream": stream}
        args = [cu_array, len(cu_host), _int("tokens", tokens, 0, 2**63)] + [
            ctypes.c_void_p(_int(name, x, 0, 2**64)) for name, x in pointers.items()]
        lib = self._lib

        def launch():
            # (The kernel, not its handle: the launch keeps it loaded.)
            if lib.attnRtKernelLaunch(launch.kernel._live(), *args):
                raise _error(lib)
        launch.kernel = self
        return launch

    def launch(self, cu_host, tokens, cu, q, k, v, out, lse, stream=0):
        """Checks cu_host and launches (see bind); raises Error, having
        launched nothing, if anything is wrong."""
        self.bind(cu_host, tokens, cu, q, k, v, out, lse, stream)()
