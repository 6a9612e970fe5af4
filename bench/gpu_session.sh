#!/usr/bin/env bash
# One GPU session, run on the device machine from the repository root with
# the kernels of bench/make_kernels.sh in .kernels/ (and, for cuDNN's
# peer, the nvidia-cudnn-frontend wheel in .whl/): builds attn-cuda-run
# and the runtime's C API library (no MLIR needed), checks every flavour of
# bench/flavours on 7 cases against the float64 reference (a hang is
# stopped after 30 s), then the STEPS (default bench,sanitize):
#   bench     bench/gpu_bench.py: the flavours whose checks pass and their
#             key-tile builds against the peers (bench/peers.py), every
#             case, with the dense bf16 matmul rate of the same run;
#   sanitize  compute-sanitizer memcheck and racecheck on the fastest
#             flavour (gpu_bench.py's pick), or FLAVOUR=name;
#   profile   Nsight Compute (bench/profile.sh);
#   backward  the NVIDIA backward (make_kernels.sh's NAME_bwd images, dq
#             by atomics, NAME_bwd_det, deterministic, and on sm_90a
#             NAME_bwd_mma, the mma.sync form of the wgmma default):
#             attn-cuda-run --backward --check on small cases (gradients
#             against float64; the deterministic one also a bit-identical
#             rerun), then the three timed on 16K tokens (lognormal(1024)
#             documents; one document), and compute-sanitizer memcheck and
#             racecheck on one case of the default (backward.log);
#   op        the PyTorch op: builds the runtime-only attn_opt package
#             (CMake, nanobind: both on the GPU machine) and runs
#             python/tests/test_gpu.py on the kernels make_kernels.sh put
#             in .kernels/op-cache, then bench/gpu_bench_backward.py (the
#             backward, and forward + backward, against FA2's, Flex's and
#             cuDNN's) and bench/gpu_bench_sequence.py (the sequence
#             helpers and the op's cu_seqlens check against PyTorch's
#             operations).
# Writes at most 8 files to $OUT (the device tool brings back no more):
# session.log (timings, summaries), checks.log, bench.log, bench.json,
# sanitizer.log, ncu.txt, backward.log, op.log. Measured on an H200 (2026-12-04, 12 flavours):
# runtime 5 s, checks 417 s (all rows then; 512 sampled rows now, about a
# sixth), benchmark 61 s, sanitizers 8 s; the profile not timed yet.
# ONLY=name,... checks and benchmarks fewer flavours;
# BENCH_ARGS passes gpu_bench.py options (e.g. --cases 0,3).
set -uo pipefail
out=${OUT:-/tmp}
K=${KERNELS:-.kernels}
steps=,${STEPS:-bench,sanitize,backward,op},
step() { [[ $steps == *",$1,"* ]]; }
log=$out/session.log
start=$(date +%s)
lap() { echo "[$(($(date +%s) - start)) s] $*" | tee -a "$log"; }
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv | tee -a "$log"
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
    --target /tmp/site .whl/*.whl 2>&1 | tail -2 | tee -a "$log"
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
run=/tmp/attn-cuda-run
bash bench/build_cuda_run.sh "$run" || exit 1
lap "runtime built"
# check ARGS...: one --check run. Returns 0 (pass), 1 (fail) or 2 (a hang).
check() {
  local r rc
  r=$(timeout 30 "$run" "$@" --check --check-rows 512 --repeat 2 2>&1)
  rc=$?
  echo "$*: $r" >> "$out/checks.log"
  [ $rc = 124 ] && { echo "HANG (timeout): $*" | tee -a "$out/checks.log"; return 2; }
  echo "$r" | grep -q '"check": "pass"'
}
# The checked cases: kernel config, then attn-cuda-run's document flags:
# empty and length-1 documents, GQA with T not a tile multiple, f16 MQA
# with D = 64, a sliding window, a head count that is no power of two,
# head dims 96 and 256 (a flavour that does not take one has no kernel
# for it: that case is skipped).
cases=(
  "bf16_h16_d128 --doc-lengths 300,0,1,77,1000,3"
  "bf16_h16kv4_d128 --tokens 3001 --docs uniform:700 --seed 7"
  "f16_h8kv1_d64 --tokens 2500 --docs uniform:400 --seed 8"
  "bf16_h8_d128_window --tokens 3000 --docs uniform:1000 --seed 9"
  "bf16_h12kv4_d128 --tokens 2000 --docs uniform:500 --seed 10"
  "bf16_h12kv4_d96 --tokens 2000 --docs uniform:500 --seed 11"
  "bf16_h8_d256 --doc-lengths 300,0,1,77,1000,3"
)
# shellcheck source=bench/flavours.sh
source bench/flavours.sh
if [ -n "${ONLY:-}" ]; then
  kept=("${FLAVOURS[0]}")
  for f in "${FLAVOURS[@]:1}"; do
    [[ ",$ONLY," == *",$f,"* ]] && kept+=("$f")
  done
  FLAVOURS=("${kept[@]}")
fi
# Checks one flavour; prints and returns its failures (99: it hangs).
check_flavour() {
  local f=$1 s fails=0 name flags rc
  s=$(flavour_suffix "$f")
  for c in "${cases[@]}"; do
    read -r name flags <<<"$c"
    if [ ! -f "$K/$name$s.cubin" ]; then
      echo "no kernel $name$s (make_kernels.sh skipped it): not checked" >> "$out/checks.log"
      continue
    fi
    # shellcheck disable=SC2086  # flags are words
    check --kernel "$K/$name$s.cubin" $flags
    rc=$?
    [ $rc = 0 ] || fails=$((fails + 1))
    # A kernel that hangs once is not run again.
    [ $rc = 2 ] && { fails=99; break; }
  done
  echo "checks failed ($f): $fails" | tee -a "$log"
  return $fails
}
# Only a flavour that passed its checks is benchmarked (a faulting kernel
# would poison the benchmark's CUDA context).
passed=()
for f in "${FLAVOURS[@]}"; do
  [ -f "$K/bf16_h16_d128$(flavour_suffix "$f").cubin" ] || continue
  check_flavour "$f" && passed+=("$f")
done
lap "checks done; passed: ${passed[*]}"
# Bad input: a clear error, nothing launched.
"$run" --kernel "$K/bf16_h16_d128.cubin" --cu-seqlens 0,5,3 2>&1 | tee -a "$log"
if step bench && [ ${#passed[@]} -gt 0 ]; then
  # shellcheck disable=SC2086  # BENCH_ARGS are words
  ATTN_RUNTIME_LIB=$(dirname "$run")/libattn-runtime.so PYTHONUNBUFFERED=1 \
    timeout 240 python3 bench/gpu_bench.py --kernels "$K" --variants "$(IFS=,; echo "${passed[*]}")" \
    --sweep --out "$out/bench.json" ${BENCH_ARGS:-} > "$out/bench.log" 2>&1
  lap "benchmark done (exit $?)"
fi
fastest=${FLAVOUR:-$(sed -n 's/^fastest flavour: //p' "$out/bench.log" 2>/dev/null)}
if step sanitize && { [ -z "$fastest" ] || [ "$fastest" = None ]; }; then
  lap "sanitizers skipped: the benchmark named no fastest flavour (FLAVOUR=name picks one)"
fi
if step sanitize && [ -n "$fastest" ] && [ "$fastest" != None ]; then
  kernel=$K/bf16_h16_d128$(flavour_suffix "$fastest").cubin
  for tool in memcheck racecheck; do
    # (racecheck: its analysis too, which names the kind of hazard.)
    extra=$([ $tool = racecheck ] && echo --racecheck-report=all)
    # shellcheck disable=SC2086  # extra is a word or none
    timeout 120 "$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)" --tool $tool $extra --error-exitcode 3 \
      "$run" --kernel "$kernel" --doc-lengths 100,0,1,37,90,300 --resident-blocks 5 \
      --check --repeat 1 >> "$out/sanitizer.log" 2>&1
    rc=$?
    lap "compute-sanitizer $tool ($fastest): exit $rc," \
      "$(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$out/sanitizer.log" | tail -1)"
  done
fi
if step profile; then
  OUT=$out KERNELS=$K RUN=$run VARIANTS=${fastest:-mma-sync} bash bench/profile.sh \
    2>&1 | tail -40
  lap "profile done"
fi
if step backward; then
  b=$out/backward.log
  # The checks at once (each one's float64 reference gradients take about
  # 30 s of one core; the GPU machine has 16), logged in this order.
  tmp=$(mktemp -d)
  i=0
  for c in "bf16_h16kv4_d128_bwd --doc-lengths 300,0,1,77,1000,3" \
           "bf16_h16kv4_d128_bwd --tokens 2049 --docs uniform:700 --seed 7" \
           "f16_h8kv1_d64_bwd --tokens 2500 --docs uniform:400 --seed 8" \
           "bf16_h12kv4_d256_bwd --tokens 2000 --docs uniform:500 --seed 9" \
           "bf16_h16kv4_d128_bwd_det --doc-lengths 300,0,1,77,1000,3" \
           "bf16_h16kv4_d128_bwd_mma --doc-lengths 300,0,1,77,1000,3" \
           "bf16_h12kv4_d256_bwd_det --tokens 2000 --docs uniform:500 --seed 9"; do
    read -r name flags <<<"$c"
    # shellcheck disable=SC2086  # flags are words
    (timeout 120 "$run" --kernel "$K/$name.cubin" --backward $flags --check --repeat 3 \
       > "$tmp/$i.log" 2>&1 || echo "FAIL or HANG: $c" >> "$tmp/$i.log") &
    i=$((i + 1))
  done
  wait
  for j in $(seq 0 $((i - 1))); do
    cat "$tmp/$j.log" >> "$b"
    grep -h "^FAIL or HANG" "$tmp/$j.log" | tee -a "$log"
  done
  rm -rf "$tmp"
  lap "backward checks done"
  for flags in "--tokens 16384 --docs lognormal:1024 --seed 1" "--doc-lengths 16384"; do
    for kernel in bf16_h16kv4_d128_bwd bf16_h16kv4_d128_bwd_det bf16_h16kv4_d128_bwd_mma; do
      # shellcheck disable=SC2086  # flags are words
      timeout 120 "$run" --kernel "$K/$kernel.cubin" --backward $flags \
        --repeat 10 >> "$b" 2>&1
    done
  done
  for tool in memcheck racecheck; do
    timeout 120 "$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)" \
      --tool $tool --error-exitcode 3 "$run" --kernel "$K/f16_h8kv1_d64_bwd.cubin" \
      --backward --doc-lengths 100,0,1,37,90 --check --repeat 1 >> "$b" 2>&1
    lap "backward $tool: exit $?, $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$b" | tail -1)"
  done
  grep -o '"tokens": [0-9]*.*"dq": "[a-z-]*"\|"check": "[A-Za-z]*"' "$b" | tee -a "$log"
  lap "backward done"
fi
if step op; then
  py=/tmp/build-py
  # (No nanobind or Python headers: CMake builds no _C, and says so only
  # in its log; that is a failed build here.)
  if timeout 60 cmake -G Ninja -S python -B $py -DCMAKE_BUILD_TYPE=Release \
       -DPython_EXECUTABLE="$(command -v python3)" -DATTN_EXTRA_INCLUDE="$PWD/$K/include" \
       >"$out/op.log" 2>&1 && timeout 240 cmake --build $py >>"$out/op.log" 2>&1 &&
     compgen -G "$py/python/attn_opt/_C*.so" >/dev/null; then
    lap "attn_opt built (runtime only)"
    ATTN_OPT_TEST_CACHE_DIR="$PWD/$K/op-cache" PYTHONPATH=$py/python${PYTHONPATH:+:$PYTHONPATH} \
      timeout 300 python3 -m pytest python/tests/test_gpu.py python/tests/test_sequence.py \
        -m gpu -q -rs -p no:cacheprovider \
      2>&1 | tee -a "$out/op.log" | tail -3 | tee -a "$log"
    lap "op tests"
    # The backward through the op against FA2's, Flex's and cuDNN's (op.log).
    ATTN_OPT_CACHE_DIR="$PWD/$K/op-cache" ATTN_OPT_NO_COMPILE=1 PYTHONUNBUFFERED=1 \
      PYTHONPATH=$py/python${PYTHONPATH:+:$PYTHONPATH} timeout 300 \
      python3 bench/gpu_bench_backward.py >> "$out/op.log" 2>&1
    lap "backward benchmark (exit $?)"
    # The sequence helpers' kernels, and the op's check of cu_seqlens,
    # against PyTorch's operations (op.log).
    ATTN_OPT_CACHE_DIR="$PWD/$K/op-cache" ATTN_OPT_NO_COMPILE=1 \
      PYTHONPATH=$py/python${PYTHONPATH:+:$PYTHONPATH} timeout 60 \
      python3 bench/gpu_bench_sequence.py 2>&1 | tee -a "$out/op.log" | tail -3 | tee -a "$log"
    lap "sequence helpers' benchmark"
    sed -n '/^case | /,$p' "$out/op.log" | tee -a "$log"
  else
    lap "attn_opt build failed ($out/op.log)"
  fi
fi
# The tables last: the device tool's reply carries the end of the output.
[ -f "$out/bench.log" ] && sed -n '/^case /,$p' "$out/bench.log"
