#!/usr/bin/env bash
# Runs a compiled attention kernel's PTX in the emulator and checks it the
# way attn-cuda-run --check does, in three steps: attn-cuda-run writes fresh
# random inputs, attn_emulate.py runs the kernel on them (outputs poisoned
# with NaN), attn-cuda-run compares what it wrote with the float64
# reference and prints the JSON line (exit status 1 if the check fails).
#
#   emulate-and-check.sh KERNEL.ptx DOC_LENGTHS SEED [attn_emulate.py options]
#
# attn-cuda-run must be on PATH (lit puts build/bin there).
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: $0 KERNEL.ptx DOC_LENGTHS SEED [options]" >&2; exit 2; }
command -v attn-cuda-run >/dev/null || {
  echo "$0: attn-cuda-run is not on PATH (it is in the build's bin: PATH=\$PWD/build/bin:\$PATH)" >&2
  exit 2
}
kernel=$1 docs=$2 seed=$3
shift 3
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
here=$(cd "$(dirname "$0")" && pwd)
# --backward (among the options): the image's backward kernel, checked
# against the float64 reference gradients.
backward=()
for a in "$@"; do [ "$a" = --backward ] && backward=(--backward); done
attn-cuda-run --kernel "$kernel" --doc-lengths "$docs" --seed "$seed" "${backward[@]}" --save-inputs "$dir"
"${PYTHON:-python3}" "$here/attn_emulate.py" --kernel "$kernel" --dir "$dir" "$@"
attn-cuda-run --kernel "$kernel" --doc-lengths "$docs" --seed "$seed" "${backward[@]}" --check-outputs "$dir"
