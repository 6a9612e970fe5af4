#!/usr/bin/env bash
# Runs every test: builds if needed, then the lit suite (compiler tests,
# CPU integration tests) and the GoogleTest unit tests (through lit).
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
echo
echo "lit: ${passed:-0} passed, ${failed:-0} failed, $(( ${unsupported:-0} + ${skipped:-0} )) skipped"
exit "$status"
