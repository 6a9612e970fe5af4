//===- KernelCache.h - compiled kernels on disk -----------------*- C++ -*-===//
//
// A directory of compiled kernels (ATTN_OPT_CACHE_DIR, default
// ~/.cache/attn-opt), each entry two files named
//   <config hash>-<key>-<checksum>.so | .cubin    the binary
//   <config hash>-<key>.json           its manifest, written last
// where the key is what the compiler hashes (the canonical attn IR, the
// pipeline options, the target and the compiler's version) and the config
// hash names the configuration alone, so that a machine without the
// compiler finds an entry by its configuration. The manifest holds the
// canonical configuration, the compiler's version, the key, the binary's
// size and checksum (XXH3-128) and, for NVIDIA, the launch contract.
//
// Several processes may fill one directory at once: every file is written
// to a temporary name and renamed into place. An entry whose binary does
// not match its manifest's checksum (truncated, corrupt) is never loaded.
// No MLIR.
//===----------------------------------------------------------------------===//

#ifndef ATTN_RUNTIME_KERNELCACHE_H
#define ATTN_RUNTIME_KERNELCACHE_H

#include "attn/Runtime/Files.h"
#include "attn/Runtime/KernelConfig.h"

#include <optional>
#include <string>

namespace attn::rt {

/// XXH3-128 of `data`, as 32 hex digits.
std::string hash128(const std::string &data);

/// One verified entry.
struct CacheEntry {
  std::string manifestPath, binaryPath;
  /// The manifest's JSON text.
  std::string manifest;
  /// The binary's bytes (checked against the manifest's checksum).
  std::string binary;
  /// The manifest's "launch" object as JSON text (NVIDIA), else "".
  std::string launch;
};

class KernelCache {
public:
  /// `dir` need not exist until the first store.
  explicit KernelCache(std::string dir) : directory(std::move(dir)) {}
  /// ATTN_OPT_CACHE_DIR if set, else $XDG_CACHE_HOME/attn-opt, else
  /// ~/.cache/attn-opt; without a home directory, /tmp/attn-opt-cache-UID
  /// if this user alone can write it, else a new private one in /tmp.
  static std::string defaultDir();
  /// `dir` if this user alone can write it (made 0700 if missing; found
  /// owned by this user and closed to others: in a shared directory such
  /// as /tmp another user could have made it first, and the cache loads
  /// code from it), else a new private directory `dir`-XXXXXX.
  static std::string privateDir(const std::string &dir);
  const std::string &dir() const { return directory; }

  /// The entry of `config` under `key`, or nullopt: none there (`why`
  /// untouched), or one that is corrupt or not for `config` (`why` says
  /// which).
  std::optional<CacheEntry> find(const KernelConfig &config,
                                 const std::string &key,
                                 std::string *why = nullptr) const;
  /// The newest valid entry of `config` under any key (for a machine
  /// without the compiler), or nullopt; `why` then says why an entry of
  /// `config` that is there could not be used (corrupt, say), if one is.
  std::optional<CacheEntry> findAny(const KernelConfig &config,
                                    std::string *why = nullptr) const;
  /// Stores `binary` under `key` (the binary, then the manifest, each
  /// renamed into place) and returns the entry; throws Error if the
  /// directory cannot be written. `launch`: a JSON object or "".
  CacheEntry store(const KernelConfig &config, const std::string &key,
                   const std::string &compilerVersion,
                   const std::string &binary, const std::string &launch) const;

private:
  std::string directory;
  std::string stem(const KernelConfig &config, const std::string &key) const;
  std::optional<CacheEntry> read(const KernelConfig &config,
                                 const std::string &manifestPath,
                                 std::string *why) const;
};

} // namespace attn::rt

#endif // ATTN_RUNTIME_KERNELCACHE_H
