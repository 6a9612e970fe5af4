#!/usr/bin/env bash
# Installs what attn-opt needs from Debian's packages, skipping what is there:
# LLVM/MLIR 22 (with lit, FileCheck, mlir-tblgen), clang-22 + lld-22 and
# compiler-rt (libFuzzer, sanitizers), CMake, Ninja, GoogleTest, nlohmann's
# JSON (the runtime's manifests); numpy for the PTX emulator's tests
# (utils/ptxemu).
set -euo pipefail
pkgs=(llvm-22-dev llvm-22-tools libmlir-22-dev mlir-22-tools clang-22 lld-22
      libclang-rt-22-dev cmake ninja-build libgtest-dev nlohmann-json3-dev)
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

# The PTX emulator (lit feature `ptxemu`) runs on the python3 on PATH.
if ! python3 -c 'import numpy' 2>/dev/null; then
  echo "installing: numpy (pip)"
  python3 -m pip install --quiet numpy 2>/dev/null ||
    python3 -m pip install --quiet --user numpy 2>/dev/null ||
    python3 -m pip install --quiet --break-system-packages numpy
fi
