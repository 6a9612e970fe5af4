#!/usr/bin/env bash
# Installs what attn-opt needs from Debian's packages, skipping what is there:
# LLVM/MLIR 22 (with lit, FileCheck, mlir-tblgen), clang-22 + lld-22 and
# compiler-rt (libFuzzer, sanitizers), CMake, Ninja, GoogleTest, nlohmann's
# JSON (the runtime's manifests), xxHash (the kernel cache's hashes); then
# the Python packages below.
set -euo pipefail
pkgs=(llvm-22-dev llvm-22-tools libmlir-22-dev mlir-22-tools clang-22 lld-22
      libclang-rt-22-dev cmake ninja-build libgtest-dev nlohmann-json3-dev
      libxxhash-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi

# Python (the python3 on PATH): numpy for the PTX emulator (lit feature
# `ptxemu`); nanobind to build the attn_opt package; PyTorch and pytest for
# its tests. PyPI's Linux wheel of PyTorch is the CUDA build (about 1 minute
# and 5 GB here) and works without a GPU.
pip_install() {
  echo "installing: $* (pip)"
  python3 -m pip install --quiet "$@" 2>/dev/null ||
    python3 -m pip install --quiet --user "$@" 2>/dev/null ||
    python3 -m pip install --quiet --break-system-packages "$@"
}
for mod in numpy nanobind torch pytest; do
  python3 -c "import $mod" 2>/dev/null || pip_install "$mod"
done
