// The NVIDIA pipeline down to PTX (no GPU and no ptxas needed for isa;
// the toolkit's libdevice is).
// REQUIRES: cuda-toolkit
// RUN: attn-opt %s --attn-nvidia-pipeline="chip=sm_90a format=isa kernel={mma=mma-sync}" | FileCheck %s
// RUN: attn-opt %s --attn-nvidia-pipeline="chip=sm_90a format=isa" | FileCheck %s --check-prefix=AUTO
// RUN: attn-opt %s --attn-nvidia-pipeline="chip=sm_80 format=isa" | FileCheck %s --check-prefix=SM80
// RUN: attn-opt %s --attn-nvidia-pipeline="format=offloading kernel={mma=mma-sync}" | FileCheck %s --check-prefix=NVVM --implicit-check-not='{{[ "]attn\.}}'
// RUN: attn-opt %s --attn-nvidia-pipeline="chip=sm_90a format=isa kernel={mma=wgmma schedule=softmax-overlap}" | FileCheck %s --check-prefix=OVERLAP
// RUN: attn-opt %s --attn-nvidia-pipeline="chip=sm_90a format=isa kernel={mma=wgmma schedule=warp-specialized loads=tma}" | FileCheck %s --check-prefix=TMA
// RUN: attn-opt %s --attn-nvidia-pipeline="chip=sm_90a format=isa kernel={mma=wgmma schedule=warp-specialized grid=dynamic loads=tma}" | FileCheck %s --check-prefix=DYNAMIC
// RUN: attn-opt %s --attn-nvidia-pipeline="chip=sm_90a format=isa kernel={mma=wgmma schedule=warp-specialized loads=tma stores=tma}" | FileCheck %s --check-prefix=TMASTORE

// CHECK: gpu.binary @attn_kernels
// CHECK-SAME: chip = "sm_90a"
// CHECK-SAME: .target sm_90a
// CHECK-SAME: .entry attn(
// CHECK-SAME: .maxntid 128, 1, 1
// CHECK-SAME: cp.async.cg.shared.global
// CHECK-SAME: ldmatrix.sync.aligned.m8n8.x4.shared.b16
// CHECK-SAME: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
// CHECK-SAME: shfl.sync.bfly.b32
// CHECK-SAME: ex2.approx.ftz.f32
// CHECK-SAME: ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16
// CHECK-SAME: cvt.rn.bf16x2.f32
// SM80: .target sm_80
// SM80-SAME: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32

// The sm_90a default (mma=auto): wgmma with every schedule option, here
// the dynamic schedule's claim and the TMA store of O.
// AUTO: .target sm_90a
// AUTO-SAME: .maxntid 384, 1, 1
// AUTO-SAME: atom.global.add.u32
// AUTO-SAME: wgmma.mma_async.sync.aligned
// AUTO-SAME: cp.async.bulk.tensor.3d.global.shared::cta

// The wgmma flavour's pipelined loop: S_j and P_{j-1} V_{j-1} in flight
// together, then S_j waited for alone.
// TMA loads: the three tensor maps are 128-byte by-value parameters whose
// own (param-space, made generic) addresses the loads take.
// TMA: .entry attn(
// TMA-SAME: .param .align 64 .b8 attn_param_[[QM:[0-9]+]][128],
// TMA-SAME: .param .align 64 .b8 attn_param_{{[0-9]+}}[128],
// TMA-SAME: .param .align 64 .b8 attn_param_{{[0-9]+}}[128]
// TMA-SAME: .maxntid 384, 1, 1
// TMA-SAME: mov.b64 \09%rd[[P:[0-9]+]], attn_param_[[QM]];
// TMA-SAME: cvta.param.u64 \09%rd[[G:[0-9]+]], %rd[[P]];
// TMA-SAME: fence.mbarrier_init.release.cluster;
// TMA-SAME: mbarrier.arrive.expect_tx.shared::cta.b64 _, [%r{{[0-9]+}}], 32768;
// TMA-SAME: cp.async.bulk.tensor.3d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%r{{[0-9]+}}], [%rd[[G]], {%r{{[0-9]+}}, %r{{[0-9]+}}, %r{{[0-9]+}}}], [%r{{[0-9]+}}];

