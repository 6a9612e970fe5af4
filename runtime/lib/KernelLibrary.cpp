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
KernelLibrary::get(const KernelConfig &config, Found *found) {
  std::string canonical = config.canonical();
  std::promise<std::shared_ptr<const LoadedKernel>> promise;
  std::unique_lock<std::mutex> lock(mutex);
  auto done = loaded.find(canonical);
  auto busy = pending.find(canonical);
  if (found)
    *found = Found::Memory;
  if (done != loaded.end()) {
    ++counts.memoryHits;
    return done->second;
  }
  if (busy != pending.end()) {
    Pending wait = busy->second;
    lock.unlock();
    auto kernel = wait.get(); // the loading call's kernel, or its error
    lock.lock();
    ++counts.memoryHits;
    return kernel;
  }
  pending.emplace(canonical, promise.get_future().share());
  lock.unlock();
  Found how;
  std::shared_ptr<const LoadedKernel> kernel;
  try {
    kernel = findOrCompile(config, how);
  } catch (...) {
    lock.lock();
    pending.erase(canonical);
    promise.set_exception(std::current_exception());
    throw;
  }
  lock.lock();
  loaded.emplace(canonical, kernel);
  ++(how == Found::Disk ? counts.diskHits : counts.compiled);
  pending.erase(canonical);
  promise.set_value(kernel);
  if (found)
    *found = how;
  return kernel;
}

std::shared_ptr<const LoadedKernel>
KernelLibrary::findOrCompile(const KernelConfig &config, Found &found) {
  if (auto why = config.validate())
    throw Error("cannot compile a kernel for " + config.describe() + ": " +
                *why);
  found = Found::Disk;
  if (!compiler) {
    std::string unusable;
    auto entry = diskCache.findAny(config, &unusable);
    if (!entry)
      throw Error("no compiled kernel for " + config.describe() + " in " +
                  diskCache.dir() +
                  (unusable.empty()
                       ? ""
                       : " (the one there is unusable: " + unusable + ")") +
                  ", and this process does not compile (a build without the "
                  "compiler, or ATTN_OPT_NO_COMPILE=1); compile it where "
                  "attn-opt is built (build/bin) with\n  attn-opt-aot --out " +
                  diskCache.dir() + " " + config.aotFlags() +
                  "\nand bring that directory here (ATTN_OPT_CACHE_DIR)");
    return load(config, std::move(*entry));
  }
  std::string key, why;
  if (!compiler->key(config, key, why))
    throw Error(why);
  if (auto entry = diskCache.find(config, key, &why))
    return load(config, std::move(*entry));
  CompiledBinary compiled;
  std::string refusal;
  if (!compiler->compile(config, compiled, refusal))
    throw Error(refusal);
  auto kernel = load(config, diskCache.store(config, key, compiler->version(),
                                             compiled.binary, compiled.launch));
  found = Found::Compiled;
  if (!why.empty()) { // an entry was there, unusable: now replaced
    std::lock_guard<std::mutex> lock(mutex);
    ++counts.replacedCorrupt;
  }
  return kernel;
}

std::shared_ptr<const LoadedKernel>
KernelLibrary::getNoThrow(const KernelConfig &config, std::string &error,
                          Found *found) noexcept {
  try {
    return get(config, found);
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
