#!/usr/bin/env bash
# Builds runtime/tools/attn-cuda-run, and the runtime's C API library
# libattn-runtime.so beside it (what bench/gpu_bench.py launches our
# kernels through), with g++ (no MLIR, no CMake: the GPU machine has
# neither LLVM 22 nor a package registry) into $1 (default
# /tmp/attn-cuda-run, /tmp/libattn-runtime.so), unless both are there and
# newer than their sources. The runtime is compiled once for both.
#   usage: bench/build_cuda_run.sh [OUTPUT]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-/tmp/attn-cuda-run}
lib=$(dirname "$bin")/libattn-runtime.so
# (lib/Host: every file, as lib/Host/CMakeLists.txt builds them.)
host=(lib/Host/*.cpp)
srcs=(runtime/lib/Cuda.cpp runtime/lib/Attention.cpp runtime/lib/Run.cpp
      runtime/lib/Files.cpp "${host[@]}" runtime/lib/CApi.cpp
      runtime/tools/attn-cuda-run.cpp)
# stale OUTPUT: missing, or older than a source or header.
stale() {
  [ ! -e "$1" ] || [ -n "$(find "${srcs[@]}" runtime/include include/attn/Host \
                             include/attn/Mask -newer "$1" -print -quit)" ]
}
stale "$bin" || stale "$lib" || exit 0
# nlohmann's JSON header: Debian's here; on the GPU machine (no packages)
# the copy bench/make_kernels.sh puts beside the kernels.
json=/usr/include
[ -f $json/nlohmann/json.hpp ] || json=${KERNELS:-.kernels}/include
[ -f "$json/nlohmann/json.hpp" ] ||
  { echo "build_cuda_run.sh: no nlohmann/json.hpp (apt install nlohmann-json3-dev, or run bench/make_kernels.sh)" >&2; exit 1; }
# (-isystem /usr/include would break g++'s own #include_next.)
jsonflag=()
[ "$json" = /usr/include ] || jsonflag=(-isystem "$json")
obj=$(mktemp -d)
trap 'rm -rf "$obj"' EXIT
pids=()
for s in "${srcs[@]}"; do
  g++ -c -O2 -std=c++17 -fPIC -fvisibility=hidden -Iruntime/include -Iinclude \
    "${jsonflag[@]}" -I/usr/local/cuda/include "$s" -o "$obj/$(basename "$s" .cpp).o" &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
runtime=("$obj"/{Cuda,Attention,Run,Files}.o)
for h in "${host[@]}"; do runtime+=("$obj/$(basename "$h" .cpp).o"); done
g++ "${runtime[@]}" "$obj/attn-cuda-run.o" -ldl -o "$bin"
g++ -shared "${runtime[@]}" "$obj/CApi.o" -ldl -o "$lib"
