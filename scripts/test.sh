#!/usr/bin/env bash
# Runs every test: builds if needed, then the lit suite (compiler tests,
# CPU integration tests) and the GoogleTest unit tests (through lit), the
# Python package's tests (pytest), then a short fuzzing run under the
# sanitizers (scripts/fuzz.sh).
# Tests that need a GPU are gated by the lit feature `cuda-gpu`
# (ATTN_TEST_GPU=1 on a machine with one) and reported as unsupported
# otherwise; the runtime's device unit tests skip with the reason.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh || exit 1
log=$(mktemp)
/usr/lib/llvm-22/bin/lit -sv build/test build/test/Unit 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
passed=$(grep -oP '^\s+Passed\s*:\s*\K[0-9]+' "$log" || echo 0)
failed=$(grep -oP '^\s+Failed\s*:\s*\K[0-9]+' "$log" || echo 0)
unsupported=$(grep -oP '^\s+Unsupported\s*:\s*\K[0-9]+' "$log" || echo 0)
skipped=$(grep -oP '^\s+Skipped\s*:\s*\K[0-9]+' "$log" || echo 0)
rm -f "$log"
# The Python package's tests (pytest; the GPU ones are skipped, with the
# reason, without a GPU).
pylog=$(mktemp)
if ls build/python/attn_opt/_C*.so >/dev/null 2>&1; then
  PYTHONPATH=$PWD/build/python python3 -m pytest python/tests -q -rs -p no:cacheprovider \
    2>&1 | tee "$pylog"
  pystatus=${PIPESTATUS[0]}
else
  echo "pytest: build/python/attn_opt was not built (pip install nanobind, then rebuild)" | tee "$pylog"
  pystatus=1
fi
pypassed=$(grep -oP '[0-9]+(?= passed)' "$pylog" | tail -1)
pyfailed=$(grep -oP '[0-9]+(?= failed)' "$pylog" | tail -1)
pyskipped=$(grep -oP '[0-9]+(?= skipped)' "$pylog" | tail -1)
rm -f "$pylog"
# The fuzzers, briefly (FUZZ_SECONDS each, default 20; 0 skips them), in a
# tree of their own built with AddressSanitizer and
# UndefinedBehaviorSanitizer, where the GoogleTest suites run too.
fuzz=0
if [ "${FUZZ_SECONDS:-20}" != 0 ]; then
  bash scripts/fuzz.sh --units "${FUZZ_SECONDS:-20}"
  fuzz=$?
fi
echo
echo "lit: ${passed:-0} passed, ${failed:-0} failed, $(( ${unsupported:-0} + ${skipped:-0} )) skipped"
echo "pytest: ${pypassed:-0} passed, ${pyfailed:-0} failed, ${pyskipped:-0} skipped"
[ "$fuzz" = 0 ] || echo "fuzz: FAILED (scripts/fuzz.sh; build-fuzz/*.log)"
[ "$status" = 0 ] && [ "$pystatus" = 0 ] && [ "$fuzz" = 0 ]
