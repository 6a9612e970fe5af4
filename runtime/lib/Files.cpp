//===- Files.cpp - the runtime's file access ------------------------------===//

#include "attn/Runtime/Files.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include <unistd.h>

namespace attn::rt {

std::string readFile(const std::string &path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) // (which would open)
    throw Error("cannot read " + path + ": it is a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw Error("cannot read " + path + ": " + std::strerror(errno));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool writeFileAtomically(const std::string &path, std::string_view bytes,
                         std::string &error) noexcept {
  // A name no other writer (process or thread) uses.
  std::random_device entropy;
  std::string tmp = path + ".tmp." + std::to_string(getpid()) + "." +
                    std::to_string(entropy());
  FILE *f = std::fopen(tmp.c_str(), "wb");
  if (!f) { // (named by the file asked for: the temporary one is ours)
    error = "cannot write " + path + ": " + std::strerror(errno);
    return false;
  }
  bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  ok = std::fflush(f) == 0 && ok;
  ok = std::fclose(f) == 0 && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    error = "cannot write " + path + ": " + std::strerror(errno);
    std::remove(tmp.c_str());
    return false;
  }
  return true;
}

void writeFileAtomically(const std::string &path, std::string_view bytes) {
  std::string error;
  if (!writeFileAtomically(path, bytes, error))
    throw Error(error);
}

} // namespace attn::rt
