#!/usr/bin/env bash
# Set up and run the main job on the bundled example: install what is
# missing, build, show the example's tile classification, then compile,
# run and check it on the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
bash examples/packed-documents.sh
