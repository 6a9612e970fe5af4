#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) with AddressSanitizer and
# UndefinedBehaviorSanitizer in a tree of their own (build-fuzz/, clang-22),
# then runs each over its seed corpus for SECONDS seconds (default 20):
#   attn-ir-fuzzer       attn IR: parse, verify, CPU and NVIDIA pipelines
#                        (seeds: the .mlir tests, split at "// -----")
#   attn-mask-fuzzer     the mask algebra against a brute force
#   attn-runtime-fuzzer  the runtime's manifest and cu_seqlens checks
# New inputs it finds go to build-fuzz/corpus/; a crash stops it with the
# input saved as build-fuzz/crash-*; exit status 1 then. With --units,
# the GoogleTest suites also run in that tree (under the sanitizers).
#   usage: scripts/fuzz.sh [--units] [SECONDS]
set -uo pipefail
cd "$(dirname "$0")/.."
units=0
[ "${1:-}" = --units ] && { units=1; shift; }
seconds=${1:-20}
build=build-fuzz
if [ ! -f $build/build.ninja ]; then
  cmake -G Ninja -S . -B $build -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
    -DLLVM_USE_LINKER=lld -DMLIR_DIR=/usr/lib/llvm-22/lib/cmake/mlir \
    -DLLVM_EXTERNAL_LIT=/usr/lib/llvm-22/bin/lit \
    -DATTN_SANITIZERS=address,undefined -DATTN_BUILD_FUZZERS=ON >/dev/null || exit 1
fi
targets=(attn-ir-fuzzer attn-mask-fuzzer attn-runtime-fuzzer)
[ $units = 1 ] && targets+=(AttnMaskTests AttnHostTests AttnRuntimeTests
                              AttnRuntimeCoreTests)
cmake --build $build --target "${targets[@]}" | grep -v "^\[" || true
[ -x $build/fuzz/attn-ir-fuzzer ] || { echo "fuzz.sh: build failed" >&2; exit 1; }
# MLIR and LLVM are not instrumented: their containers look overflowed.
export ASAN_OPTIONS=detect_container_overflow=0:detect_leaks=0
export UBSAN_OPTIONS=print_stacktrace=1
status=0
if [ $units = 1 ]; then
  for t in unittests/Mask/AttnMaskTests unittests/Host/AttnHostTests \
           unittests/Runtime/AttnRuntimeTests \
           unittests/Runtime/AttnRuntimeCoreTests; do
    $build/$t --gtest_brief=1 >"$build/$(basename $t).log" 2>&1 ||
      { echo "FAIL $t under the sanitizers ($build/$(basename $t).log)"; status=1; }
  done
fi
# Seed corpora: IR from the tests, masks from a few packings, manifests.
ir=$build/corpus/ir
mkdir -p "$ir" $build/corpus/mask $build/corpus/runtime
find test -name '*.mlir' | while read -r f; do
  awk -v out="$ir/$(echo "$f" | tr / _)" '
    /^\/\/ -----/ { n++; next } { print > (out "." n) }' "$f"
done
printf '\x03\x00\x40\x40\x12\x00\x01\x3f\x20' > $build/corpus/mask/doc_causal
printf '\x07\x10\x10\x30\x3f\x3f\x3f\x01\x00' > $build/corpus/mask/window
printf '\x01\x00\x07\x05\x05\x05\x00\x09' > $build/corpus/mask/document
cp fuzz/corpus/manifest/*.json $build/corpus/runtime/
for f in "${targets[@]:0:3}"; do
  corpus=$build/corpus/${f#attn-}
  corpus=${corpus%-fuzzer}
  if ! $build/fuzz/$f -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 \
       -print_final_stats=1 -artifact_prefix=$build/crash-$f- "$corpus" \
       >"$build/$f.log" 2>&1; then
    echo "FAIL $f: $(grep -m1 -E 'ERROR|runtime error|deadly signal' "$build/$f.log")"
    status=1
  else
    echo "ok $f: $(grep -m1 -oE 'stat::number_of_executed_units: *[0-9]+' "$build/$f.log" | grep -oE '[0-9]+$') runs in ${seconds} s"
  fi
done
exit $status
