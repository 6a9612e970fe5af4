# -*- Python -*-
import os
import shutil

import lit.formats
from lit.llvm import llvm_config
from lit.llvm.subst import ToolSubst

config.name = "attn"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.attn_obj_root, "test")
# Unit/ is its own suite (GoogleTest binaries).
config.excludes = ["Unit", "CMakeLists.txt", "README.md", "lit.cfg.py",
                   "lit.site.cfg.py"]

config.substitutions.append(("%PATH%", config.environment["PATH"]))
config.substitutions.append(("%mlir_lib_dir", config.mlir_lib_dir))
# MLIR's TableGen files (docs.test runs mlir-tblgen on ours).
config.substitutions.append(
    ("%mlir_include", os.path.join(os.path.dirname(config.mlir_lib_dir), "include")))
config.environment["FILECHECK_OPTS"] = "--enable-var-scope"

llvm_config.with_system_environment(["HOME", "INCLUDE", "LIB", "TMP", "TEMP"])
llvm_config.use_default_substitutions()

# attn's tools first, then LLVM's (FileCheck, not, count, mlir-runner).
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
llvm_config.with_environment("PATH", config.attn_tools_dir, append_path=True)
tool_dirs = [config.attn_tools_dir, config.llvm_tools_dir]
tools = ["attn-opt", "attn-run", "attn-opt-aot", "attn-cuda-run", "mlir-runner"]
llvm_config.add_tool_substitutions(tools, tool_dirs)

# Features.
if config.ptxas_executable and os.path.exists(config.ptxas_executable):
    config.available_features.add("ptxas")
    config.substitutions.append(("%ptxas", config.ptxas_executable))
    # gpu-module-to-binary (cubin) finds ptxas through CUDA_ROOT.
    config.environment["CUDA_ROOT"] = os.path.dirname(
        os.path.dirname(config.ptxas_executable))
# cuda-toolkit: the CUDA toolkit's libdevice, which PTX and cubin link
# (found where MLIR's NVVM::getCUDAToolkitPath() looks: CUDA_ROOT, as set
# above, CUDA_HOME, CUDA_PATH, else the default /usr/local/cuda).
_toolkit = (config.environment.get("CUDA_ROOT") or os.environ.get("CUDA_ROOT")
            or os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH")
            or "/usr/local/cuda")
if os.path.exists(os.path.join(_toolkit, "nvvm", "libdevice", "libdevice.10.bc")):
    config.available_features.add("cuda-toolkit")
# script (util-linux): a command run on a pseudo-terminal.
if shutil.which("script"):
    config.available_features.add("script")
# usr-local-cuda: a toolkit where the tools look when no variable names one.
if os.path.exists("/usr/local/cuda/nvvm/libdevice/libdevice.10.bc"):
    config.available_features.add("usr-local-cuda")
# cuda-gpu: the GPU tests run (ATTN_TEST_GPU=1 on a machine with a GPU);
# nvidia-smi: a GPU may be there, so tests of the no-GPU errors do not run.
if shutil.which("nvidia-smi"):
    config.available_features.add("nvidia-smi")
    if os.environ.get("ATTN_TEST_GPU") == "1":
        config.available_features.add("cuda-gpu")

# The runtime's GoogleTest binary and the recording stand-in for the CUDA
# driver (both built when GoogleTest and cuda.h are found).
_runtime_tests = os.path.join(config.attn_obj_root, "unittests", "Runtime",
                              "AttnRuntimeTests")
_fake_cuda = os.path.join(config.attn_obj_root, "unittests", "Runtime",
                          "fake-cuda")
if os.path.exists(_runtime_tests) and os.path.isdir(_fake_cuda):
    config.available_features.add("fake-cuda")
    config.substitutions.append(("%attn-runtime-tests", _runtime_tests))

# Python: the runtime's binding (runtime/python) needs only python3, with
# the C API library the build makes; the PTX emulator (utils/ptxemu), which
# runs the GPU kernels on the CPU, and the benchmark's tests need numpy
# (scripts/install-deps.sh installs it).
_python = shutil.which("python3")
if _python:
    import subprocess
    config.available_features.add("python3")
    config.substitutions.append(("%attn-python", _python))
    config.substitutions.append(
        ("%attn-runtime-lib",
         os.path.join(config.attn_obj_root, "lib", "libattn-runtime.so")))
    # The recording stand-in for libcuda.so.1 (test/Runtime/fake-driver.test).
    config.substitutions.append(
        ("%attn-fake-cuda",
         os.path.join(config.attn_obj_root, "unittests", "Runtime", "fake-cuda")))
    # The same as a driver before CUDA 12.4 (no cuFuncGetParamInfo).
    config.substitutions.append(
        ("%attn-fake-old-cuda",
         os.path.join(config.attn_obj_root, "unittests", "Runtime",
                      "fake-cuda-before-12.4")))
    if subprocess.run([_python, "-c", "import numpy"],
                      capture_output=True).returncode == 0:
        config.available_features.add("numpy")
        config.available_features.add("ptxemu")
        _emu = os.path.join(os.path.dirname(config.test_source_root), "utils",
                            "ptxemu")
        config.substitutions.append(
            ("%emulate-check", f"env PYTHON={_python} bash "
             f"{os.path.join(_emu, 'emulate-and-check.sh')}"))
        config.substitutions.append(("%ptxemu-python", _python))
        config.substitutions.append(
            ("%sequence-emulate",
             f"{_python} {os.path.join(_emu, 'sequence_emulate.py')}"))
    # PyTorch (scripts/install-deps.sh installs it): the cuDNN peers' test.
    if subprocess.run([_python, "-c", "import torch"],
                      capture_output=True).returncode == 0:
        config.available_features.add("torch")
        config.substitutions.append(
            ("%attn-emulate",
             f"{_python} {os.path.join(_emu, 'attn_emulate.py')}"))
        # The attn_opt package the build makes (nanobind found).
        _package = os.path.join(config.attn_obj_root, "python")
        if os.path.isdir(os.path.join(_package, "attn_opt")):
            config.available_features.add("attn_opt")
            config.substitutions.append(("%attn-opt-pythonpath", _package))
