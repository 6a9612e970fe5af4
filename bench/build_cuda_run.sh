#!/usr/bin/env bash
# Builds runtime/tools/attn-cuda-run, and the runtime's C API library
# libattn-runtime.so beside it (what bench/gpu_bench.py launches our
# kernels through), with g++ (no MLIR, no CMake: the GPU machine has
# neither LLVM 22 nor a package registry) into $1 (default
# /tmp/attn-cuda-run, /tmp/libattn-runtime.so), unless they are there and
# newer than their sources.
#   usage: bench/build_cuda_run.sh [OUTPUT]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-/tmp/attn-cuda-run}
lib=$(dirname "$bin")/libattn-runtime.so
runtime=(runtime/lib/Cuda.cpp runtime/lib/Attention.cpp runtime/lib/Run.cpp
         lib/Host/Host.cpp)
headers=(runtime/include include/attn/Host include/attn/Mask)
flags=(-O2 -std=c++17 -Iruntime/include -Iinclude -I/usr/local/cuda/include)
# fresh OUTPUT SOURCES...: OUTPUT exists and is newer than SOURCES, headers.
fresh() {
  local out=$1
  shift
  [ -e "$out" ] && [ -z "$(find "$@" "${headers[@]}" -newer "$out" -print -quit)" ]
}
fresh "$bin" "${runtime[@]}" runtime/tools/attn-cuda-run.cpp ||
  g++ "${flags[@]}" "${runtime[@]}" runtime/tools/attn-cuda-run.cpp -ldl -o "$bin"
fresh "$lib" "${runtime[@]}" runtime/lib/CApi.cpp ||
  g++ "${flags[@]}" -fPIC -shared -fvisibility=hidden "${runtime[@]}" \
    runtime/lib/CApi.cpp -ldl -o "$lib"
