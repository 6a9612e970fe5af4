// Without the toolkit's libdevice (CUDA_ROOT naming nothing): an error
// saying where it looked; with it, the module goes on unchanged.
// RUN: env CUDA_ROOT=%t.none attn-opt %s -attn-require-cuda-toolkit -verify-diagnostics
// RUN: %if cuda-toolkit %{ attn-opt %s -attn-require-cuda-toolkit | FileCheck %s %}
// No variable naming one: /usr/local/cuda (MLIR's own default is empty in
// Debian's build).
// RUN: %if usr-local-cuda %{ env -u CUDA_ROOT -u CUDA_HOME -u CUDA_PATH attn-opt %s -attn-require-cuda-toolkit | FileCheck %s %}

// CHECK: gpu.module @kernels
// expected-error @below {{no CUDA toolkit at '}}
module attributes {gpu.container_module} {
  gpu.module @kernels {
  }
}
