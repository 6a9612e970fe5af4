"""The self-tests' reporting (the emulator's test_*.py, and
bench/test_cudnn_peers.py): one line per check, exit status 1 on the first
failure. (The emulator is imported only where an emulation error is
expected.)"""

import sys


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
