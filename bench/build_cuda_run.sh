#!/usr/bin/env bash
# Builds runtime/tools/attn-cuda-run with g++ (no MLIR, no CMake: the GPU
# machine has neither LLVM 22 nor a package registry) into $1 (default
# /tmp/attn-cuda-run), unless it is there and newer than its sources.
#   usage: bench/build_cuda_run.sh [OUTPUT]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-/tmp/attn-cuda-run}
srcs=(runtime/lib/Cuda.cpp runtime/lib/Attention.cpp runtime/lib/Run.cpp
      lib/Host/Host.cpp runtime/tools/attn-cuda-run.cpp)
if [ -x "$bin" ] && [ -z "$(find "${srcs[@]}" runtime/include include/attn/Host \
                             include/attn/Mask -newer "$bin" -print -quit)" ]; then
  exit 0
fi
g++ -O2 -std=c++17 -Iruntime/include -Iinclude -I/usr/local/cuda/include \
  "${srcs[@]}" -ldl -o "$bin"
