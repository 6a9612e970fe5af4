#!/usr/bin/env bash
# Hardware-counter profiles (Nsight Compute) of our forward kernel, each
# flavour, and of PyTorch's FlashAttention varlen on the same two cases:
# 16K tokens as 64 documents of 256 (where we trail the most) and one
# document of 16384 (bf16, H=16, D=128). Run on the device machine (it
# builds attn-cuda-run, RUN, if missing). Full reports go to
# $OUT/ncu-*.txt; a few lines of each are printed.
# VARIANTS names our flavours (bench/flavours) to profile (default
# mma-sync; gpu_session.sh adds the others only when their checks passed).
#   usage: OUT=DIR [KERNELS=.kernels] [RUN=/tmp/attn-cuda-run]
#          [VARIANTS=mma-sync,wgmma,wgmma-overlap,wgmma-ws,wgmma-pp] bench/profile.sh
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
out=${OUT:-/tmp}
K=${KERNELS:-.kernels}
run=${RUN:-/tmp/attn-cuda-run}
VARIANTS=${VARIANTS:-mma-sync}
# ncu: on the PATH, else the CUDA toolkit's or Nsight Compute's own.
NCU=$(command -v ncu || ls /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
[ -n "$NCU" ] || { echo "profile.sh: no ncu found; skipped"; exit 0; }
bash bench/build_cuda_run.sh "$run" || exit 1
# shellcheck source=bench/flavours.sh
source bench/flavours.sh
ncu=("$NCU" --clock-control none --section SpeedOfLight --section Occupancy
     --section LaunchStats --section WarpStateStats
     --section ComputeWorkloadAnalysis --section MemoryWorkloadAnalysis)
# Tensor-pipe activity, asked for on its own: a metric name this ncu does
# not know fails only this line.
pipes=sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active
pipes+=,sm__pipe_tensor_op_gmma_cycles_active.avg.pct_of_peak_sustained_active
short=$(python3 -c "print(','.join(['256'] * 64))")
# case name -> attn-cuda-run documents / gpu_bench.py case index
declare -A docs=([short]="--doc-lengths $short" [long]="--doc-lengths 16384")
declare -A bench_case=([short]=2 [long]=3)
summary() {
  grep -E '^ +(Duration|Compute \(SM\) Throughput|Memory Throughput|DRAM Throughput|L1/TEX Hit Rate|L2 Hit Rate|Registers Per Thread|Dynamic Shared Memory Per Block|Block Limit (Registers|Shared Mem)|Theoretical Occupancy|Achieved Occupancy|Warp Cycles Per Issued Instruction|Issue Slots Busy|Executed Ipc Active|sm__pipe_tensor_op_[hg]mma_cycles_active.avg.pct_of_peak_sustained_active|smsp__cycles_active.avg) ' "$1" |
    tr -s ' ' | sed 's/^ //'
}
for c in short long; do
  for variant in ${VARIANTS//,/ }; do
    s=$(flavour_suffix "$variant")
    f=$K/bf16_h16_d128$s.cubin
    [ -f "$f" ] || continue
    name=$(python3 -c "import json, sys; print(json.load(open(sys.argv[1]))['kernel'])" "$f.json")
    log=$out/ncu-$c${s:-_mma_sync}.txt
    # shellcheck disable=SC2086  # the documents are words
    timeout 120 "${ncu[@]}" -k "regex:^$name\$" -c 1 "$run" --kernel "$f" \
      ${docs[$c]} --repeat 1 > "$log" 2>&1
    echo "== ncu $c ours${s:-_mma_sync} (exit $?)"
    # shellcheck disable=SC2086
    timeout 120 "$NCU" --clock-control none --metrics "$pipes" -k "regex:^$name\$" -c 1 \
      "$run" --kernel "$f" ${docs[$c]} --repeat 1 >> "$log" 2>&1
    summary "$log"
  done
  log=$out/ncu-$c-fa2.txt
  timeout 120 "${ncu[@]}" -k "regex:flash" -c 1 python3 bench/gpu_bench.py \
    --fa2-only --cases "${bench_case[$c]}" > "$log" 2>&1
  echo "== ncu $c fa2 (exit $?)"
  timeout 120 "$NCU" --clock-control none --metrics "$pipes" -k "regex:flash" -c 1 \
    python3 bench/gpu_bench.py --fa2-only --cases "${bench_case[$c]}" >> "$log" 2>&1
  summary "$log"
done
