// RUN: attn-opt %s -split-input-file -pass-pipeline='builtin.module(gpu.module(llvm.func(attn-nvvm-tensor-map-args)))' -verify-diagnostics | FileCheck %s

// The trailing tensor-map arguments of a kernel become 128-byte by-value
// grid constants; the marker goes.
// CHECK-LABEL: llvm.func @attn
// CHECK-SAME: (%{{[a-z0-9]+}}: !llvm.ptr, %{{[a-z0-9]+}}: i64,
// CHECK-SAME: %{{[a-z0-9]+}}: !llvm.ptr {llvm.align = 64 : i64, llvm.byval = !llvm.array<128 x i8>, nvvm.grid_constant},
// CHECK-SAME: %{{[a-z0-9]+}}: !llvm.ptr {llvm.align = 64 : i64, llvm.byval = !llvm.array<128 x i8>, nvvm.grid_constant})
// CHECK-NOT: attn.tensor_map_args
// CHECK-SAME: nvvm.kernel
// A kernel without the marker keeps its arguments.
// CHECK-LABEL: llvm.func @plain(%{{.*}}: !llvm.ptr)
// CHECK-SAME: attributes {nvvm.kernel}
module attributes {gpu.container_module} {
  gpu.module @m {
    llvm.func @attn(%p: !llvm.ptr, %n: i64, %qm: !llvm.ptr, %km: !llvm.ptr)
        attributes {attn.tensor_map_args = 2 : i64, nvvm.kernel} {
      llvm.return
    }
    llvm.func @plain(%p: !llvm.ptr) attributes {nvvm.kernel} {
      llvm.return
    }
  }
}

// -----

module attributes {gpu.container_module} {
  gpu.module @m {
    // expected-error @+1 {{'llvm.func' op 'attn.tensor_map_args' = 2 needs an NVVM kernel with that many trailing !llvm.ptr arguments}}
    llvm.func @attn(%p: !llvm.ptr, %n: i64)
        attributes {attn.tensor_map_args = 2 : i64, nvvm.kernel} {
      llvm.return
    }
  }
}

// -----

module attributes {gpu.container_module} {
  gpu.module @m {
    // expected-error @+1 {{'llvm.func' op 'attn.tensor_map_args' = 1 needs an NVVM kernel with that many trailing !llvm.ptr arguments}}
    llvm.func @helper(%p: !llvm.ptr) attributes {attn.tensor_map_args = 1 : i64} {
      llvm.return
    }
  }
}

// -----

module attributes {gpu.container_module} {
  gpu.module @m {
    // expected-error @+1 {{'llvm.func' op 'attn.tensor_map_args' must be an integer (how many trailing arguments are tensor maps), got "two"}}
    llvm.func @attn(%p: !llvm.ptr, %q: !llvm.ptr)
        attributes {attn.tensor_map_args = "two", nvvm.kernel} {
      llvm.return
    }
  }
}

// -----

// An argument already passed by value as something else is not a map.
module attributes {gpu.container_module} {
  gpu.module @m {
    // expected-error @+1 {{'llvm.func' op argument 1 is already passed by value as i32, not as a tensor map}}
    llvm.func @attn(%p: !llvm.ptr, %q: !llvm.ptr {llvm.byval = i32})
        attributes {attn.tensor_map_args = 1 : i64, nvvm.kernel} {
      llvm.return
    }
  }
}
