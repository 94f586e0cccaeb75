// Private: the fused attention kernel behind scaled_dot_product_attention and
// multi_head_attention_forward. Heads are read where they lie (a head of a packed [.., 3E]
// projection is a pointer offset and a row stride handed to BLAS), so no op splits or merges heads.
#pragma once

#include <memory>
#include <vector>

#include "ember/autograd.hpp"

namespace ember::detail {

// Where head h of batch entry n starts in a buffer, and how far apart its rows are (a head's
// columns are adjacent).
struct HeadStrides {
  int64_t offset = 0, batch_stride = 0, head_stride = 0, row_stride = 0;
  int64_t at(int64_t n, int64_t h) const { return offset + n * batch_stride + h * head_stride; }
};

// An input's heads: where they sit in its storage (a view is read through its strides) and in
// its gradient (a contiguous tensor of its shape). The two agree for a tensor that is its
// whole storage.
struct HeadLayout {
  int input = 0;  // which of the op's inputs (for q, k, v)
  HeadStrides read, grad;
};

struct AttentionSpec {
  int64_t batch = 1, heads = 1, L = 0, S = 0, dk = 0, dv = 0;
  float scale = 1.f;
  HeadLayout q, k, v;
  HeadStrides out;
  Shape out_shape;
  // Additive [L, S] (shared) or [batch * heads, L, S]; may be null.
  const Array* attn_mask = nullptr;
  // Additive [batch, S] (-inf on a padded key); may be null.
  const Array* key_padding_mask = nullptr;
  bool is_causal = false;
  double dropout_p = 0.0;  // applied when > 0
  // Under autocast (attention_autocast): the products on bfloat16 operands, and q, k, v and
  // the weights kept for backward in bfloat16. Not with attention_weights.
  bool autocast = false;
  const char* op = "scaled_dot_product_attention";
};

struct AttentionResult {
  Tensor out;
  // [batch * heads, L, S]: the softmax, and the dropout scale per weight (empty without
  // dropout). What backward uses; attention_weights reports weights from them.
  std::shared_ptr<Array> probs, drop;
};

// inputs holds each distinct tensor q, k and v read from (a packed projection appears once).
AttentionResult attention(const std::vector<Tensor>& inputs, const AttentionSpec& spec);
// The same under autocast (spec.autocast; src/ops/attention_autocast.cpp): every product on
// bfloat16 operands summed in float32 (gemm_bf16), the softmax in float32. Its result's probs
// is null: the weights are kept in bfloat16, for backward only.
AttentionResult attention_autocast(const std::vector<Tensor>& inputs, const AttentionSpec& spec);

// Pieces both share. The dropout scale of every weight ([batch * heads, L, S], 0 or 1 / (1 -
// p)), or null without dropout.
std::shared_ptr<Array> dropout_scales(const AttentionSpec& s);
// Adds the masks to row i of head b's scores (batch entry n) and turns it into probabilities
// in place.
void softmax_row(float* row, int64_t i, int64_t n, int64_t b, const AttentionSpec& s);
// Backward's gradients, one per input: zeros of its shape where it needs one (every head adds
// its part, so q, k and v may share one packed tensor), and then handed over as Gradients.
std::vector<Array> zeroed_grads(const std::vector<Shape>& shapes, const std::vector<bool>& needs);
Gradients handed_over(std::vector<Array>& grads, const std::vector<bool>& needs);
// dP [L, S], the gradient of one head's weights (softmax P times dropout scale d, may be
// null), turned in place into the gradient of its scores.
void softmax_backward(const AttentionSpec& s, float* dP, const float* P, const float* d);

// The weights the attention of `result` applied (softmax times the dropout scale), as
// [batch, heads, L, S] on the tape: a second output of the same op, whose backward reaches q
// and k through the softmax (v does not enter the weights).
Tensor attention_weights(const std::vector<Tensor>& inputs, const AttentionSpec& spec,
                         const AttentionResult& result);

}  // namespace ember::detail
