//===- KernelLibrary.h - kernels by configuration, cached -----*- C++ -*-===//
//
// What a framework asks for: the kernel of a configuration. The library
// looks in memory, then in the kernel cache on disk, and compiles only when
// neither has it, through a Compiler the caller provides (the JIT library,
// attn/JIT). Without a compiler (a machine without LLVM/MLIR) it loads what
// the cache holds for the configuration, whatever compiled it, and a
// missing kernel is an error naming the configuration and the command that
// compiles it (attn-opt-aot). No MLIR.
//===----------------------------------------------------------------------===//

#ifndef ATTN_RUNTIME_KERNELLIBRARY_H
#define ATTN_RUNTIME_KERNELLIBRARY_H

#include "attn/Runtime/CpuKernel.h"
#include "attn/Runtime/KernelCache.h"

#include <future>
#include <map>
#include <memory>
#include <mutex>

namespace attn::rt {

/// A compiled binary: a shared object for the CPU, a cubin for NVIDIA
/// (then with its launch contract, a JSON object).
struct CompiledBinary {
  std::string binary, launch;
};

/// What compiles kernels (the JIT library implements it, without
/// exceptions: a refusal is `false` with `error` set to the compiler's
/// message).
class Compiler {
public:
  virtual ~Compiler() = default;
  /// The compiler's version (part of every key).
  virtual std::string version() const = 0;
  /// The cache key of `config`: a hash of the canonical attn IR, the
  /// pipeline options, the target and version(). Cheap next to compile().
  virtual bool key(const KernelConfig &config, std::string &key,
                   std::string &error) = 0;
  virtual bool compile(const KernelConfig &config, CompiledBinary &binary,
                       std::string &error) = 0;
};

/// A kernel ready to run: a CPU kernel opened from its shared object, or
/// an NVIDIA binary with its launch contract (loaded onto a device by the
/// caller, which holds the CUDA context).
struct LoadedKernel {
  KernelConfig config;
  CacheEntry entry;
  std::unique_ptr<CpuKernel> cpu;
};

class KernelLibrary {
public:
  /// `compiler` may be null: then only cached kernels load.
  KernelLibrary(std::string cacheDir, std::shared_ptr<Compiler> compiler);

  /// Where get() found a kernel: in memory (or loaded by another thread's
  /// call it waited for), on disk, or compiled by this call.
  enum class Found { Memory, Disk, Compiled };

  /// The kernel of `config`; throws Error (an invalid configuration, the
  /// compiler's refusal, a kernel missing from the cache without a
  /// compiler, an unwritable cache). Thread-safe: calls for different
  /// configurations load and compile at once; a call for a configuration
  /// another call is loading waits for it (and gets its error).
  std::shared_ptr<const LoadedKernel> get(const KernelConfig &config,
                                          Found *found = nullptr);
  /// The same for code built without exceptions: null with `error` set.
  std::shared_ptr<const LoadedKernel>
  getNoThrow(const KernelConfig &config, std::string &error,
             Found *found = nullptr) noexcept;

  struct Stats {
    /// get() answered from memory (or by waiting for another call), from
    /// disk, by compiling; compilations that replaced a corrupt entry.
    int64_t memoryHits = 0, diskHits = 0, compiled = 0, replacedCorrupt = 0;
  };
  Stats stats() const;
  const KernelCache &cache() const { return diskCache; }
  bool canCompile() const { return compiler != nullptr; }

private:
  KernelCache diskCache;
  std::shared_ptr<Compiler> compiler;
  using Pending = std::shared_future<std::shared_ptr<const LoadedKernel>>;
  mutable std::mutex mutex; // guards loaded, pending, counts
  std::map<std::string, std::shared_ptr<const LoadedKernel>> loaded;
  /// Configurations being loaded or compiled, by their canonical text.
  std::map<std::string, Pending> pending;
  Stats counts;
  std::shared_ptr<const LoadedKernel> load(const KernelConfig &config,
                                           CacheEntry entry) const;
  /// Finds or compiles `config`'s kernel (without the lock).
  std::shared_ptr<const LoadedKernel> findOrCompile(const KernelConfig &config,
                                                    Found &found);
};

} // namespace attn::rt

#endif // ATTN_RUNTIME_KERNELLIBRARY_H
