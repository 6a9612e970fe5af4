#!/usr/bin/env bash
# Regenerates docs/Generated from the TableGen descriptions (add_mlir_doc).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh >/dev/null
cmake --build build --target mlir-doc >/dev/null
mkdir -p docs/Generated
cp build/docs/Dialects/*.md build/docs/AttnPasses.md build/docs/AttnToNVGPUPasses.md docs/Generated/
