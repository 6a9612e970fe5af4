//===- KernelCache.cpp - compiled kernels on disk -------------------------===//

#include "attn/Runtime/KernelCache.h"

#include <nlohmann/json.hpp>
#define XXH_INLINE_ALL
#include <xxhash.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include <cerrno>
#include <vector>

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

namespace attn::rt {

namespace fs = std::filesystem;

std::string hash128(const std::string &data) {
  XXH128_hash_t h = XXH3_128bits(data.data(), data.size());
  char hex[33];
  std::snprintf(hex, sizeof(hex), "%016llx%016llx",
                static_cast<unsigned long long>(h.high64),
                static_cast<unsigned long long>(h.low64));
  return hex;
}

/// The user's home directory from the password database, or "".
static std::string passwdHome() {
  passwd entry, *found = nullptr;
  std::vector<char> buffer(16384);
  if (getpwuid_r(getuid(), &entry, buffer.data(), buffer.size(), &found) != 0 ||
      !found || !found->pw_dir)
    return "";
  return found->pw_dir;
}

std::string KernelCache::privateDir(const std::string &dir) {
  struct stat st;
  if ((mkdir(dir.c_str(), 0700) == 0 || errno == EEXIST) &&
      lstat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode) &&
      st.st_uid == getuid() && (st.st_mode & 077) == 0)
    return dir;
  std::string unique = dir + "-XXXXXX";
  if (mkdtemp(unique.data()))
    return unique;
  return dir; // (then the cache's own errors say what is wrong)
}

std::string KernelCache::defaultDir() {
  auto env = [](const char *name) {
    const char *value = std::getenv(name);
    return std::string(value ? value : "");
  };
  if (std::string dir = env("ATTN_OPT_CACHE_DIR"); !dir.empty())
    return dir;
  // Never a directory relative to where one runs: a relative
  // XDG_CACHE_HOME (as the XDG rules say) or HOME is ignored.
  if (std::string xdg = env("XDG_CACHE_HOME"); !xdg.empty() && xdg[0] == '/')
    return xdg + "/attn-opt";
  std::string home = env("HOME");
  if (home.empty() || home[0] != '/')
    home = passwdHome();
  if (home.empty() || home[0] != '/') // (per user, as PyTorch's Inductor)
    return privateDir("/tmp/attn-opt-cache-" + std::to_string(getuid()));
  return home + "/.cache/attn-opt";
}

/// The first 16 hex digits of the configuration's hash name its entries.
static std::string configPrefix(const KernelConfig &config) {
  return hash128(config.canonical()).substr(0, 16);
}

std::string KernelCache::stem(const KernelConfig &config,
                              const std::string &key) const {
  return directory + "/" + configPrefix(config) + "-" + key;
}

std::optional<CacheEntry> KernelCache::read(const KernelConfig &config,
                                            const std::string &manifestPath,
                                            std::string *why) const {
  auto fail = [&](const std::string &reason) -> std::optional<CacheEntry> {
    if (why)
      *why = manifestPath + ": " + reason;
    return std::nullopt;
  };
  CacheEntry entry;
  entry.manifestPath = manifestPath;
  try {
    entry.manifest = readFile(manifestPath);
  } catch (const Error &) {
    return std::nullopt; // no such entry (`why` stays empty)
  }
  nlohmann::json m = nlohmann::json::parse(entry.manifest, nullptr,
                                           /*allow_exceptions=*/false);
  if (m.is_discarded() || !m.is_object() || !m.contains("config") ||
      !m.contains("binary") || !m.contains("checksum") ||
      !m["binary"].is_string() || !m["checksum"].is_string())
    return fail("not a kernel manifest");
  if (m["config"].dump() != config.canonical())
    return fail("an entry for another configuration");
  std::string binary = m["binary"].get<std::string>();
  if (binary.find('/') != std::string::npos)
    return fail("a binary outside the cache directory");
  entry.binaryPath = directory + "/" + binary;
  try {
    entry.binary = readFile(entry.binaryPath);
  } catch (const Error &) {
    return fail("its binary is missing");
  }
  if (hash128(entry.binary) != m["checksum"].get<std::string>())
    return fail("its binary does not match its checksum (truncated or "
                "corrupt)");
  if (m.contains("launch"))
    entry.launch = m["launch"].dump();
  return entry;
}

std::optional<CacheEntry> KernelCache::find(const KernelConfig &config,
                                            const std::string &key,
                                            std::string *why) const {
  return read(config, stem(config, key) + ".json", why);
}

std::optional<CacheEntry> KernelCache::findAny(const KernelConfig &config,
                                               std::string *why) const {
  std::string prefix = configPrefix(config) + "-";
  std::error_code ec;
  std::optional<CacheEntry> newest;
  fs::file_time_type newestTime;
  for (const fs::directory_entry &file : fs::directory_iterator(directory, ec)) {
    std::string name = file.path().filename().string();
    if (name.rfind(prefix, 0) != 0 || file.path().extension() != ".json")
      continue;
    fs::file_time_type time = file.last_write_time(ec);
    if (ec || (newest && time <= newestTime))
      continue;
    std::string unusable;
    if (auto entry = read(config, file.path().string(), &unusable)) {
      newest = std::move(entry);
      newestTime = time;
    } else if (why && !unusable.empty()) {
      *why = unusable;
    }
  }
  if (newest && why)
    why->clear();
  return newest;
}

CacheEntry KernelCache::store(const KernelConfig &config,
                              const std::string &key,
                              const std::string &compilerVersion,
                              const std::string &binary,
                              const std::string &launch) const {
  std::error_code ec;
  fs::create_directories(directory, ec);
  if (ec)
    throw Error("cannot create the kernel cache " + directory + ": " +
                ec.message());
  std::string base = stem(config, key);
  std::string checksum = hash128(binary);
  CacheEntry entry;
  // The binary's name carries its checksum: two writers of one key (whose
  // binaries may differ) never replace the binary a manifest names.
  entry.binaryPath = base + "-" + checksum.substr(0, 16) +
                     (config.cpu() ? ".so" : ".cubin");
  entry.manifestPath = base + ".json";
  entry.binary = binary;
  nlohmann::json m = {
      {"config", nlohmann::json::parse(config.canonical())},
      {"compiler", compilerVersion},
      {"key", key},
      {"binary", fs::path(entry.binaryPath).filename().string()},
      {"bytes", binary.size()},
      {"checksum", checksum}};
  if (!launch.empty()) {
    m["launch"] = nlohmann::json::parse(launch, nullptr, false);
    if (m["launch"].is_discarded())
      throw Error("the launch contract is not JSON");
    entry.launch = m["launch"].dump();
  }
  entry.manifest = m.dump(1) + "\n";
  // The binary first: a manifest is only ever seen beside its binary.
  writeFileAtomically(entry.binaryPath, binary);
  writeFileAtomically(entry.manifestPath, entry.manifest);
  return entry;
}

} // namespace attn::rt
