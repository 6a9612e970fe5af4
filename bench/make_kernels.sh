#!/usr/bin/env bash
# Compiles the benchmark and check kernels for one GPU architecture into
# DIR (default .kernels/): NAME.cubin + NAME.cubin.json, and NAME.ptx for
# inspection; prints ptxas's resource report for each. Every flavour of
# bench/flavours (the wgmma ones on sm_90a only) as NAME[_FLAVOUR], and on
# sm_90a other key-tile sizes of the default (NAME_FLAVOUR_bkN, for
# gpu_bench.py --variants FLAVOUR:bkN or --sweep). Needs no GPU.
#   usage: bench/make_kernels.sh [DIR] [ARCH]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-.kernels}
arch=${2:-sm_90a}
export CUDA_ROOT=${CUDA_ROOT:-/usr/local/cuda}
export PATH=$CUDA_ROOT/bin:$PATH
mkdir -p "$dir"
# The runtime's JSON and hash headers travel with the kernels: the GPU
# machine builds the runtime (bench/build_cuda_run.sh) and the runtime-only
# attn_opt package but has no Debian packages.
mkdir -p "$dir/include"
cp -r /usr/include/nlohmann /usr/include/xxhash.h "$dir/include/"
run=build/bin/attn-run
# The backward kernel beside the chip's default forward (NAME_bwd: dq by
# atomics, the default; NAME_bwd_det: --deterministic, query items; on
# sm_90a wgmma up to D = 128, NAME_bwd_mma its mma.sync form):
# gpu_session.sh's backward step checks and times both (D = 256: four
# column parts, Hq = 12).
for c in "bf16_h16kv4_d128 bf16 16 4 128 document,causal" \
         "f16_h8kv1_d64 f16 8 1 64 document,causal,window=200" \
         "bf16_h12kv4_d256 bf16 12 4 256 document,causal"; do
  read -r name dt h kv d mask <<<"$c"
  common=(--target cuda --arch "$arch" --dtype "$dt" --heads "$h" --kv-heads "$kv"
          --head-dim "$d" --mask "$mask" --doc-lengths 1 --backward)
  for mode in "" --deterministic; do
    n=${name}_bwd${mode:+_det}
    build/bin/attn-run "${common[@]}" $mode --emit cubin -o "$dir/$n.cubin"
    build/bin/attn-run "${common[@]}" $mode --emit ptx -o "$dir/$n.ptx"
    echo "== $n: $(ptxas -arch="$arch" -v "$dir/$n.ptx" -o /dev/null 2>&1 |
      grep -A3 "entry function 'attn_grad'" | grep -oE '[0-9]+ bytes spill stores|Used [0-9]+ registers' | tr '\n' ' ')"
  done
  # On sm_90a the backward is wgmma up to D = 128: its mma.sync form beside
  # it (NAME_bwd_mma), so the GPU says which is faster.
  if [ "$arch" = sm_90a ] && [ "$d" -le 128 ]; then
    n=${name}_bwd_mma
    build/bin/attn-run "${common[@]}" --kernel-options mma=mma-sync --emit cubin -o "$dir/$n.cubin"
  fi
done
# The kernels python/tests/test_gpu.py and bench/gpu_bench_backward.py
# run through attn_opt, in a kernel cache (the GPU machine's attn_opt
# cannot compile): dtype heads kv-heads head-dim. A fresh cache: without a
# compiler the runtime takes a configuration's newest entry, and an older
# compiler's would be there beside it.
rm -rf "$dir/op-cache"
op_configs=$(mktemp)
for c in "bf16 16 4 128" "f16 16 4 128" "bf16 16 16 128" "bf16 32 32 64" \
         "bf16 32 4 128" "bf16 6 2 256"; do
  read -r dt h kv d <<<"$c"
  for direction in forward backward backward-deterministic; do
    det=$([ $direction = backward-deterministic ] && echo true || echo false)
    echo "{\"target\":\"$arch\",\"direction\":\"${direction%-*}\",\"dtype\":\"$dt\",\"heads\":$h,\"kv_heads\":$kv,\"head_dim\":$d,\"value_dim\":$d,\"mask\":\"document,causal\",\"scale\":null,\"deterministic\":$det,\"kernel_options\":\"\"}"
  done
