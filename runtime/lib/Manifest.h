//===- Manifest.h - typed fields of a kernel's JSON manifest --*- C++ -*-===//
//
// What the runtime's manifest parsers (Attention.cpp, SequenceKernel.cpp)
// read a launch contract with: every failure an Error naming the field.
// Internal to the runtime's library.
//===----------------------------------------------------------------------===//

#ifndef ATTN_RUNTIME_LIB_MANIFEST_H
#define ATTN_RUNTIME_LIB_MANIFEST_H

#include "attn/Runtime/Files.h"

#include <nlohmann/json.hpp>

#include <initializer_list>
#include <string>

namespace attn::rt {

/// Typed fields of a parsed manifest; every failure names the field.
class Manifest {
public:
  explicit Manifest(const std::string &text)
      : json(nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false)) {
    if (json.is_discarded())
      throw Error("kernel manifest is not valid JSON");
    if (!json.is_object())
      throw Error("kernel manifest is not a JSON object");
  }

  bool has(const char *key) const { return json.contains(key); }

  std::string string(const char *key) const {
    const nlohmann::json &v = at(key);
    if (!v.is_string())
      throw Error(std::string("kernel manifest: \"") + key +
                  "\" is not a string");
    return v.get<std::string>();
  }

  int64_t integer(const char *key) const {
    const nlohmann::json &v = at(key);
    if (!v.is_number_integer())
      throw Error(std::string("kernel manifest: \"") + key +
                  "\" is not an integer");
    return v.get<int64_t>();
  }

  double number(const char *key) const {
    const nlohmann::json &v = at(key);
    if (!v.is_number())
      throw Error(std::string("kernel manifest: \"") + key +
                  "\" is not a number");
    return v.get<double>();
  }

  /// The string `key`, one of `allowed`; the first of them if the manifest
  /// (an older one) lacks the field.
  std::string choice(const char *key,
                     std::initializer_list<const char *> allowed) const {
    if (!json.contains(key))
      return *allowed.begin();
    std::string v = string(key);
    for (const char *a : allowed)
      if (v == a)
        return v;
    throw Error(std::string("kernel manifest: unknown \"") + key + "\" '" +
                v + "'");
  }

  /// The JSON text of object member `key`, or "" if there is none.
  std::string object(const char *key) const {
    if (!json.contains(key))
      return "";
    if (!json[key].is_object())
      throw Error(std::string("kernel manifest: \"") + key +
                  "\" is not an object");
    return json[key].dump();
  }

private:
  const nlohmann::json &at(const char *key) const {
    if (!json.contains(key))
      throw Error(std::string("kernel manifest lacks \"") + key + "\"");
    return json.at(key);
  }
  nlohmann::json json;
};

/// A kernel's shared_bytes, checked: at most 227 KiB, the most a block may
/// have on any NVIDIA GPU (a larger one would be cut to an int on its way
/// to the driver).
inline int64_t sharedBytesOf(const Manifest &m) {
  constexpr int64_t kMaxSharedBytes = 227 * 1024;
  int64_t bytes = m.integer("shared_bytes");
  if (bytes < 0 || bytes > kMaxSharedBytes)
    throw Error("kernel manifest: shared_bytes " + std::to_string(bytes) +
                " is not 0 to " + std::to_string(kMaxSharedBytes));
  return bytes;
}

} // namespace attn::rt

#endif // ATTN_RUNTIME_LIB_MANIFEST_H
