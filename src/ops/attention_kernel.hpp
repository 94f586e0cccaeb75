// Private: the fused attention kernel behind scaled_dot_product_attention and
// multi_head_attention_forward. Heads are read where they lie (a head of a packed [.., 3E]
// projection is a pointer offset and a row stride handed to BLAS), so no op splits or merges heads.
// Written once for both floating dtypes: T is float for float32 tensors, double for float64
// (templates instantiated in attention.cpp); autocast's bfloat16 kernel is float32's only.
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

template <class T>
struct AttentionSpecOf {
  int64_t batch = 1, heads = 1, L = 0, S = 0, dk = 0, dv = 0;
  T scale = 1;
  HeadLayout q, k, v;
  HeadStrides out;
  Shape out_shape;
  // Additive [L, S] (shared) or [batch * heads, L, S]; may be null.
  const ArrayOf<T>* attn_mask = nullptr;
  // Additive [batch, S] (-inf on a padded key); may be null.
  const ArrayOf<T>* key_padding_mask = nullptr;
  bool is_causal = false;
  double dropout_p = 0.0;  // applied when > 0
  // Under autocast (attention_autocast): the products on bfloat16 operands, and q, k, v and
  // the weights kept for backward in bfloat16. Not with attention_weights; float32 only (a
  // float64 tensor is never autocast).
  bool autocast = false;
  const char* op = "scaled_dot_product_attention";
};
using AttentionSpec = AttentionSpecOf<float>;

template <class T>
struct AttentionResultOf {
  Tensor out;
  // [batch * heads, L, S]: the softmax, and the dropout scale per weight (empty without
  // dropout). What backward uses; attention_weights reports weights from them.
  std::shared_ptr<ArrayOf<T>> probs, drop;
};
using AttentionResult = AttentionResultOf<float>;

// inputs holds each distinct tensor q, k and v read from (a packed projection appears once),
// all of T's dtype.
template <class T>
AttentionResultOf<T> attention(const std::vector<Tensor>& inputs, const AttentionSpecOf<T>& spec);
// The same under autocast (spec.autocast; src/ops/attention_autocast.cpp): every product on
// bfloat16 operands summed in float32 (gemm_bf16), the softmax in float32. Its result's probs
// is null: the weights are kept in bfloat16, for backward only.
AttentionResult attention_autocast(const std::vector<Tensor>& inputs, const AttentionSpec& spec);

// Pieces both share. The dropout scale of every weight ([batch * heads, L, S], 0 or 1 / (1 -
// p)), or null without dropout.
template <class T>
std::shared_ptr<ArrayOf<T>> dropout_scales(const AttentionSpecOf<T>& s);
// Adds the masks to row i of head b's scores (batch entry n) and turns it into probabilities
// in place.
template <class T>
void softmax_row(T* row, int64_t i, int64_t n, int64_t b, const AttentionSpecOf<T>& s);
// Backward's gradients, one per input: zeros of its shape where it needs one (every head adds
// its part, so q, k and v may share one packed tensor), and then handed over as Gradients.
template <class T>
std::vector<ArrayOf<T>> zeroed_grads(const std::vector<Shape>& shapes,
                                     const std::vector<bool>& needs);
template <class T>
Gradients handed_over(std::vector<ArrayOf<T>>& grads, const std::vector<bool>& needs);
// dP [L, S], the gradient of one head's weights (softmax P times dropout scale d, may be
// null), turned in place into the gradient of its scores.
template <class T>
void softmax_backward(const AttentionSpecOf<T>& s, T* dP, const T* P, const T* d);

// The weights the attention of `result` applied (softmax times the dropout scale), as
// [batch, heads, L, S] on the tape: a second output of the same op, whose backward reaches q
// and k through the softmax (v does not enter the weights).
template <class T>
Tensor attention_weights(const std::vector<Tensor>& inputs, const AttentionSpecOf<T>& spec,
                         const AttentionResultOf<T>& result);

// An attention mask as an additive tensor of `dtype` (the scores'): a float32 or float64 mask
// converted (PyTorch takes a float mask of the query's dtype), a bool one as 0 / -inf
// (`hidden`: True means -inf, MultiheadAttention's meaning; else False does,
// scaled_dot_product_attention's). Another dtype throws naming `op` and `what`.
Tensor additive_mask_as(const Tensor& mask, Dtype dtype, bool hidden, const char* op,
                        const char* what);
// Throws DtypeError naming `op` unless every defined tensor of `tensors` (named by `names`)
// has the first one's dtype (PyTorch: "expected ... to have the same dtype").
void check_same_dtype(const char* op, const std::vector<Tensor>& tensors,
                      const std::vector<const char*>& names);

}  // namespace ember::detail
