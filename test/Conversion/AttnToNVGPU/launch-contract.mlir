// RUN: attn-opt %s -attn-gpu-tile-attention='mma=mma-sync' | FileCheck %s
// RUN: attn-opt %s -attn-gpu-tile-attention='mma=wgmma schedule=warp-specialized-pingpong grid=dynamic loads=tma stores=tma' | FileCheck %s --check-prefix=WGMMA

// Each kernel's launch contract lands on the top-level module under
// "gpu.module::gpu.func": what a runtime needs to launch it, from the
// configuration the pass compiled (attn-run writes it out as the kernel's
// JSON manifest). A gpu.module without an #nvvm.target compiles for sm_90a.
// CHECK: module attributes {attn.launch = {
// CHECK-SAME: "attn_kernels::attn" = {arch = "sm_90a", block_k = 64 : i64, block_q = 128 : i64, direction = "forward", dtype = "bf16", grid = "tiles", head_dim = 128 : i64, heads = 16 : i64, kernel = "attn", kv_heads = 16 : i64, loads = "cp.async", mask = "document,causal", mma = "mma-sync", scale = 0.088388347648318433 : f64, schedule = "plain", shared_bytes = 104448 : i64, stores = "st.global", threads = 128 : i64, value_dim = 128 : i64}
// CHECK-SAME: "more::attn_f16" = {arch = "sm_90a", block_k = 64 : i64, block_q = 128 : i64, direction = "forward", dtype = "f16", grid = "tiles", head_dim = 64 : i64, heads = 8 : i64, kernel = "attn_f16", kv_heads = 8 : i64, loads = "cp.async", mask = "document,causal", mma = "mma-sync", scale = 5.000000e-01 : f64, schedule = "plain"
// CHECK-SAME: threads = 128 : i64, value_dim = 64 : i64}

// WGMMA: "attn_kernels::attn" = {arch = "sm_90a", block_k = 128 : i64, block_q = 128 : i64, direction = "forward", dtype = "bf16", grid = "dynamic", {{.*}} loads = "tma", {{.*}} mma = "wgmma", {{.*}} schedule = "warp-specialized-pingpong", shared_bytes = {{[0-9]+}} : i64, store_rows = 64 : i64, stores = "tma", threads = 384 : i64
module attributes {gpu.container_module} {
  gpu.module @attn_kernels [#nvvm.target<chip = "sm_90a">] {
    gpu.func @attn(%q: memref<?x16x128xbf16>, %k: memref<?x16x128xbf16>,
                   %v: memref<?x16x128xbf16>, %cu: memref<?xi32>,
                   %out: memref<?x16x128xbf16>, %lse: memref<16x?xf32>) kernel {
      %qt = bufferization.to_tensor %q restrict : memref<?x16x128xbf16> to tensor<?x16x128xbf16>
      %kt = bufferization.to_tensor %k restrict : memref<?x16x128xbf16> to tensor<?x16x128xbf16>
      %vt = bufferization.to_tensor %v restrict : memref<?x16x128xbf16> to tensor<?x16x128xbf16>
      %ct = bufferization.to_tensor %cu restrict : memref<?xi32> to tensor<?xi32>
      %o, %l = attn.attention %qt, %kt, %vt, %ct {mask = #attn.mask<document, causal>}
          : tensor<?x16x128xbf16>, tensor<?x16x128xbf16>, tensor<?x16x128xbf16>,
            tensor<?xi32> -> tensor<?x16x128xbf16>, tensor<16x?xf32>
      bufferization.materialize_in_destination %o in restrict writable %out
          : (tensor<?x16x128xbf16>, memref<?x16x128xbf16>) -> ()
      bufferization.materialize_in_destination %l in restrict writable %lse
          : (tensor<16x?xf32>, memref<16x?xf32>) -> ()
      gpu.return
    }
  }
  gpu.module @more {
    gpu.func @attn_f16(%q: memref<?x8x64xf16>, %k: memref<?x8x64xf16>,
                   %v: memref<?x8x64xf16>, %cu: memref<?xi32>,
                   %out: memref<?x8x64xf16>, %lse: memref<8x?xf32>) kernel {
      %qt = bufferization.to_tensor %q restrict : memref<?x8x64xf16> to tensor<?x8x64xf16>
      %kt = bufferization.to_tensor %k restrict : memref<?x8x64xf16> to tensor<?x8x64xf16>
      %vt = bufferization.to_tensor %v restrict : memref<?x8x64xf16> to tensor<?x8x64xf16>
      %ct = bufferization.to_tensor %cu restrict : memref<?xi32> to tensor<?xi32>
      %o, %l = attn.attention %qt, %kt, %vt, %ct {mask = #attn.mask<document, causal>, scale = 0.5 : f64}
          : tensor<?x8x64xf16>, tensor<?x8x64xf16>, tensor<?x8x64xf16>,
            tensor<?xi32> -> tensor<?x8x64xf16>, tensor<8x?xf32>
      bufferization.materialize_in_destination %o in restrict writable %out
          : (tensor<?x8x64xf16>, memref<?x8x64xf16>) -> ()
      bufferization.materialize_in_destination %l in restrict writable %lse
          : (tensor<8x?xf32>, memref<8x?xf32>) -> ()
      gpu.return
    }
  }
}
