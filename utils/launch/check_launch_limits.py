#!/usr/bin/env python3
"""Checks that a compiled kernel can launch on its chip: ptxas -v's report
(stdin) against the kernel's manifest (argument): registers per thread
times the block's threads within the 65536 registers of an SM, and the
dynamic shared memory within the chip's per-block maximum (sm_80/87:
163 KiB, sm_86/89: 99 KiB, sm_90/90a: 227 KiB; AttnToNVGPU.h's
maxSharedBytesPerBlock). Prints one line; exit status 1 if it cannot.

    ptxas -arch=sm_90a -v k.ptx -o k.cubin 2>&1 | check_launch_limits.py k.ptx.json
"""
import json
import re
import sys

MAX_SHARED = {"sm_80": 163, "sm_87": 163, "sm_86": 99, "sm_89": 99,
              "sm_90": 227, "sm_90a": 227}

manifest = json.load(open(sys.argv[1]))
report = sys.stdin.read()
regs = [int(x) for x in re.findall(r"Used (\d+) registers", report)]
if not regs:
    sys.exit(f"FAIL: no register count in ptxas's report:\n{report}")
threads, shared = manifest["threads"], manifest["shared_bytes"]
limit = MAX_SHARED[manifest["arch"]] * 1024
ok = max(regs) * threads <= 65536 and shared <= limit
print(f"{'ok' if ok else 'FAIL'}: {max(regs)} registers x {threads} threads = "
      f"{max(regs) * threads} of 65536; {shared} of {limit} bytes of shared memory")
sys.exit(0 if ok else 1)
