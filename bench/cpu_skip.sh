#!/usr/bin/env bash
# Skipping must show in time on the CPU: 16384 tokens as 64 documents of 256
# against the same tokens as one document (64x the useful work), for the
# forward and, with --backward, the backward pass too. Prints the JSON of
# both runs and the ratios of their times (bar: >= 10x each).
#   usage: bench/cpu_skip.sh [extra attn-run flags, e.g. --backward]
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
print(f"tiles computed: 64x256 {many['tiles_computed']}/{many['tiles_total']}, "
      f"1x16384 {one['tiles_computed']}/{one['tiles_total']}")
ok = True
for name, key in (("forward", "time_ms"), ("backward", "bwd_time_ms")):
    if key not in many:
        continue
    ratio = one[key] / many[key]
    print(f"{name}: 64x256 {many[key]:.1f} ms, 1x16384 {one[key]:.1f} ms: "
          f"{ratio:.1f}x faster with skipping (useful work differs 64x; bar: >= 10x)")
    ok = ok and ratio >= 10
sys.exit(0 if ok else 1)
PY
