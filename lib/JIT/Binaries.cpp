//===- Binaries.cpp - compiled modules as files the runtime loads ---------===//

#include "attn/Conversion/AttnToNVGPU/AttnToNVGPU.h"
#include "attn/Frontend/AttentionModule.h"
#include "attn/JIT/Compiler.h"

#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Target/TargetMachine.h"

#include <cstdlib>
#include <mutex>

using namespace attn;

#ifndef ATTN_LLD_PATH
#define ATTN_LLD_PATH "ld.lld"
#endif

namespace {
llvm::Error error(const llvm::Twine &message) {
  return llvm::createStringError(message);
}

/// Temporary files removed when this goes out of scope.
struct TempFiles {
  llvm::SmallVector<std::string> paths;
  /// A new temporary file's path ("" if none could be made).
  std::string make(llvm::StringRef suffix) {
    llvm::SmallString<128> path;
    if (llvm::sys::fs::createTemporaryFile("attn-opt", suffix, path))
      return "";
    paths.push_back(std::string(path));
    return paths.back();
  }
  ~TempFiles() {
    for (const std::string &p : paths)
      llvm::sys::fs::remove(p);
  }
};

/// The linker: ATTN_OPT_LINKER, else the ld.lld found at configure time.
std::string linker() {
  if (const char *l = std::getenv("ATTN_OPT_LINKER"); l && *l)
    return l;
  return ATTN_LLD_PATH;
}
} // namespace

llvm::Expected<std::string> jit::emitSharedObject(mlir::ModuleOp module) {
  static std::once_flag initialized; // (compiles may run on many threads)
  std::call_once(initialized, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
  });
  auto builder = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!builder)
    return error("no code generator for this host: " +
                 llvm::toString(builder.takeError()));
  builder->setRelocationModel(llvm::Reloc::PIC_);
  builder->setCodeGenOptLevel(llvm::CodeGenOptLevel::Aggressive);
  auto machine = builder->createTargetMachine();
  if (!machine)
    return machine.takeError();

  llvm::LLVMContext context;
  std::unique_ptr<llvm::Module> ir =
      mlir::translateModuleToLLVMIR(module, context);
  if (!ir)
    return error("translating the lowered module to LLVM IR failed");
  ir->setDataLayout((*machine)->createDataLayout());
  ir->setTargetTriple((*machine)->getTargetTriple());
  if (llvm::Error e = mlir::makeOptimizingTransformer(
          /*optLevel=*/3, /*sizeLevel=*/0, machine->get())(ir.get()))
    return error("optimizing failed: " + llvm::toString(std::move(e)));

  llvm::SmallString<0> object;
  {
    llvm::raw_svector_ostream os(object);
    llvm::legacy::PassManager codegen;
    if ((*machine)->addPassesToEmitFile(codegen, os, nullptr,
                                        llvm::CodeGenFileType::ObjectFile))
      return error("this host's code generator cannot emit objects");
    codegen.run(*ir);
  }

  TempFiles temp;
  std::string objectPath = temp.make("o"), soPath = temp.make("so"),
              errPath = temp.make("txt");
  if (objectPath.empty() || soPath.empty() || errPath.empty())
    return error("cannot create temporary files");
  {
    std::error_code ec;
    llvm::raw_fd_ostream os(objectPath, ec);
    if (ec)
      return error("cannot write " + objectPath + ": " + ec.message());
    os << object;
  }
  std::string ld = linker();
  llvm::SmallVector<llvm::StringRef> args = {ld, "-shared", "--hash-style=gnu",
                                             "-o", soPath, objectPath};
  std::optional<llvm::StringRef> redirects[] = {std::nullopt, errPath,
                                                errPath};
  std::string why;
  // (No timeout: LLVM would time it with the process's SIGALRM, which
  // links on two threads at once leave pointing at LLVM's handler.)
  int rc = llvm::sys::ExecuteAndWait(ld, args, std::nullopt, redirects,
                                     /*SecondsToWait=*/0, 0, &why);
  if (rc != 0) {
    auto err = llvm::MemoryBuffer::getFile(errPath);
    return error("linking the CPU kernel with " + ld + " failed" +
                 (why.empty() ? "" : ": " + why) +
                 (err ? ": " + (*err)->getBuffer().trim().str() : "") +
                 " (ATTN_OPT_LINKER names another ld.lld)");
  }
  auto so = llvm::MemoryBuffer::getFile(soPath);
  if (!so)
    return error("cannot read " + soPath);
  return (*so)->getBuffer().str();
}

/// The launch contract of kernel `name` as JSON members (no braces), in
/// kLaunchContractKeys' order, with `format`; false if there is none.
static bool writeContract(mlir::DictionaryAttr all, llvm::StringRef name,
                          const std::string &format, llvm::json::OStream &json) {
  auto contract = all ? all.getAs<mlir::DictionaryAttr>(
                            mlir::attn::launchContractName(kKernelModule, name))
                      : mlir::DictionaryAttr();
  if (!contract)
    return false;
  for (llvm::StringRef key : mlir::attn::kLaunchContractKeys) {
    if (key == "format") {
      json.attribute(key, format);
      continue;
    }
    mlir::Attribute value = contract.get(key);
    if (!value)
      continue;
    if (auto s = llvm::dyn_cast<mlir::StringAttr>(value))
      json.attribute(key, s.getValue());
    else if (auto i = llvm::dyn_cast<mlir::IntegerAttr>(value))
      json.attribute(key, i.getInt());
    else if (auto f = llvm::dyn_cast<mlir::FloatAttr>(value))
      json.attribute(key, f.getValueAsDouble());
  }
  return true;
}

llvm::Expected<std::string>
jit::launchManifest(mlir::ModuleOp module, const std::string &format) {
  auto all = module->getAttrOfType<mlir::DictionaryAttr>(
      mlir::attn::kLaunchContractsAttr);
  auto has = [&](llvm::StringRef name) {
    return all && all.get(mlir::attn::launchContractName(kKernelModule, name));
  };
  bool forward = has(kAttentionEntry), backward = has(kAttentionGradEntry);
  // A sequence helper's image holds its kernel alone.
  const char *only = forward    ? kAttentionEntry
                     : backward ? kAttentionGradEntry
                                : nullptr;
  for (Sequence s : kSequences)
    if (!only && has(sequenceEntry(s)))
      only = sequenceEntry(s);
  if (!only)
    return error("the compiled module has no launch contract (of @" +
                 llvm::Twine(kKernelModule) + "'s " + kAttentionEntry + ", " +
                 kAttentionGradEntry + " or a sequence helper's)");
  std::string text;
  llvm::raw_string_ostream os(text);
  llvm::json::OStream json(os);
  // The forward's contract, with the backward's as "backward" when the
  // image has both; the backward's alone for a backward-only image.
  json.object([&] {
    writeContract(all, only, format, json);
    if (forward && backward)
      json.attributeObject("backward", [&] {
        writeContract(all, kAttentionGradEntry, format, json);
      });
  });
  text += "\n";
  return text;
}
