#!/usr/bin/env bash
# Hardware-counter profiles (Nsight Compute) of our forward kernels and of
# the two strongest peers (FA2 varlen, cuDNN) on three cases of
# bench/gpu_bench.py: 16K tokens as 64 documents of 256, one document of
# 16384 (bf16, H = 16, D = 128) and 48K tokens uniform in 100-3000 with GQA
# 32/4 (where cuDNN led on the H200). Run on the device machine (it builds
# attn-cuda-run, RUN, if missing). Everything goes to $OUT/ncu.txt (one
# file: the device tool brings back at most 8); a summary is printed.
# VARIANTS names our flavours (bench/flavours; default: the sm_90a default).
#   usage: OUT=DIR [KERNELS=.kernels] [RUN=/tmp/attn-cuda-run]
#          [VARIANTS=wgmma-pp-dynamic-tma-store,mma-sync] bench/profile.sh
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
out=${OUT:-/tmp}
K=${KERNELS:-.kernels}
run=${RUN:-/tmp/attn-cuda-run}
VARIANTS=${VARIANTS:-wgmma-pp-dynamic-tma-store}
log=$out/ncu.txt
# ncu: on the PATH, else the CUDA toolkit's or Nsight Compute's own.
NCU=$(command -v ncu || ls /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
[ -n "$NCU" ] || { echo "profile.sh: no ncu found; skipped"; exit 0; }
bash bench/build_cuda_run.sh "$run" || exit 1
# shellcheck source=bench/flavours.sh
source bench/flavours.sh
ncu=("$NCU" --clock-control none --section SpeedOfLight --section Occupancy
     --section LaunchStats --section WarpStateStats
     --section ComputeWorkloadAnalysis --section MemoryWorkloadAnalysis)
# Tensor-pipe activity, asked for on its own (a name this ncu does not
# know reads n/a).
pipes=sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active
pipes+=,sm__pipe_tensor_op_gmma_cycles_active.avg.pct_of_peak_sustained_active
pipes+=,sm__pipe_tensor_cycles_active.avg.pct_of_peak_sustained_active
short=$(python3 -c "print(','.join(['256'] * 64))")
# case -> kernel config, attn-cuda-run documents, gpu_bench.py case index
declare -A config=([short]=bf16_h16_d128 [long]=bf16_h16_d128 [gqa]=bf16_h32kv4_d128)
declare -A docs=([short]="--doc-lengths $short" [long]="--doc-lengths 16384"
                 [gqa]="--tokens 49152 --docs uniform:100-3000 --seed 12")
declare -A bench_case=([short]=2 [long]=3 [gqa]=5)
summary() {
  grep -E '^ +(Duration|Compute \(SM\) Throughput|Memory Throughput|DRAM Throughput|L2 Hit Rate|Registers Per Thread|Dynamic Shared Memory Per Block|Theoretical Occupancy|Achieved Occupancy|Warp Cycles Per Issued Instruction|Issue Slots Busy|sm__pipe_tensor[a-z_]*cycles_active.avg.pct_of_peak_sustained_active) ' |
    tr -s ' ' | sed 's/^ //'
}
# profile NAME KERNEL-REGEX COMMAND...: one kernel launch, sections then
# the pipe metrics, appended to the log; its summary printed.
profile() {
  local name=$1 regex=$2
  shift 2
  {
    echo "==== $name"
    timeout 120 "${ncu[@]}" -k "regex:$regex" -c 1 "$@" 2>&1
    timeout 120 "$NCU" --clock-control none --metrics "$pipes" -k "regex:$regex" -c 1 "$@" 2>&1
  } > "$log.part"
  cat "$log.part" >> "$log"
  echo "== ncu $name"
  summary < "$log.part"
  rm -f "$log.part"
}
for c in short long gqa; do
  for variant in ${VARIANTS//,/ }; do
    f=$K/${config[$c]}$(flavour_suffix "$variant").cubin
    [ -f "$f" ] || continue
    name=$(python3 -c "import json, sys; print(json.load(open(sys.argv[1]))['kernel'])" "$f.json")
    # shellcheck disable=SC2086  # the documents are words
    profile "$c ours $variant" "^$name\$" "$run" --kernel "$f" ${docs[$c]} --repeat 1
  done
  for peer in fa2 cudnn; do
    # (cuDNN's SDPA kernels: cudnn_generated_fort_native_sdpa_* and the like.)
    regex=$([ $peer = fa2 ] && echo flash || echo "sdpa|fmha|attn")
    profile "$c $peer" "$regex" python3 bench/gpu_bench.py --kernels "$K" \
      --peer-only $peer --cases "${bench_case[$c]}"
  done
done
