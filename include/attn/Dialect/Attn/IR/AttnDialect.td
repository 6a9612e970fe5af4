//===- AttnDialect.td - the attn dialect -------------------*- tablegen -*-===//

#ifndef ATTN_DIALECT_ATTN_IR_ATTNDIALECT_TD
#define ATTN_DIALECT_ATTN_IR_ATTNDIALECT_TD

include "mlir/IR/OpBase.td"

def Attn_Dialect : Dialect {
  let name = "attn";
  let cppNamespace = "::mlir::attn";
  let summary = "Attention over packed sequences with structured masks";
  let description = [{
    The `attn` dialect models attention over a *packed* sequence: many
    documents concatenated into one sequence of T tokens, with document
    boundaries given at run time by `cu_seqlens` (FlashAttention's
    convention: N + 1 non-decreasing offsets from 0 to T).

    Its attention op carries the mask as a structured attribute
    (`#attn.mask<document, causal>`), not as a dense tensor. Because every
    supported mask allows, for each query row, one key interval whose bounds
    never decrease along the sequence, the lowering derives at run time, for
    each query tile, which key tiles are empty (skipped), full (no mask math)
    or partial, from two binary searches over `cu_seqlens`.
  }];
  let useDefaultAttributePrinterParser = 1;
}

class Attn_Op<string mnemonic, list<Trait> traits = []>
    : Op<Attn_Dialect, mnemonic, traits>;

#endif // ATTN_DIALECT_ATTN_IR_ATTNDIALECT_TD
