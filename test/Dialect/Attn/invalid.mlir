// RUN: attn-opt %s -split-input-file -verify-diagnostics

// -----

func.func @rank(%q: tensor<?x64xf32>, %k: tensor<?x2x64xf32>, %v: tensor<?x2x64xf32>, %cu: tensor<?xi32>) {
  // expected-error @+1 {{expects query, key and value of rank 3 ([T, H, D]), got ranks 2, 3 and 3}}
  %o, %l = attn.attention %q, %k, %v, %cu {mask = #attn.mask<document, causal>}
      : tensor<?x64xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>, tensor<?xi32> -> tensor<?x4x64xf32>, tensor<4x?xf32>
  return
}

// -----

func.func @elt(%q: tensor<?x4x64xi8>, %k: tensor<?x2x64xi8>, %v: tensor<?x2x64xi8>, %cu: tensor<?xi32>) {
  // expected-error @+1 {{expects an f16, bf16 or f32 element type, got 'i8'}}
  %o, %l = attn.attention %q, %k, %v, %cu {mask = #attn.mask<document, causal>}
      : tensor<?x4x64xi8>, tensor<?x2x64xi8>, tensor<?x2x64xi8>, tensor<?xi32> -> tensor<?x4x64xi8>, tensor<4x?xf32>
  return
}

// -----

func.func @mixed(%q: tensor<?x4x64xf32>, %k: tensor<?x2x64xbf16>, %v: tensor<?x2x64xf32>, %cu: tensor<?xi32>) {
  // expected-error @+1 {{expects query, key, value and out to share one element type}}
  %o, %l = attn.attention %q, %k, %v, %cu {mask = #attn.mask<document, causal>}
      : tensor<?x4x64xf32>, tensor<?x2x64xbf16>, tensor<?x2x64xf32>, tensor<?xi32> -> tensor<?x4x64xf32>, tensor<4x?xf32>
  return
}

// -----

func.func @tokens(%q: tensor<10x4x64xf32>, %k: tensor<12x2x64xf32>, %v: tensor<?x2x64xf32>, %cu: tensor<?xi32>) {
  // expected-error @+1 {{expects query, key and value to have the same token count, got 10, 12 and ?}}
  %o, %l = attn.attention %q, %k, %v, %cu {mask = #attn.mask<document, causal>}
      : tensor<10x4x64xf32>, tensor<12x2x64xf32>, tensor<?x2x64xf32>, tensor<?xi32> -> tensor<?x4x64xf32>, tensor<4x?xf32>
  return
}

// -----

// Token counts agree across every operand, not only with query's: q's T
// dynamic, k and v static and different.
func.func @tokens_dynamic_query(%q: tensor<?x4x64xf32>, %k: tensor<9x2x64xf32>, %v: tensor<8x2x64xf32>, %cu: tensor<?xi32>) {
  // expected-error @+1 {{expects query, key and value to have the same token count, got ?, 9 and 8}}
  %o, %l = attn.attention %q, %k, %v, %cu {mask = #attn.mask<document, causal>}
      : tensor<?x4x64xf32>, tensor<9x2x64xf32>, tensor<8x2x64xf32>, tensor<?xi32> -> tensor<?x4x64xf32>, tensor<4x?xf32>
  return
}

// -----

func.func @tokens_out(%q: tensor<?x4x64xf32>, %k: tensor<9x2x64xf32>, %v: tensor<?x2x64xf32>, %cu: tensor<?xi32>) {
  // expected-error @+1 {{expects out of shape [T, Hq, Dv] = [9, 4, 64], got 'tensor<7x4x64xf32>'}}
  %o, %l = attn.attention %q, %k, %v, %cu {mask = #attn.mask<document, causal>}
      : tensor<?x4x64xf32>, tensor<9x2x64xf32>, tensor<?x2x64xf32>, tensor<?xi32> -> tensor<7x4x64xf32>, tensor<4x?xf32>
  return
}

// -----

func.func @tokens_lse(%q: tensor<?x4x64xf32>, %k: tensor<?x2x64xf32>, %v: tensor<?x2x64xf32>, %cu: tensor<?xi32>) {
  // expected-error @+1 {{expects lse of shape [Hq, T] = [4, 7] and element type f32, got 'tensor<4x6xf32>'}}
  %o, %l = attn.attention %q, %k, %v, %cu {mask = #attn.mask<document, causal>}
      : tensor<?x4x64xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>, tensor<?xi32> -> tensor<7x4x64xf32>, tensor<4x6xf32>
  return
}

// -----

// The lowerings read every operand as a dense buffer.
#sparse = #sparse_tensor.encoding<{map = (d0, d1, d2) -> (d0 : compressed, d1 : dense, d2 : dense)}>
func.func @encoding(%q: tensor<?x4x64xf32, #sparse>, %k: tensor<?x2x64xf32>, %v: tensor<?x2x64xf32>, %cu: tensor<?xi32>) {
  // expected-error @+1 {{expects tensors without an encoding, got 'tensor<?x4x64xf32, #sparse_tensor.encoding}}
  %o, %l = attn.attention %q, %k, %v, %cu {mask = #attn.mask<document, causal>}
      : tensor<?x4x64xf32, #sparse>, tensor<?x2x64xf32>, tensor<?x2x64xf32>, tensor<?xi32> -> tensor<?x4x64xf32>, tensor<4x?xf32>
  return
}

// -----

func.func @no_query_heads(%q: tensor<?x0x64xf32>, %k: tensor<?x2x64xf32>, %v: tensor<?x2x64xf32>, %cu: tensor<?xi32>) {
  // expected-error @+1 {{expects at least one head, got 0 query and 2 key/value heads}}
  %o, %l = attn.attention %q, %k, %v, %cu {mask = #attn.mask<document, causal>}
      : tensor<?x0x64xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>, tensor<?xi32> -> tensor<?x0x64xf32>, tensor<0x?xf32>
  return
}

// -----

func.func @dynheads(%q: tensor<?x?x64xf32>, %k: tensor<?x2x64xf32>, %v: tensor<?x2x64xf32>, %cu: tensor<?xi32>) {
  // expected-error @+1 {{expects static head counts}}
  %o, %l = attn.attention %q, %k, %v, %cu {mask = #attn.mask<document, causal>}
      : tensor<?x?x64xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>, tensor<?xi32> -> tensor<?x4x64xf32>, tensor<4x?xf32>
  return
}

// -----

func.func @kvheads(%q: tensor<?x4x64xf32>, %k: tensor<?x2x64xf32>, %v: tensor<?x1x64xf32>, %cu: tensor<?xi32>) {
  // expected-error @+1 {{expects key and value to have the same head count, got 2 and 1}}
  %o, %l = attn.attention %q, %k, %v, %cu {mask = #attn.mask<document, causal>}
      : tensor<?x4x64xf32>, tensor<?x2x64xf32>, tensor<?x1x64xf32>, tensor<?xi32> -> tensor<?x4x64xf32>, tensor<4x?xf32>
  return
}

// -----

func.func @gqa(%q: tensor<?x3x64xf32>, %k: tensor<?x2x64xf32>, %v: tensor<?x2x64xf32>, %cu: tensor<?xi32>) {
  // expected-error @+1 {{expects the query head count (3) to be a multiple of the key/value head count (2)}}
  %o, %l = attn.attention %q, %k, %v, %cu {mask = #attn.mask<document, causal>}
      : tensor<?x3x64xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>, tensor<?xi32> -> tensor<?x3x64xf32>, tensor<3x?xf32>
  return
}

// -----

func.func @dyndim(%q: tensor<?x4x?xf32>, %k: tensor<?x2x?xf32>, %v: tensor<?x2x64xf32>, %cu: tensor<?xi32>) {
  // expected-error @+1 {{expects static head dims}}
  %o, %l = attn.attention %q, %k, %v, %cu {mask = #attn.mask<document, causal>}
      : tensor<?x4x?xf32>, tensor<?x2x?xf32>, tensor<?x2x64xf32>, tensor<?xi32> -> tensor<?x4x64xf32>, tensor<4x?xf32>
  return
}

// -----

func.func @qkdim(%q: tensor<?x4x64xf32>, %k: tensor<?x2x128xf32>, %v: tensor<?x2x64xf32>, %cu: tensor<?xi32>) {
  // expected-error @+1 {{expects query and key to have the same head dim, got 64 and 128}}
  %o, %l = attn.attention %q, %k, %v, %cu {mask = #attn.mask<document, causal>}
      : tensor<?x4x64xf32>, tensor<?x2x128xf32>, tensor<?x2x64xf32>, tensor<?xi32> -> tensor<?x4x64xf32>, tensor<4x?xf32>
  return
}

// -----

func.func @headdim(%q: tensor<?x4x48xf32>, %k: tensor<?x2x48xf32>, %v: tensor<?x2x48xf32>, %cu: tensor<?xi32>) {
  // expected-error @+1 {{supports head dims 32, 64, 80, 96, 128, 192 and 256, got D = 48 and Dv = 48}}
  %o, %l = attn.attention %q, %k, %v, %cu {mask = #attn.mask<document, causal>}
      : tensor<?x4x48xf32>, tensor<?x2x48xf32>, tensor<?x2x48xf32>, tensor<?xi32> -> tensor<?x4x48xf32>, tensor<4x?xf32>
  return
}

// -----

func.func @cu(%q: tensor<?x4x64xf32>, %k: tensor<?x2x64xf32>, %v: tensor<?x2x64xf32>, %cu: tensor<?xf32>) {
  // expected-error @+1 {{expects cu_seqlens to be a rank-1 tensor of i32 or i64 with at least one entry, got 'tensor<?xf32>'}}
  %o, %l = attn.attention %q, %k, %v, %cu {mask = #attn.mask<document, causal>}
      : tensor<?x4x64xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>, tensor<?xf32> -> tensor<?x4x64xf32>, tensor<4x?xf32>
  return
}

// -----

func.func @cu2(%q: tensor<?x4x64xf32>, %k: tensor<?x2x64xf32>, %v: tensor<?x2x64xf32>, %cu: tensor<2x3xi32>) {
  // expected-error @+1 {{expects cu_seqlens to be a rank-1 tensor of i32 or i64 with at least one entry, got 'tensor<2x3xi32>'}}
  %o, %l = attn.attention %q, %k, %v, %cu {mask = #attn.mask<document, causal>}
      : tensor<?x4x64xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>, tensor<2x3xi32> -> tensor<?x4x64xf32>, tensor<4x?xf32>
  return
}

// -----

func.func @out(%q: tensor<?x4x64xf32>, %k: tensor<?x2x64xf32>, %v: tensor<?x2x64xf32>, %cu: tensor<?xi32>) {
  // expected-error @+1 {{expects out of shape [T, Hq, Dv] = [?, 4, 64], got 'tensor<?x2x64xf32>'}}
  %o, %l = attn.attention %q, %k, %v, %cu {mask = #attn.mask<document, causal>}
      : tensor<?x4x64xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>, tensor<?xi32> -> tensor<?x2x64xf32>, tensor<4x?xf32>
  return
}

// -----

func.func @lse(%q: tensor<?x4x64xf32>, %k: tensor<?x2x64xf32>, %v: tensor<?x2x64xf32>, %cu: tensor<?xi32>) {
  // expected-error @+1 {{expects lse of shape [Hq, T] = [4, ?] and element type f32, got 'tensor<4x?xbf16>'}}
  %o, %l = attn.attention %q, %k, %v, %cu {mask = #attn.mask<document, causal>}
      : tensor<?x4x64xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>, tensor<?xi32> -> tensor<?x4x64xf32>, tensor<4x?xbf16>
  return
}

// -----

func.func @lse2(%q: tensor<?x4x64xf32>, %k: tensor<?x2x64xf32>, %v: tensor<?x2x64xf32>, %cu: tensor<?xi32>) {
  // expected-error @+1 {{expects lse of shape [Hq, T] = [4, ?] and element type f32, got 'tensor<?x4xf32>'}}
  %o, %l = attn.attention %q, %k, %v, %cu {mask = #attn.mask<document, causal>}
      : tensor<?x4x64xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>, tensor<?xi32> -> tensor<?x4x64xf32>, tensor<?x4xf32>
  return
}

// -----

func.func @scale(%q: tensor<?x4x64xf32>, %k: tensor<?x2x64xf32>, %v: tensor<?x2x64xf32>, %cu: tensor<?xi32>) {
  // expected-error @+1 {{the scale must be positive and finite (1.17549e-38 to 2.35866e+38, as the kernels' f32), got -1}}
  %o, %l = attn.attention %q, %k, %v, %cu {mask = #attn.mask<document, causal>, scale = -1.0 : f64}
      : tensor<?x4x64xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>, tensor<?xi32> -> tensor<?x4x64xf32>, tensor<4x?xf32>
  return
}

// -----

func.func @memref(%q: tensor<?x4x64xf32>, %k: tensor<?x2x64xf32>, %v: tensor<?x2x64xf32>, %cu: memref<?xi32>) {
  // expected-error @+2 {{invalid kind of type specified: expected builtin.tensor, but found 'memref<?xi32>'}}
  %o, %l = attn.attention %q, %k, %v, %cu {mask = #attn.mask<document, causal>}
      : tensor<?x4x64xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>, memref<?xi32> -> tensor<?x4x64xf32>, tensor<4x?xf32>
  return
}

// -----

// cu_seqlens holds N + 1 >= 1 entries of i32 or i64.
func.func @cu_empty(%q: tensor<?x2x64xf32>, %k: tensor<?x2x64xf32>, %v: tensor<?x2x64xf32>, %cu: tensor<0xi32>) {
  // expected-error @+1 {{expects cu_seqlens to be a rank-1 tensor of i32 or i64 with at least one entry, got 'tensor<0xi32>'}}
  %o, %l = attn.attention %q, %k, %v, %cu {mask = #attn.mask<document, causal>}
      : tensor<?x2x64xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>, tensor<0xi32> -> tensor<?x2x64xf32>, tensor<2x?xf32>
  return
}

// -----

func.func @cu_i1(%q: tensor<?x2x64xf32>, %k: tensor<?x2x64xf32>, %v: tensor<?x2x64xf32>, %cu: tensor<?xi1>) {
  // expected-error @+1 {{expects cu_seqlens to be a rank-1 tensor of i32 or i64 with at least one entry, got 'tensor<?xi1>'}}
  %o, %l = attn.attention %q, %k, %v, %cu {mask = #attn.mask<document, causal>}
      : tensor<?x2x64xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>, tensor<?xi1> -> tensor<?x2x64xf32>, tensor<2x?xf32>
  return
}

// -----

func.func @cu_i128(%q: tensor<?x2x64xf32>, %k: tensor<?x2x64xf32>, %v: tensor<?x2x64xf32>, %cu: tensor<?xi128>) {
  // expected-error @+1 {{expects cu_seqlens to be a rank-1 tensor of i32 or i64 with at least one entry, got 'tensor<?xi128>'}}
  %o, %l = attn.attention %q, %k, %v, %cu {mask = #attn.mask<document, causal>}
      : tensor<?x2x64xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>, tensor<?xi128> -> tensor<?x2x64xf32>, tensor<2x?xf32>
  return
}

// -----

func.func @segments_separator_width(%t: tensor<?xi8>) {
  // expected-error @+1 {{expects a separator that fits the 8-bit tokens, got 300}}
  %0 = attn.segments_from_separators %t {separator = 300 : i64} : tensor<?xi8> -> tensor<?xi32>
  return
}

// -----

func.func @key_tile_range_cu_i1(%cu: memref<?xi1>, %i: index) {
  // expected-error @+1 {{expects cu_seqlens to be a rank-1 tensor or memref of i32 or i64 with at least one entry}}
  %0:6 = attn.key_tile_range %cu, %i, %i, %i {mask = #attn.mask<causal>, block_k = 64 : i64} : memref<?xi1>
  return
}

// -----

func.func @doc_positions_cu(%cu: tensor<?xf32>) {
  // expected-error @+1 {{expects cu_seqlens to be a rank-1 tensor of i32 or i64 with at least one entry, got 'tensor<?xf32>'}}
  %0 = attn.doc_positions %cu : tensor<?xf32> -> tensor<?xi32>
  return
}

// -----

func.func @doc_positions_result(%cu: tensor<?xi32>) {
  // expected-error @+1 {{expects a rank-1 tensor of i32 or i64 as result, got 'tensor<?x2xi32>'}}
  %0 = attn.doc_positions %cu : tensor<?xi32> -> tensor<?x2xi32>
  return
}

// -----

func.func @doc_positions_narrow(%cu: tensor<?xi32>) {
  // expected-error @+1 {{expects a rank-1 tensor of i32 or i64 as result, got 'tensor<?xi16>'}}
  %0 = attn.doc_positions %cu : tensor<?xi32> -> tensor<?xi16>
  return
}

// -----

func.func @check_cu_seqlens_i64(%cu: tensor<?xi64>, %e: tensor<1xi32>, %t: index) {
  // expected-error @+1 {{expects cu_seqlens to be a rank-1 tensor of i32 with at least one entry, got 'tensor<?xi64>'}}
  %0 = attn.check_cu_seqlens %cu, %e, %t : tensor<?xi64>, tensor<1xi32> -> tensor<1xi32>
  return
}

// -----

func.func @check_cu_seqlens_empty(%cu: tensor<0xi32>, %e: tensor<1xi32>, %t: index) {
  // expected-error @+1 {{expects cu_seqlens to be a rank-1 tensor of i32 with at least one entry, got 'tensor<0xi32>'}}
  %0 = attn.check_cu_seqlens %cu, %e, %t : tensor<0xi32>, tensor<1xi32> -> tensor<1xi32>
  return
}

// -----

func.func @check_cu_seqlens_record(%cu: tensor<?xi32>, %e: tensor<2xi32>, %t: index) {
  // expected-error @+1 {{expects errors to be 'tensor<1xi32>', got 'tensor<2xi32>'}}
  %0 = attn.check_cu_seqlens %cu, %e, %t : tensor<?xi32>, tensor<2xi32> -> tensor<1xi32>
  return
}

// -----

func.func @check_cu_seqlens_result(%cu: tensor<?xi32>, %e: tensor<1xi32>, %t: index) {
  // expected-error @+1 {{expects a result of type 'tensor<1xi32>', got 'tensor<1xi64>'}}
  %0 = attn.check_cu_seqlens %cu, %e, %t : tensor<?xi32>, tensor<1xi32> -> tensor<1xi64>
  return
}

// -----

func.func @segments_tokens(%t: tensor<?xf16>) {
  // expected-error @+1 {{expects tokens to be a rank-1 tensor of integers of at least 8 bits, got 'tensor<?xf16>'}}
  %0 = attn.segments_from_separators %t {separator = 2 : i64} : tensor<?xf16> -> tensor<?xi32>
  return
}

// -----

func.func @segments_narrow_tokens(%t: tensor<?xi1>) {
  // expected-error @+1 {{expects tokens to be a rank-1 tensor of integers of at least 8 bits, got 'tensor<?xi1>'}}
  %0 = attn.segments_from_separators %t {separator = 0 : i64} : tensor<?xi1> -> tensor<?xi32>
  return
}

// -----

func.func @segments_no_bits(%t: tensor<?xi0>) {
  // expected-error @+1 {{expects tokens to be a rank-1 tensor of integers of at least 8 bits, got 'tensor<?xi0>'}}
  %0 = attn.segments_from_separators %t {separator = 0 : i64} : tensor<?xi0> -> tensor<?xi32>
  return
}

// -----

func.func @segments_result(%t: tensor<?xi32>) {
  // expected-error @+1 {{expects a rank-1 tensor of i32 or i64 with at least one entry as result, got 'tensor<?xf32>'}}
  %0 = attn.segments_from_separators %t {separator = 2 : i64} : tensor<?xi32> -> tensor<?xf32>
  return
}

// -----

func.func @segments_padded_size(%t: tensor<6xi32>) {
  // expected-error @+1 {{with padded, expects T + 1 = 7 result entries, got 4}}
  %0 = attn.segments_from_separators %t {padded, separator = 2 : i64} : tensor<6xi32> -> tensor<4xi32>
  return
}

// -----

func.func @key_tile_range_cu(%cu: memref<?x2xi32>, %i: index) {
  // expected-error @+1 {{expects cu_seqlens to be a rank-1 tensor or memref of i32 or i64 with at least one entry}}
  %0:6 = attn.key_tile_range %cu, %i, %i, %i {mask = #attn.mask<causal>, block_k = 64 : i64} : memref<?x2xi32>
  return
}

// -----

func.func @key_tile_range_block(%cu: memref<?xi32>, %i: index) {
  // expected-error @+1 {{expects block_k to be at least 1, got 0}}
  %0:6 = attn.key_tile_range %cu, %i, %i, %i {mask = #attn.mask<causal>, block_k = 0 : i64} : memref<?xi32>
  return
}

// -----

// An i64 tile size is read as signed.
func.func @key_tile_range_negative_block(%cu: memref<?xi32>, %i: index) {
  // expected-error @+1 {{expects block_k to be at least 1, got -64}}
  %0:6 = attn.key_tile_range %cu, %i, %i, %i {mask = #attn.mask<causal>, block_k = -64 : i64} : memref<?xi32>
  return
}

// -----

func.func @query_tile_range_cu(%cu: memref<?x2xi32>, %i: index) {
  // expected-error @+1 {{expects cu_seqlens to be a rank-1 tensor or memref of i32 or i64 with at least one entry}}
  %0:6 = attn.query_tile_range %cu, %i, %i, %i {mask = #attn.mask<causal>, block_q = 64 : i64} : memref<?x2xi32>
  return
}

// -----

func.func @query_tile_range_block(%cu: memref<?xi32>, %i: index) {
  // expected-error @+1 {{expects block_q to be at least 1, got 0}}
  %0:6 = attn.query_tile_range %cu, %i, %i, %i {mask = #attn.mask<causal>, block_q = 0 : i64} : memref<?xi32>
  return
}

// -----

func.func @col_interval_cu(%cu: memref<?xf32>, %i: index) {
  // expected-error @+1 {{expects cu_seqlens to be a rank-1 tensor or memref of i32 or i64 with at least one entry}}
  %0:2 = "attn.col_interval"(%cu, %i, %i) {mask = #attn.mask<causal>, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>} : (memref<?xf32>, index, index) -> (index, index)
  return
}

// -----

func.func @col_interval_half_window(%cu: memref<?xi32>, %i: index) {
  // expected-error @+1 {{expects both doc_first and doc_last, or neither}}
  %0:2 = "attn.col_interval"(%cu, %i, %i, %i) {mask = #attn.mask<document, causal>, operandSegmentSizes = array<i32: 1, 1, 1, 0, 1>} : (memref<?xi32>, index, index, index) -> (index, index)
  return
}

// -----

// attn.attention_grad checks its operands as attn.attention does (one
// shared verifier), then dout and the gradients.
func.func @grad_forward_rule(%q: tensor<?x4x64xf32>, %k: tensor<?x3x64xf32>, %v: tensor<?x3x64xf32>, %o: tensor<?x4x64xf32>, %lse: tensor<4x?xf32>, %cu: tensor<?xi32>) {
  // expected-error @+1 {{expects the query head count (4) to be a multiple of the key/value head count (3)}}
  %0:3 = attn.attention_grad %q, %k, %v, %o, %o, %lse, %cu {mask = #attn.mask<causal>}
      : tensor<?x4x64xf32>, tensor<?x3x64xf32>, tensor<?x3x64xf32>, tensor<?x4x64xf32>, tensor<?x4x64xf32>, tensor<4x?xf32>, tensor<?xi32>
      -> tensor<?x4x64xf32>, tensor<?x3x64xf32>, tensor<?x3x64xf32>
  return
}

// -----

func.func @grad_dout(%q: tensor<?x4x64xf32>, %k: tensor<?x2x64xf32>, %v: tensor<?x2x64xf32>, %o: tensor<?x4x64xf32>, %do: tensor<?x4x64xf16>, %lse: tensor<4x?xf32>, %cu: tensor<?xi32>) {
  // expected-error @+1 {{expects dout of the shape and element type of out ('tensor<?x4x64xf32>'), got 'tensor<?x4x64xf16>'}}
  %0:3 = attn.attention_grad %q, %k, %v, %o, %do, %lse, %cu {mask = #attn.mask<causal>}
      : tensor<?x4x64xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>, tensor<?x4x64xf32>, tensor<?x4x64xf16>, tensor<4x?xf32>, tensor<?xi32>
      -> tensor<?x4x64xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>
  return
}

// -----

func.func @grad_dk(%q: tensor<?x4x64xf32>, %k: tensor<?x2x64xf32>, %v: tensor<?x2x64xf32>, %o: tensor<?x4x64xf32>, %lse: tensor<4x?xf32>, %cu: tensor<?xi32>) {
  // expected-error @+1 {{expects dk of the shape and element type of its input ('tensor<?x2x64xf32>'), got 'tensor<?x4x64xf32>'}}
  %0:3 = attn.attention_grad %q, %k, %v, %o, %o, %lse, %cu {mask = #attn.mask<causal>}
      : tensor<?x4x64xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>, tensor<?x4x64xf32>, tensor<?x4x64xf32>, tensor<4x?xf32>, tensor<?xi32>
      -> tensor<?x4x64xf32>, tensor<?x4x64xf32>, tensor<?x2x64xf32>
  return
}

// -----

func.func @grad_dq(%q: tensor<?x4x64xf32>, %k: tensor<?x2x64xf32>, %v: tensor<?x2x64xf32>, %o: tensor<?x4x64xf32>, %lse: tensor<4x?xf32>, %cu: tensor<?xi32>) {
  // expected-error @+1 {{expects dq of the shape and element type of its input ('tensor<?x4x64xf32>'), got 'tensor<?x4x128xf32>'}}
  %0:3 = attn.attention_grad %q, %k, %v, %o, %o, %lse, %cu {mask = #attn.mask<causal>}
      : tensor<?x4x64xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>, tensor<?x4x64xf32>, tensor<?x4x64xf32>, tensor<4x?xf32>, tensor<?xi32>
      -> tensor<?x4x128xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>
  return
}

// -----

// Gradients: T agrees with every operand's (q's T dynamic, k's 9), heads
// and head dims static.
func.func @grad_dq_tokens(%q: tensor<?x4x64xf32>, %k: tensor<9x2x64xf32>, %v: tensor<?x2x64xf32>, %o: tensor<?x4x64xf32>, %lse: tensor<4x?xf32>, %cu: tensor<?xi32>) {
  // expected-error @+1 {{expects dq of the other operands' token count (9), got 5}}
  %0:3 = attn.attention_grad %q, %k, %v, %o, %o, %lse, %cu {mask = #attn.mask<causal>}
      : tensor<?x4x64xf32>, tensor<9x2x64xf32>, tensor<?x2x64xf32>, tensor<?x4x64xf32>, tensor<?x4x64xf32>, tensor<4x?xf32>, tensor<?xi32>
      -> tensor<5x4x64xf32>, tensor<9x2x64xf32>, tensor<?x2x64xf32>
  return
}

// -----

// The gradients' static T agree with each other, the inputs' all dynamic.
func.func @grad_tokens_between_gradients(%q: tensor<?x4x64xf32>, %k: tensor<?x2x64xf32>, %v: tensor<?x2x64xf32>, %o: tensor<?x4x64xf32>, %do: tensor<10x4x64xf32>, %lse: tensor<4x?xf32>, %cu: tensor<?xi32>) {
  // expected-error @+1 {{expects dq of the other operands' token count (10), got 12}}
  %0:3 = attn.attention_grad %q, %k, %v, %o, %do, %lse, %cu {mask = #attn.mask<causal>}
      : tensor<?x4x64xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>, tensor<?x4x64xf32>, tensor<10x4x64xf32>, tensor<4x?xf32>, tensor<?xi32>
      -> tensor<12x4x64xf32>, tensor<7x2x64xf32>, tensor<?x2x64xf32>
  return
}

// -----

func.func @grad_dynamic_heads(%q: tensor<?x4x64xf32>, %k: tensor<?x2x64xf32>, %v: tensor<?x2x64xf32>, %o: tensor<?x4x64xf32>, %lse: tensor<4x?xf32>, %cu: tensor<?xi32>) {
  // expected-error @+1 {{expects dk of the shape and element type of its input ('tensor<?x2x64xf32>'), got 'tensor<?x?x?xf32>'}}
  %0:3 = attn.attention_grad %q, %k, %v, %o, %o, %lse, %cu {mask = #attn.mask<causal>}
      : tensor<?x4x64xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>, tensor<?x4x64xf32>, tensor<?x4x64xf32>, tensor<4x?xf32>, tensor<?xi32>
      -> tensor<?x4x64xf32>, tensor<?x?x?xf32>, tensor<?x2x64xf32>
  return
}

// -----

func.func @grad_dout_dynamic(%q: tensor<?x4x64xf32>, %k: tensor<?x2x64xf32>, %v: tensor<?x2x64xf32>, %o: tensor<?x4x64xf32>, %do: tensor<?x?x?xf32>, %lse: tensor<4x?xf32>, %cu: tensor<?xi32>) {
  // expected-error @+1 {{expects dout of the shape and element type of out ('tensor<?x4x64xf32>'), got 'tensor<?x?x?xf32>'}}
  %0:3 = attn.attention_grad %q, %k, %v, %o, %do, %lse, %cu {mask = #attn.mask<causal>}
      : tensor<?x4x64xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>, tensor<?x4x64xf32>, tensor<?x?x?xf32>, tensor<4x?xf32>, tensor<?xi32>
      -> tensor<?x4x64xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>
  return
}

// -----

func.func @grad_lse(%q: tensor<?x4x64xf32>, %k: tensor<?x2x64xf32>, %v: tensor<?x2x64xf32>, %o: tensor<?x4x64xf32>, %lse: tensor<2x?xf32>, %cu: tensor<?xi32>) {
  // expected-error @+1 {{expects lse of shape [Hq, T] = [4, ?] and element type f32, got 'tensor<2x?xf32>'}}
  %0:3 = attn.attention_grad %q, %k, %v, %o, %o, %lse, %cu {mask = #attn.mask<causal>}
      : tensor<?x4x64xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>, tensor<?x4x64xf32>, tensor<?x4x64xf32>, tensor<2x?xf32>, tensor<?xi32>
      -> tensor<?x4x64xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>
  return
}

// -----

func.func @grad_dv_type(%q: tensor<?x4x64xf32>, %k: tensor<?x2x64xf32>, %v: tensor<?x2x64xf32>, %o: tensor<?x4x64xf32>, %lse: tensor<4x?xf32>, %cu: tensor<?xi32>) {
  // expected-error @+1 {{expects dv of the shape and element type of its input ('tensor<?x2x64xf32>'), got 'tensor<?x2x64xbf16>'}}
  %0:3 = attn.attention_grad %q, %k, %v, %o, %o, %lse, %cu {mask = #attn.mask<causal>}
      : tensor<?x4x64xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>, tensor<?x4x64xf32>, tensor<?x4x64xf32>, tensor<4x?xf32>, tensor<?xi32>
      -> tensor<?x4x64xf32>, tensor<?x2x64xf32>, tensor<?x2x64xbf16>
  return
}

// -----

func.func @row_interval_cu(%cu: memref<?xf32>, %i: index) {
  // expected-error @+1 {{expects cu_seqlens to be a rank-1 tensor or memref of i32 or i64 with at least one entry}}
  %0:2 = attn.row_interval %cu, %i, %i {mask = #attn.mask<causal>} : memref<?xf32>
  return
}

// -----

// The document window is both bounds or none (only the generic form can
// give one).
func.func @row_interval_half_window(%cu: memref<?xi32>, %i: index) {
  // expected-error @+1 {{expects both doc_first and doc_last, or neither}}
  %0:2 = "attn.row_interval"(%cu, %i, %i, %i) {mask = #attn.mask<document, causal>, operandSegmentSizes = array<i32: 1, 1, 1, 1, 0>} : (memref<?xi32>, index, index, index) -> (index, index)
  return
}

// -----

// expected-error @+1 {{invalid mask: a window term requires the causal term}}
func.func private @window_without_causal() attributes {m = #attn.mask<document, window = 8>}

// -----

// expected-error @+1 {{unknown mask term 'sliding' (expected 'document', 'causal' or 'window')}}
func.func private @unknown_term() attributes {m = #attn.mask<document, sliding>}

// -----

// expected-error @+1 {{mask term 'causal' appears more than once}}
func.func private @repeated_term() attributes {m = #attn.mask<causal, causal>}

// -----

// expected-error @+1 {{mask window must be at least 1}}
func.func private @zero_window() attributes {m = #attn.mask<causal, window = 0>}

// -----

// Token positions are 32-bit: a window beyond them (k + window would also
// overflow the index arithmetic) is refused.
// expected-error @+1 {{invalid mask: window must be at most 2147483647 (token positions are 32-bit)}}
func.func @huge_window() attributes {m = #attn.mask<causal, window = 9223372036854775807>} {
  return
}
