#!/usr/bin/env bash
# Before carrying .kernels/ to a GPU: runs every PTX kernel there in the PTX
# emulator (utils/ptxemu) on a small packing, under both pessimistic timing
# models (copies landing late, ascending warp order; tensor cores reading
# late, descending order), and checks each against the float64 reference
# (attn-cuda-run --check-outputs); persistent kernels get 8 blocks, so each
# takes several items. Prints one line per run and a summary;
# exit status 1 if any run fails. No GPU needed.
#
#   bash bench/emulate_kernels.sh [DIR=.kernels] [DOC_LENGTHS=1,0,150,400]
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
dir=${1:-.kernels}
docs=${2:-1,0,150,400}
[ -x build/bin/attn-cuda-run ] || { echo "build first (bash scripts/build.sh)" >&2; exit 1; }
ls "$dir"/*.ptx >/dev/null 2>&1 || { echo "no PTX in $dir (bash bench/make_kernels.sh)" >&2; exit 1; }
export PATH=$PWD/build/bin:$PATH
one() {
  local kernel=$1 timing=$2 schedule=$3 out
  local t0=$SECONDS
  if out=$(bash utils/ptxemu/emulate-and-check.sh "$kernel" "$docs" 5 \
             --timing "$timing" --schedule "$schedule" --resident-blocks 8 2>&1); then
    echo "pass $(basename "$kernel") $timing/$schedule $((SECONDS - t0))s" \
         "$(grep -oE '"rel_err_out": [^,]*' <<<"$out")"
  else
    echo "FAIL $(basename "$kernel") $timing/$schedule: $(tail -1 <<<"$out" | cut -c1-300)"
  fi
}
export -f one
export docs
results=$(for k in "$dir"/*.ptx; do
            echo "$k copies-late ascending"
            echo "$k mma-late descending"
          done | xargs -P "$(nproc)" -L 1 bash -c 'one "$@"' _ | sort -k2)
echo "$results"
failed=$(grep -c '^FAIL' <<<"$results")
echo "emulated: $(grep -c '^pass' <<<"$results") passed, $failed failed ($docs)"
[ "$failed" -eq 0 ]
