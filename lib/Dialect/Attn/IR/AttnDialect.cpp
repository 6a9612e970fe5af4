//===- AttnDialect.cpp - the attn dialect and its mask attribute ----------===//

#include "attn/Dialect/Attn/IR/AttnDialect.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::attn;

#include "attn/Dialect/Attn/IR/AttnOpsDialect.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "attn/Dialect/Attn/IR/AttnAttrs.cpp.inc"

void AttnDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "attn/Dialect/Attn/IR/AttnOps.cpp.inc"
      >();
  addAttributes<
#define GET_ATTRDEF_LIST
#include "attn/Dialect/Attn/IR/AttnAttrs.cpp.inc"
      >();
}

//===----------------------------------------------------------------------===//
// MaskAttr
//===----------------------------------------------------------------------===//

::attn::mask::MaskSpec MaskAttr::getSpec() const {
  return {getDocument(), getCausal(), getWindow()};
}

MaskAttr MaskAttr::get(MLIRContext *context,
                       const ::attn::mask::MaskSpec &spec) {
  return get(context, spec.document, spec.causal, spec.window);
}

LogicalResult MaskAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                               bool document, bool causal, int64_t window) {
  if (auto why = ::attn::mask::verifyMaskSpec({document, causal, window}))
    return emitError() << "invalid mask: " << *why;
  return success();
}

// #attn.mask<term (, term)*>, term ::= `document` | `causal` | `window` = INT
Attribute MaskAttr::parse(AsmParser &parser, Type) {
  bool document = false, causal = false;
  std::optional<int64_t> window;
  auto parseTerm = [&]() -> ParseResult {
    SMLoc loc = parser.getCurrentLocation();
    StringRef term;
    if (parser.parseKeyword(&term))
      return failure();
    auto once = [&](bool seen) -> ParseResult {
      if (seen)
        return parser.emitError(loc) << "mask term '" << term
                                     << "' appears more than once";
      return success();
    };
    if (term == "document") {
      if (once(document))
        return failure();
      document = true;
      return success();
    }
    if (term == "causal") {
      if (once(causal))
        return failure();
      causal = true;
      return success();
    }
    if (term == "window") {
      if (once(window.has_value()))
        return failure();
      int64_t w;
      if (parser.parseEqual() || parser.parseInteger(w))
        return failure();
      if (w < 1)
        return parser.emitError(loc) << "mask window must be at least 1";
      window = w;
      return success();
    }
    return parser.emitError(loc)
           << "unknown mask term '" << term
           << "' (expected 'document', 'causal' or 'window')";
  };
  if (parser.parseLess())
    return {};
  if (failed(parser.parseOptionalGreater())) {
    if (parser.parseCommaSeparatedList(parseTerm) || parser.parseGreater())
      return {};
  }
  return parser.getChecked<MaskAttr>(parser.getContext(), document, causal,
                                     window.value_or(0));
}

void MaskAttr::print(AsmPrinter &printer) const {
  SmallVector<std::string> terms;
  if (getDocument())
    terms.push_back("document");
  if (getCausal())
    terms.push_back("causal");
  if (getWindow() > 0)
    terms.push_back("window = " + std::to_string(getWindow()));
  printer << "<";
  llvm::interleaveComma(terms, printer);
  printer << ">";
}
