//===- AttnAttrs.td - attn dialect attributes --------------*- tablegen -*-===//

#ifndef ATTN_DIALECT_ATTN_IR_ATTNATTRS_TD
#define ATTN_DIALECT_ATTN_IR_ATTNATTRS_TD

include "attn/Dialect/Attn/IR/AttnDialect.td"
include "mlir/IR/AttrTypeBase.td"

class Attn_Attr<string name, string attrMnemonic, list<Trait> traits = []>
    : AttrDef<Attn_Dialect, name, traits> {
  let mnemonic = attrMnemonic;
}

def Attn_MaskAttr : Attn_Attr<"Mask", "mask"> {
  let summary = "A structured attention mask: an intersection of terms";
  let description = [{
    A mask is the intersection of the terms it lists; a query token q may
    attend to a key token k only if every term allows it:

    - `document`: q and k lie in the same document of the packed sequence
      (documents come from the `cu_seqlens` operand at run time);
    - `causal`: k <= q;
    - `window = W` (W >= 1, only together with `causal`): q - k < W.

    With no term (`#attn.mask<>`) every key is allowed. Each term may appear
    once. The meaning of the terms is defined in one place,
    `include/attn/Mask/MaskAlgebra.h`, which every lowering uses.

    Examples:

    ```mlir
    #attn.mask<document, causal>
    #attn.mask<document, causal, window = 256>
    ```
  }];
  let parameters = (ins "bool":$document, "bool":$causal, "int64_t":$window);
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// The mask as the algebra sees it.
    ::attn::mask::MaskSpec getSpec() const;
    static MaskAttr get(::mlir::MLIRContext *context,
                        const ::attn::mask::MaskSpec &spec);
  }];
}

#endif // ATTN_DIALECT_ATTN_IR_ATTNATTRS_TD
