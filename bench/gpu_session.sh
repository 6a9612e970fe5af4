#!/usr/bin/env bash
# One GPU session, run on the device machine from the repository root with
# the kernels of bench/make_kernels.sh in .kernels/: builds attn-cuda-run
# and the runtime's C API library (no MLIR needed), checks every flavour of bench/flavours
# there (mma-sync, and on sm_90a the wgmma ones) on random data against
# the float64 reference, then the STEPS (default bench,sanitize,profile):
# bench: the benchmark against PyTorch of the flavours whose checks pass;
# sanitize: compute-sanitizer (memcheck, racecheck) on a small case of
# each; profile: Nsight Compute (bench/profile.sh). Logs go to $OUT if set.
# Everything takes several minutes; where one call of the device tool (600 s
# at most) may not hold it all, run STEPS=bench in one call and
# STEPS=sanitize,profile in the next (what a call leaves in $OUT comes back
# even when it runs out of time), or name fewer flavours: ONLY=wgmma-pp-tma,...
set -uo pipefail
out=${OUT:-/tmp}
K=${KERNELS:-.kernels}
steps=,${STEPS:-bench,sanitize,profile},
step() { [[ $steps == *",$1,"* ]]; }
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv
run=/tmp/attn-cuda-run
bash bench/build_cuda_run.sh "$run" || exit 1
# check ARGS...: one --check run. Returns 0 (pass), 1 (fail) or 2 (a hang,
# stopped after 60 s).
check() {
  local r rc
  r=$(timeout 60 "$run" "$@" --check --repeat 3 2>&1)
  rc=$?
  echo "$r" | tee -a "$out/checks.log"
  [ $rc = 124 ] && { echo "HANG (timeout): $*" | tee -a "$out/checks.log"; return 2; }
  echo "$r" | grep -q '"check": "pass"'
}
# The checked cases: kernel name, then attn-cuda-run's document flags.
cases=(
  "bf16_h16_d128 --doc-lengths 300,0,1,77,1000,3"
  "bf16_h16_d128 --cu-seqlens 0,2048"
  "bf16_h16_d128 --tokens 4000 --docs uniform:300 --seed 3"
  "bf16_h16_d128 --tokens 3000 --docs uniform:6 --seed 4"
  "bf16_h16_d128 --tokens 16384 --docs lognormal:1024 --seed 5"
  "bf16_h32_d64 --tokens 4000 --docs lognormal:500 --seed 6"
  "bf16_h16kv4_d128 --tokens 3001 --docs uniform:700 --seed 7"
  "f16_h8kv1_d64 --tokens 2500 --docs uniform:400 --seed 8"
  "bf16_h8_d128_window --tokens 3000 --docs uniform:1000 --seed 9"
  "bf16_h8_d64_doc --tokens 2000 --docs uniform:500 --seed 10"
)
# The flavours (bench/flavours), the first (mma-sync) first; ONLY=a,b
# keeps the first and those named (a shorter session).
# shellcheck source=bench/flavours.sh
source bench/flavours.sh
if [ -n "${ONLY:-}" ]; then
  kept=("${FLAVOURS[0]}")
  for f in "${FLAVOURS[@]:1}"; do
    [[ ",$ONLY," == *",$f,"* ]] && kept+=("$f")
  done
  FLAVOURS=("${kept[@]}")
fi
# Checks one flavour (its kernel-file suffix); returns its failures.
check_flavour() {
  local s=$1 fails=0 name flags rc
  for c in "${cases[@]}"; do
    read -r name flags <<<"$c"
    # shellcheck disable=SC2086  # flags are words
    check --kernel "$K/$name$s.cubin" $flags
    rc=$?
    [ $rc = 0 ] || fails=$((fails + 1))
    # A kernel that hangs once is not run again (each hang costs a minute).
    [ $rc = 2 ] && { echo "flavour $s hangs: its other cases skipped"; fails=99; break; }
  done
  echo "checks failed ($s): $fails"
  return $fails
}
hung=" "
check_flavour "" || { [ $? = 99 ] && hung+="${FLAVOURS[0]} "; }
flavours=${FLAVOURS[0]}
# Only a flavour that passed its checks is benchmarked (a faulting kernel
# would poison the benchmark's CUDA context); its other key-tile sizes
# (make_kernels.sh's sweep, found by --sweep) are cross-checked by the
# benchmark only.
for f in "${FLAVOURS[@]:1}"; do
  s=$(flavour_suffix "$f")
  [ -f "$K/bf16_h16_d128$s.cubin" ] || continue
  check_flavour "$s"
  case $? in
    0) flavours+=,$f ;;
    99) hung+="$f " ;;
  esac
done
# Bad input: a clear error, nothing launched.
"$run" --kernel "$K/bf16_h16_d128.cubin" --cu-seqlens 0,5,3 ; echo "exit $?"
if step bench; then
  # shellcheck disable=SC2086  # BENCH_ARGS are words
  ATTN_RUNTIME_LIB=$(dirname "$run")/libattn-runtime.so PYTHONUNBUFFERED=1 \
    python3 bench/gpu_bench.py --kernels "$K" --variants "$flavours" --sweep \
    --out "$out/bench.json" ${BENCH_ARGS:-} | tee "$out/bench.log"
fi
# compute-sanitizer on a small case, each flavour (persistent ones with 5
# blocks, so each takes several of the 32 items).
san=/usr/local/cuda/bin/compute-sanitizer
for f in "${FLAVOURS[@]}"; do
  step sanitize || break
  s=$(flavour_suffix "$f")
  [ -f "$K/bf16_h16_d128$s.cubin" ] || continue
  [[ $hung == *" $f "* ]] && { echo "compute-sanitizer ($f): skipped, the kernel hangs"; continue; }
  for tool in memcheck racecheck; do
    timeout 150 $san --tool $tool --error-exitcode 3 "$run" --kernel "$K/bf16_h16_d128$s.cubin" \
      --doc-lengths 100,0,1,37,90 --resident-blocks 5 --check --repeat 1 > "$out/sanitizer-$tool$s.log" 2>&1
    echo "compute-sanitizer $tool ($s): exit $? ($(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$out/sanitizer-$tool$s.log" | head -1))"
  done
done
# Hardware counters of ours and FA2 where we trail most.
if step profile; then
  OUT=$out KERNELS=$K RUN=$run VARIANTS=$flavours bash bench/profile.sh 2>&1 | tee "$out/profile.log"
fi
# The table last: the reply carries the end of the output.
if step bench; then echo; sed -n '/^case /,$p' "$out/bench.log"; fi
