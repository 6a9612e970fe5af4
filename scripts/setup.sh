#!/usr/bin/env bash
# Set up and run the main job on the bundled example: install what is
# missing, build, show the example's tile classification, then compile,
# run and check it on the CPU, from the command line and through the
# PyTorch op.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
bash examples/packed-documents.sh
# The same packing through the PyTorch op (import attn_opt: PYTHONPATH=build/python).
PYTHONPATH=$PWD/build/python python3 examples/doc_attention.py
