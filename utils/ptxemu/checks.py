"""The self-tests' reporting (the emulator's test_*.py, and
bench/test_cudnn_peers.py): one line per check, exit status 1 on the first
failure. (The emulator is imported only where an emulation error is
expected.)"""

import sys

# Hand-written test kernels: the entry of one u64 parameter, and the
# lines that set %r1 (the thread), %r2 (its lane) and %p1 (warp 0).
PTX_ENTRY = (".version 8.0\n.target sm_90a\n.address_size 64\n"
             ".visible .entry t(.param .u64 t_param_0)\n{\n")
LANE_AND_WARP0 = ("  mov.u32 %r1, %tid.x;\n  and.b32 %r2, %r1, 31;\n"
                  "  setp.lt.u32 %p1, %r1, 32;\n")


def two_warps(header, warp0, warp1):
    """A kernel of `header` (which sets %p1, LANE_AND_WARP0), then warp 0
    running `warp0` and warp 1 `warp1`."""
    return (header + "  @%p1 bra W0;\n" + warp1 + "  ret;\nW0:\n" + warp0
            + "  ret;\n}\n")


def expect(name, fn):
    """fn() must not fail an assertion."""
    try:
        fn()
    except AssertionError as e:
        print(f"FAIL {name}: {e}")
        sys.exit(1)
    print(f"ok {name}")


def expect_error(name, fn, want):
    """fn() must stop the emulator with an error containing `want`."""
    import ptxemu
    try:
        fn()
    except ptxemu.EmulationError as e:
        if want not in str(e):
            print(f"FAIL {name}: error '{e}', expected '{want}'")
            sys.exit(1)
        print(f"ok {name}: {e}")
        return
    print(f"FAIL {name}: no error")
    sys.exit(1)
