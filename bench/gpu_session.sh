#!/usr/bin/env bash
# One GPU session, run on the device machine from the repository root with
# the kernels of bench/make_kernels.sh in .kernels/: builds the runtime and
# attn-cuda-run (no MLIR needed), checks the kernels on random data against
# the float64 reference, runs compute-sanitizer (memcheck, racecheck) on a
# small case, then the benchmark against PyTorch. Logs go to $OUT if set.
set -uo pipefail
out=${OUT:-/tmp}
K=${KERNELS:-.kernels}
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv
g++ -O2 -std=c++17 -Iruntime/include -Iinclude -I/usr/local/cuda/include \
  runtime/lib/Cuda.cpp runtime/lib/Attention.cpp runtime/lib/Run.cpp lib/Host/Host.cpp \
  runtime/tools/attn-cuda-run.cpp -ldl -o /tmp/attn-cuda-run || exit 1
run=/tmp/attn-cuda-run
fails=0
check() {
  local r
  r=$("$run" "$@" --check --repeat 3 2>&1)
  echo "$r" | tee -a "$out/checks.log"
  echo "$r" | grep -q '"check": "pass"' || fails=$((fails + 1))
}
check --kernel $K/bf16_h16_d128.cubin --doc-lengths 300,0,1,77,1000,3
check --kernel $K/bf16_h16_d128.cubin --cu-seqlens 0,2048
check --kernel $K/bf16_h16_d128.cubin --tokens 4000 --docs uniform:300 --seed 3
check --kernel $K/bf16_h16_d128.cubin --tokens 3000 --docs uniform:6 --seed 4
check --kernel $K/bf16_h16_d128.cubin --tokens 16384 --docs lognormal:1024 --seed 5
check --kernel $K/bf16_h32_d64.cubin --tokens 4000 --docs lognormal:500 --seed 6
check --kernel $K/bf16_h16kv4_d128.cubin --tokens 3001 --docs uniform:700 --seed 7
check --kernel $K/f16_h8kv1_d64.cubin --tokens 2500 --docs uniform:400 --seed 8
check --kernel $K/bf16_h8_d128_window.cubin --tokens 3000 --docs uniform:1000 --seed 9
check --kernel $K/bf16_h8_d64_doc.cubin --tokens 2000 --docs uniform:500 --seed 10
echo "checks failed: $fails"
# Bad input: a clear error, nothing launched.
"$run" --kernel $K/bf16_h16_d128.cubin --cu-seqlens 0,5,3 ; echo "exit $?"
san=/usr/local/cuda/bin/compute-sanitizer
for tool in memcheck racecheck; do
  $san --tool $tool --error-exitcode 3 "$run" --kernel $K/bf16_h16_d128.cubin \
    --doc-lengths 100,0,1,37,90 --check --repeat 1 > "$out/sanitizer-$tool.log" 2>&1
  echo "compute-sanitizer $tool: exit $? ($(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$out/sanitizer-$tool.log" | head -1))"
done
PYTHONUNBUFFERED=1 python3 bench/gpu_bench.py --kernels $K --out "$out/bench.json" ${BENCH_ARGS:-}