// A dynamic schedule: the tile counter is a global pointer parameter before
// the tensor maps, which the claims and the reset use.
// DYNAMIC: .entry attn(
// DYNAMIC-SAME: .param .u64 .ptr .global .align 1 attn_param_[[C:[0-9]+]],
// DYNAMIC-SAME: .param .align 64 .b8 attn_param_{{[0-9]+}}[128],
// DYNAMIC-SAME: ld.param.{{[bu]}}64 \09%rd[[CP:[0-9]+]], [attn_param_[[C]]];
// DYNAMIC-SAME: atom.global.add.u32 %r{{[0-9]+}}, [%rd[[CP]]], 1; // claim
// DYNAMIC-SAME: st.global.u32 [%rd[[CP]]], %r{{[0-9]+}}; // counter reset
// DYNAMIC-SAME: st.shared.b32 [%r{{[0-9]+}}], %r{{[0-9]+}};
// DYNAMIC-SAME: mbarrier.arrive.shared::cta.b64 _, [%r{{[0-9]+}}]; // item claimed
// DYNAMIC-SAME: ld.shared.u32 %r{{[0-9]+}}, [%r{{[0-9]+}}];

// A TMA store of O: a fourth by-value tensor map, whose parameter address
// the stores take.
// TMASTORE: .entry attn(
// TMASTORE-SAME: .param .align 64 .b8 attn_param_{{[0-9]+}}[128],
// TMASTORE-SAME: .param .align 64 .b8 attn_param_{{[0-9]+}}[128],
// TMASTORE-SAME: .param .align 64 .b8 attn_param_{{[0-9]+}}[128],
// TMASTORE-SAME: .param .align 64 .b8 attn_param_[[OM:[0-9]+]][128]
// TMASTORE-SAME: mov.b64 \09%rd[[P:[0-9]+]], attn_param_[[OM]];
// TMASTORE-SAME: cvta.param.u64 \09%rd[[G:[0-9]+]], %rd[[P]];
// TMASTORE-SAME: st.shared.b32 [%r{{[0-9]+}}], %r{{[0-9]+}};
// TMASTORE-SAME: fence.proxy.async.shared::cta;
// TMASTORE-SAME: cp.async.bulk.tensor.3d.global.shared::cta.bulk_group [%rd[[G]], {%r{{[0-9]+}}, %r{{[0-9]+}}, %r{{[0-9]+}}}], [%r{{[0-9]+}}];
// TMASTORE-SAME: cp.async.bulk.commit_group;
// TMASTORE-SAME: cp.async.bulk.wait_group 0;

// OVERLAP: .entry attn(
// OVERLAP-SAME: .maxntid 256, 1, 1
// OVERLAP-SAME: wgmma.commit_group.sync.aligned
// OVERLAP-SAME: wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16
// OVERLAP-SAME: wgmma.commit_group.sync.aligned
// OVERLAP-SAME: wgmma.wait_group.sync.aligned \091;

