/*===- attn-c/Runtime.h - C API of the kernel runtime ---------------*- C
-*-===*\
|*                                                                            *|
|* Loads a kernel that `attn-run --target cuda --emit cubin|ptx -o FILE`      *|
|* compiled (FILE and its manifest FILE.json) and launches it on a caller's   *|
|* stream, for frameworks and scripts that hold their own device memory      *|
|* (PyTorch, CuPy, ...): the C face of attn::rt::AttentionKernel, so every   *|
|* caller launches through the same code (kernel parameters, grid, tensor    *|
|* maps, tile counters, cu_seqlens checks). No MLIR; plain C types.          *|
|*                                                                            *|
|* Errors: a function that fails returns NULL or a nonzero status, launches  *|
|* nothing, and leaves a message for attnRtLastError() on its thread.        *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#ifndef ATTN_C_RUNTIME_H
#define ATTN_C_RUNTIME_H

#include <stdint.h>

/* Exported from the shared library (built with hidden visibility). */
#if defined(__GNUC__)
#define ATTN_RT_EXPORTED __attribute__((visibility("default")))
#else
#define ATTN_RT_EXPORTED
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* A loaded kernel (opaque). */
typedef struct AttnRtKernel AttnRtKernel;

/* The error of this thread's latest call into this API ("" if it
 * succeeded). Valid until the thread's next call. */
ATTN_RT_EXPORTED const char *attnRtLastError(void);

/* 1 if a CUDA driver and a device can be used, else 0 (the reason then in
 * attnRtLastError()). Never fails otherwise. */
ATTN_RT_EXPORTED int attnRtDriverAvailable(void);

/* Reads the manifest (manifestPath, or imagePath + ".json" when NULL) and
 * the image (cubin or PTX), makes device 0's primary context current on
 * this thread (the one the CUDA runtime, and so PyTorch, uses) and loads
 * the kernel: a forward one (a backward-only manifest is refused). NULL on
 * failure. */
ATTN_RT_EXPORTED AttnRtKernel *attnRtKernelLoad(const char *imagePath,
                                                const char *manifestPath);

/* Frees the kernel (NULL: nothing). */
ATTN_RT_EXPORTED void attnRtKernelDestroy(AttnRtKernel *kernel);

/* The manifest's JSON text, as read (owned by the kernel). */
ATTN_RT_EXPORTED const char *attnRtKernelManifest(const AttnRtKernel *kernel);

/* Persistent and dynamic grids: launch at most `blocks` (>= 1) blocks (a
 * test's way to give each block several work items). 0 on success. */
ATTN_RT_EXPORTED int attnRtKernelLimitResidentBlocks(AttnRtKernel *kernel,
                                                     int64_t blocks);

/* Checks cu_seqlens (the host copy cuHost[0 .. cuCount): starts at 0,
 * never decreases, ends at `tokens`) and launches on `stream` (a CUstream
 * or cudaStream_t; NULL: the default stream), from any thread: device 0's
 * primary context is current for the launch and the caller's after it. Device
 * pointers: cuDevice (the same cu_seqlens, int32), q [tokens, Hq, D], k
 * [tokens, Hkv, D], v [tokens, Hkv, Dv], out [tokens, Hq, Dv] in the kernel's
 * element type and lse [Hq, tokens] float, contiguous (TMA kernels: q, k, v
 * and, for a TMA store, out 16-byte aligned). 0 tokens: nothing to launch. 0 on
 * success; on failure nothing was launched. */
ATTN_RT_EXPORTED int attnRtKernelLaunch(const AttnRtKernel *kernel,
                                        const int32_t *cuHost, int64_t cuCount,
                                        int64_t tokens, void *cuDevice, void *q,
                                        void *k, void *v, void *out, void *lse,
                                        void *stream);

#ifdef __cplusplus
}
#endif

#endif /* ATTN_C_RUNTIME_H */
