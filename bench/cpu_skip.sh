#!/usr/bin/env bash
# Skipping must show in time on the CPU: 16384 tokens as 64 documents of 256
# against the same tokens as one document (64x the useful work). Prints the
# JSON of both runs and the ratio of their times.
#   usage: bench/cpu_skip.sh [extra attn-run flags]
set -euo pipefail
cd "$(dirname "$0")/.."
run=build/bin/attn-run
common=(--target cpu --dtype f32 --heads 1 --head-dim 64 --repeat 3 --json "$@")
many=$("$run" --tokens 16384 --docs fixed:256 "${common[@]}")
one=$("$run" --cu-seqlens 0,16384 "${common[@]}")
echo "64 x 256: $many"
echo "1 x 16384: $one"
python3 - "$many" "$one" <<'PY'
import json, sys
many, one = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"64x256: {many['time_ms']:.1f} ms, {many['tiles_computed']}/{many['tiles_total']} tiles computed")
print(f"1x16384: {one['time_ms']:.1f} ms, {one['tiles_computed']}/{one['tiles_total']} tiles computed")
ratio = one['time_ms'] / many['time_ms']
print(f"one document / 64 documents: {ratio:.1f}x faster with skipping (useful work differs 64x; bar: >= 10x)")
sys.exit(0 if ratio >= 10 else 1)
PY