done > "$op_configs"
# The sequence helpers' kernels (python/tests/test_sequence.py's GPU tests,
# bench/gpu_bench_sequence.py) and the op's check of cu_seqlens.
for s in doc_positions check_cu_seqlens; do
  echo "{\"target\":\"$arch\",\"sequence\":\"$s\"}"
done >> "$op_configs"
for sep in 2 3 50256; do
  echo "{\"target\":\"$arch\",\"sequence\":\"segments_from_separators\",\"separator\":$sep}"
done >> "$op_configs"
build/bin/attn-opt-aot --out "$dir/op-cache" --configs "$op_configs"
rm -f "$op_configs"
# name  dtype heads kv-heads head-dim mask
configs=(
  "bf16_h16_d128 bf16 16 16 128 document,causal"
  "bf16_h32_d64 bf16 32 32 64 document,causal"
  "bf16_h16kv4_d128 bf16 16 4 128 document,causal"
  "f16_h8kv1_d64 f16 8 1 64 document,causal"
  "bf16_h8_d128_window bf16 8 8 128 document,causal,window=200"
  "bf16_h8_d64_doc bf16 8 8 64 document"
  "bf16_h32kv4_d128 bf16 32 4 128 document,causal"
  "f16_h32_d64 f16 32 32 64 document,causal"
  "bf16_h12kv4_d128 bf16 12 4 128 document,causal"
  "bf16_h12kv4_d96 bf16 12 4 96 document,causal"
  "bf16_h8_d256 bf16 8 8 256 document,causal"
)
# build NAME MMA BLOCK_K(0: default) CONFIG...
build() {
  local name=$1 mma=$2 bk=$3 dt=$4 h=$5 kv=$6 d=$7 mask=$8
  local common=(--target cuda --arch "$arch" --dtype "$dt" --heads "$h"
                --kv-heads "$kv" --head-dim "$d" --mask "$mask" --doc-lengths 1)
  local options=${FLAVOUR_OPTIONS[$mma]}
  [ "$bk" != 0 ] && options+=" block-k=$bk"
  common+=(--kernel-options "$options")
  local err
  if ! err=$("$run" "${common[@]}" --emit cubin -o "$dir/$name.cubin" 2>&1); then
    # A head dim this flavour's kernels do not take (the compiler says
    # which they do): skipped; any other error stops the script.
    if [[ $err == *"kernels take head dims"* ]]; then
      echo "== $name: skipped (${err%%$'\n'*})"
      return
    fi
    echo "$err" >&2
    return 1
  fi
  "$run" "${common[@]}" --emit ptx -o "$dir/$name.ptx"
  echo "== $name: $(ptxas -arch="$arch" -v "$dir/$name.ptx" -o /dev/null 2>&1 | grep -E 'registers|spill|C7519|Performance Loss' | tr -s ' ' | tr '\n' ' ')"
}
# The flavours (bench/flavours) this arch can build.
# shellcheck source=bench/flavours.sh
source bench/flavours.sh
mmas=()
for f in "${FLAVOURS[@]}"; do
  [[ $arch != sm_90a && ${FLAVOUR_OPTIONS[$f]} == *"mma=wgmma"* ]] || mmas+=("$f")
done
for c in "${configs[@]}"; do
  read -r base dt h kv d mask <<<"$c"
  for mma in "${mmas[@]}"; do
    build "$base$(flavour_suffix "$mma")" "$mma" 0 "$dt" "$h" "$kv" "$d" "$mask"
  done
done
# Key-tile sweep of the sm_90a default (ptxas: 0 spills for each), timed by
# gpu_bench.py --sweep: on the H200 other warp-specialized flavours ran
# faster with 128-key tiles at D = 128 and D = 64 (the default), plain
# wgmma faster with 64 at D = 64 (192 spills with this flavour at D = 64).
if [ "$arch" = sm_90a ]; then
  declare -A config
  for c in "${configs[@]}"; do
    config[${c%% *}]=${c#* }
  done
  for e in "bf16_h16_d128 64" "bf16_h32_d64 64" \
           "bf16_h32kv4_d128 64" "f16_h32_d64 64"; do
    read -r base bk <<<"$e"
    # shellcheck disable=SC2086  # the config is words
    build "$base$(flavour_suffix wgmma-pp-dynamic-tma-store)_bk$bk" \
      wgmma-pp-dynamic-tma-store "$bk" ${config[$base]}
  done
fi