// Stopping before the binary leaves the kernel in the NVVM/LLVM dialects.
// NVVM: gpu.module @attn_kernels
// NVVM: llvm.func @attn(
// NVVM-SAME: gpu.kernel
// NVVM: nvvm.mma.sync
// (no attn op anywhere: the implicit check)
module attributes {gpu.container_module} {
  gpu.module @attn_kernels {
    gpu.func @attn(%q: memref<?x4x128xbf16>, %k: memref<?x4x128xbf16>,
                   %v: memref<?x4x128xbf16>, %cu: memref<?xi32>,
                   %out: memref<?x4x128xbf16>, %lse: memref<4x?xf32>) kernel {
      %qt = bufferization.to_tensor %q restrict : memref<?x4x128xbf16> to tensor<?x4x128xbf16>
      %kt = bufferization.to_tensor %k restrict : memref<?x4x128xbf16> to tensor<?x4x128xbf16>
      %vt = bufferization.to_tensor %v restrict : memref<?x4x128xbf16> to tensor<?x4x128xbf16>
      %ct = bufferization.to_tensor %cu restrict : memref<?xi32> to tensor<?xi32>
      %o, %l = attn.attention %qt, %kt, %vt, %ct {mask = #attn.mask<document, causal>}
          : tensor<?x4x128xbf16>, tensor<?x4x128xbf16>, tensor<?x4x128xbf16>,
            tensor<?xi32> -> tensor<?x4x128xbf16>, tensor<4x?xf32>
      bufferization.materialize_in_destination %o in restrict writable %out
          : (tensor<?x4x128xbf16>, memref<?x4x128xbf16>) -> ()
      bufferization.materialize_in_destination %l in restrict writable %lse
          : (tensor<4x?xf32>, memref<4x?xf32>) -> ()
      gpu.return
    }
  }
}

// Bad pipeline options are errors before anything runs (an unknown format
// used to print an error and exit 0 with a half-lowered module).
// RUN: not attn-opt %s --attn-nvidia-pipeline="format=bogus" 2>&1 | FileCheck %s --check-prefix=FORMAT
// FORMAT: error: attn-nvidia-pipeline: unknown format 'bogus' (expected isa, bin, fatbin or offloading)
// RUN: not attn-opt %s --attn-nvidia-pipeline="chip=sm_75 format=isa" 2>&1 | FileCheck %s --check-prefix=CHIP
// CHIP: error: attn-nvidia-pipeline: unsupported chip 'sm_75' (the NVIDIA kernels support sm_80, sm_86, sm_87, sm_89, sm_90 and sm_90a)
// An empty chip is no chip (MLIR's target would crash verifying it).
// RUN: not attn-opt %s --attn-nvidia-pipeline="chip= format=isa" 2>&1 | FileCheck %s --check-prefix=NOCHIP
// NOCHIP: error: attn-nvidia-pipeline: unsupported chip '' (the NVIDIA kernels support
// PTX and cubin link the toolkit's libdevice: without one, an error, not
// PTX calling undefined functions (MLIR's serializer reports the missing
// toolkit but goes on); the NVVM module needs none.
// RUN: env CUDA_ROOT=%t.none not attn-opt %s --attn-nvidia-pipeline="format=isa" 2>&1 | FileCheck %s --check-prefix=TOOLKIT
// TOOLKIT: error: no CUDA toolkit at '{{.*}}.none' (no {{.*}}.none/nvvm/libdevice/libdevice.10.bc); set CUDA_ROOT to one (the NVIDIA kernels link its libdevice)
// RUN: env CUDA_ROOT=%t.none attn-opt %s --attn-nvidia-pipeline="format=offloading" | FileCheck %s --check-prefix=NOKIT
// NOKIT: gpu.module @attn_kernels
// RUN: not attn-opt %s --attn-nvidia-pipeline="kernel={mma=tcgen05}" 2>&1 | FileCheck %s --check-prefix=MMA
// MMA: error: attn-nvidia-pipeline: kernel: attn-gpu-tile-attention: unknown mma 'tcgen05' (expected auto, mma-sync or wgmma)
// RUN: not attn-opt %s --attn-cpu-pipeline="block-q=0" 2>&1 | FileCheck %s --check-prefix=CPU
// CPU: error: attn-cpu-pipeline: block-q and block-k must be 1 to 65536
// RUN: not attn-opt %s --attn-cpu-pipeline="block-q=9223372036854775807" 2>&1 | FileCheck %s --check-prefix=CPU
