//===- CommandLine.h - the tools' command-line checks ---------*- C++ -*-===//
//
// What llvm::cl does not check or print for the tools (attn-opt, attn-run,
// attn-opt-aot).
//===----------------------------------------------------------------------===//

#ifndef ATTN_SUPPORT_COMMANDLINE_H
#define ATTN_SUPPORT_COMMANDLINE_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdlib>

namespace attn {

/// llvm::cl reads an unknown option that starts with 'h' (`--head_dim`,
/// `--hq`) as `-h` and its attached value, prints the help and exits with
/// status 0, so a mistyped flag would pass for a successful run. Called
/// before cl::ParseCommandLineOptions: exits with status 1 on the first
/// such argument, as llvm::cl does for other unknown options.
inline void rejectUnknownHelpLikeOptions(int argc, char **argv) {
  const auto &known = llvm::cl::getRegisteredOptions();
  for (int i = 1; i < argc; ++i) {
    llvm::StringRef arg = argv[i];
    if (arg == "--")
      return;
    if (!arg.starts_with("-"))
      continue;
    llvm::StringRef name = arg.drop_front(arg.starts_with("--") ? 2 : 1);
    name = name.take_until([](char c) { return c == '='; });
    if (name.size() < 2 || name.front() != 'h' || known.count(name))
      continue;
    llvm::errs() << argv[0] << ": Unknown command line argument '" << arg
                 << "'.  Try: '" << argv[0] << " --help'\n";
    std::exit(1);
  }
}

/// Makes --version print the compiler's version (what kernel caches are
/// keyed by: the project's, its commit, a hash of uncommitted changes)
/// after LLVM's.
inline void addVersionPrinter(const char *version) {
  llvm::cl::AddExtraVersionPrinter([version](llvm::raw_ostream &os) {
    os << "attn-opt version " << version << "\n";
  });
}

} // namespace attn

#endif // ATTN_SUPPORT_COMMANDLINE_H
