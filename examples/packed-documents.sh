#!/usr/bin/env bash
# The bundled example: a packed sequence of 5 documents (300, 0, 1, 40 and
# 200 tokens: an empty and a length-1 document among them), document+causal
# mask, 64x64 tiles.
set -euo pipefail
cd "$(dirname "$0")/.."
docs=300,0,1,40,200
build/bin/attn-run --doc-lengths $docs --tile-map
build/bin/attn-run --target cpu --dtype bf16 --heads 16 --kv-heads 4 \
  --head-dim 128 --doc-lengths $docs --mask document,causal --check
