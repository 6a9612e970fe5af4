//===- Files.h - the runtime's error type and file access -----*- C++ -*-===//
//
// No MLIR, no CUDA.
//===----------------------------------------------------------------------===//

#ifndef ATTN_RUNTIME_FILES_H
#define ATTN_RUNTIME_FILES_H

#include <stdexcept>
#include <string>
#include <string_view>

namespace attn::rt {

/// A failed CUDA call, file access or runtime precondition, saying which.
class Error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// Input a kernel cannot take (invalid cu_seqlens, a misaligned tensor):
/// the caller's mistake, not the runtime's or the device's.
class InvalidInput : public Error {
public:
  using Error::Error;
};

/// Reads a whole file; throws Error if it cannot.
std::string readFile(const std::string &path);

/// Writes `bytes` to `path` through a temporary file in the same directory
/// and a rename, so that readers (other processes too) see the old file or
/// the whole new one; throws Error if it cannot.
void writeFileAtomically(const std::string &path, std::string_view bytes);
/// The same for code built without exceptions: false with `error` set.
bool writeFileAtomically(const std::string &path, std::string_view bytes,
                         std::string &error) noexcept;

} // namespace attn::rt

#endif // ATTN_RUNTIME_FILES_H
