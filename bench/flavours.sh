# shellcheck shell=bash
# Sourced by the bench scripts: our kernel flavours (bench/flavours), in
# order.
#   FLAVOURS              their names (the first, mma-sync, is the baseline)
#   FLAVOUR_OPTIONS[NAME] the kernel options that build it (attn-run
#                         --kernel-options)
#   flavour_suffix NAME   its kernel-file suffix (make_kernels.sh's names):
#                         none for the first, else _NAME with '-' as '_'
# (gpu_bench.py reads the same file.)
FLAVOURS=()
declare -A FLAVOUR_OPTIONS
while read -r _name _options; do
  [[ -z $_name || $_name == \#* ]] && continue
  FLAVOURS+=("$_name")
  # shellcheck disable=SC2034  # read by the scripts that source this
  FLAVOUR_OPTIONS[$_name]=$_options
done < "$(dirname "${BASH_SOURCE[0]}")/flavours"
unset _name _options
flavour_suffix() { [ "$1" = "${FLAVOURS[0]}" ] || echo "_${1//-/_}"; }
