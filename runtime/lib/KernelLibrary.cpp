//===- KernelLibrary.cpp - kernels by configuration, cached ---------------===//

#include "attn/Runtime/KernelLibrary.h"

namespace attn::rt {

KernelLibrary::KernelLibrary(std::string cacheDir,
                             std::shared_ptr<Compiler> compiler)
    : diskCache(std::move(cacheDir)), compiler(std::move(compiler)) {}

std::shared_ptr<const LoadedKernel>
KernelLibrary::load(const KernelConfig &config, CacheEntry entry) const {
  auto kernel = std::make_shared<LoadedKernel>();
  kernel->config = config;
  if (config.cpu())
    kernel->cpu = std::make_unique<CpuKernel>(entry.binaryPath, config);
  kernel->entry = std::move(entry);
  return kernel;
}

std::shared_ptr<const LoadedKernel>
KernelLibrary::get(const KernelConfig &config) {
  std::string canonical = config.canonical();
  std::lock_guard<std::mutex> lock(mutex);
  if (auto it = loaded.find(canonical); it != loaded.end()) {
    ++counts.memoryHits;
    return it->second;
  }
  if (auto why = config.validate())
    throw Error("cannot compile a kernel for " + config.describe() + ": " +
                *why);
  std::shared_ptr<const LoadedKernel> kernel;
  if (!compiler) {
    auto entry = diskCache.findAny(config);
    if (!entry)
      throw Error("no compiled kernel for " + config.describe() + " in " +
                  diskCache.dir() +
                  ", and this process does not compile (a build without the "
                  "compiler, or ATTN_OPT_NO_COMPILE=1); compile it where "
                  "attn-opt is built (build/bin) with\n  attn-opt-aot --out " +
                  diskCache.dir() + " " + config.aotFlags() +
                  "\nand bring that directory here (ATTN_OPT_CACHE_DIR)");
    kernel = load(config, std::move(*entry));
    ++counts.diskHits;
  } else {
    std::string key, why;
    if (!compiler->key(config, key, why))
      throw Error(why);
    if (auto entry = diskCache.find(config, key, &why)) {
      kernel = load(config, std::move(*entry));
      ++counts.diskHits;
    } else {
      CompiledBinary compiled;
      std::string refusal;
      if (!compiler->compile(config, compiled, refusal))
        throw Error(refusal);
      kernel = load(config, diskCache.store(config, key, compiler->version(),
                                            compiled.binary, compiled.launch));
      ++counts.compiled;
      if (!why.empty()) // an entry was there, unusable: now replaced
        ++counts.replacedCorrupt;
    }
  }
  loaded.emplace(canonical, kernel);
  return kernel;
}

std::shared_ptr<const LoadedKernel>
KernelLibrary::getNoThrow(const KernelConfig &config,
                          std::string &error) noexcept {
  try {
    return get(config);
  } catch (const std::exception &e) {
    error = e.what();
    return nullptr;
  }
}

KernelLibrary::Stats KernelLibrary::stats() const {
  std::lock_guard<std::mutex> lock(mutex);
  return counts;
}

} // namespace attn::rt
