// Attention: the fused scaled_dot_product_attention op and nn::MultiheadAttention, with
// PyTorch's parameter names ("in_proj_weight", "out_proj.weight", ...) and default init.
//
// Masks, with PyTorch's meaning in each argument (docs/pytorch.md, "Masks"):
// - MultiheadAttention (and the Transformer layers): a bool attn_mask or key_padding_mask has
//   True where attention is NOT allowed (a padded key, a future position: `ids == pad`,
//   `triu(ones({T, T}, kBool), 1)`); a float one is added to the scores (0 where allowed, -inf
//   where not: generate_square_subsequent_mask makes the causal one). A float key_padding_mask
//   is additive too, as in PyTorch 1.13 (not 0/1).
// - scaled_dot_product_attention: a bool attn_mask has True where a key TAKES PART (PyTorch 2's
//   F.scaled_dot_product_attention: `tril(ones({T, T}, kBool))` is causal); a float one is
//   added to the scores.
// A query row with no key left gives zeros (output and weights), not NaN.
#pragma once

#include <tuple>
#include <utility>

#include "ember/nn/linear.hpp"
#include "ember/nn/module.hpp"
#include "ember/options.hpp"

namespace ember::nn::functional {

// q [..., L, E], k [..., S, E], v [..., S, Ev] (same leading dims) -> [..., L, Ev]:
// softmax(q kᵀ / sqrt(E) + attn_mask) v, one op on the tape. attn_mask broadcasts to
// [..., L, S]: float (added) or bool (True = take part, False = -inf); is_causal hides key j > i
// from query i; dropout_p drops attention weights (training-time only: pass 0 in eval).
Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    const Tensor& attn_mask = Tensor(), double dropout_p = 0.0,
                                    bool is_causal = false);

// PyTorch's F.multi_head_attention_forward without bias_k, bias_v, add_zero_attn and
// static_k/v; plus batch_first (Ember's: [N, L, E] read in place, no transpose).
struct MultiheadAttentionForwardFuncOptions {
  MultiheadAttentionForwardFuncOptions(int64_t embed_dim_to_check, int64_t num_heads,
                                       Tensor in_proj_weight, Tensor in_proj_bias, double dropout_p,
                                       Tensor out_proj_weight, Tensor out_proj_bias)
      : embed_dim_to_check_(embed_dim_to_check),
        num_heads_(num_heads),
        in_proj_weight_(std::move(in_proj_weight)),
        in_proj_bias_(std::move(in_proj_bias)),
        dropout_p_(dropout_p),
        out_proj_weight_(std::move(out_proj_weight)),
        out_proj_bias_(std::move(out_proj_bias)) {}
  EMBER_ARG(int64_t, embed_dim_to_check);
  EMBER_ARG(int64_t, num_heads);
  EMBER_ARG(Tensor, in_proj_weight);  // [3E, E]; undefined with use_separate_proj_weight
  EMBER_ARG(Tensor, in_proj_bias);    // [3E] or undefined
  EMBER_ARG(double, dropout_p);
  EMBER_ARG(Tensor, out_proj_weight);  // [E, E]
  EMBER_ARG(Tensor, out_proj_bias);    // [E] or undefined
  EMBER_ARG(bool, training) = true;    // dropout only when training
  EMBER_ARG(Tensor, key_padding_mask) = Tensor();
  EMBER_ARG(bool, need_weights) = true;
  EMBER_ARG(Tensor, attn_mask) = Tensor();
  EMBER_ARG(bool, use_separate_proj_weight) = false;
  EMBER_ARG(Tensor, q_proj_weight) = Tensor();  // [E, E]
  EMBER_ARG(Tensor, k_proj_weight) = Tensor();  // [E, kdim]
  EMBER_ARG(Tensor, v_proj_weight) = Tensor();  // [E, vdim]
  EMBER_ARG(bool, average_attn_weights) = true;
  EMBER_ARG(bool, batch_first) = false;
};

// query [L, N, E] ([N, L, E] with batch_first, or unbatched [L, E]), key/value [S, N, kdim /
// vdim]; masks as MultiheadAttention::forward. Returns (output, weights): weights only with
// need_weights, [N, L, S] averaged over heads or [N, num_heads, L, S], differentiable as
// PyTorch's (they reach the query and key projections through the softmax).
std::tuple<Tensor, Tensor> multi_head_attention_forward(
    const Tensor& query, const Tensor& key, const Tensor& value,
    const MultiheadAttentionForwardFuncOptions& options);

}  // namespace ember::nn::functional

namespace ember::nn {

// [size, size] float mask: 0 on and below the diagonal, -inf above (PyTorch's
// Transformer.generate_square_subsequent_mask, and its dtype: kFloat64 for a float64 model;
// kBool gives True above the diagonal, a bool mask of the same meaning).
Tensor generate_square_subsequent_mask(int64_t size, Dtype dtype = kFloat32);

struct MultiheadAttentionOptions {
  MultiheadAttentionOptions(int64_t embed_dim, int64_t num_heads)
      : embed_dim_(embed_dim), num_heads_(num_heads) {}
  EMBER_ARG(int64_t, embed_dim);
  EMBER_ARG(int64_t, num_heads);
  EMBER_ARG(double, dropout) = 0.0;  // on the attention weights, in training
  EMBER_ARG(bool, bias) = true;
  EMBER_ARG(bool, batch_first) = false;  // [N, L, E] instead of [L, N, E]
  EMBER_ARG(int64_t, kdim) = 0;          // 0: embed_dim
  EMBER_ARG(int64_t, vdim) = 0;          // 0: embed_dim
};

class MultiheadAttention : public Module {
 public:
  explicit MultiheadAttention(const MultiheadAttentionOptions& options);
  MultiheadAttention(int64_t embed_dim, int64_t num_heads)
      : MultiheadAttention(MultiheadAttentionOptions(embed_dim, num_heads)) {}

  // query [L, N, E] ([N, L, E] with batch_first, or unbatched [L, E]); key/value [S, N, kdim /
  // vdim]. key_padding_mask [N, S]; attn_mask [L, S] or [N * num_heads, L, S]; each bool
  // (True = not allowed: `ids == pad`) or float (added to the scores). Returns the
  // output (query's shape) and, with need_weights, the attention weights [N, L, S] (averaged
  // over heads) or [N, num_heads, L, S], differentiable as PyTorch's. A shell over
  // functional::multi_head_attention_forward.
  std::tuple<Tensor, Tensor> forward(const Tensor& query, const Tensor& key, const Tensor& value,
                                     const Tensor& key_padding_mask = Tensor(),
                                     bool need_weights = true, const Tensor& attn_mask = Tensor(),
                                     bool average_attn_weights = true);
  std::tuple<Tensor, Tensor> operator()(const Tensor& query, const Tensor& key, const Tensor& value,
                                        const Tensor& key_padding_mask = Tensor(),
                                        bool need_weights = true,
                                        const Tensor& attn_mask = Tensor(),
                                        bool average_attn_weights = true) {
    return forward(query, key, value, key_padding_mask, need_weights, attn_mask,
                   average_attn_weights);
  }
  void reset_parameters();
  std::string extra_repr() const override;
  const MultiheadAttentionOptions& options() const { return options_; }

  // [3E, E] when kdim = vdim = embed_dim; otherwise q/k/v_proj_weight [E, E], [E, kdim],
  // [E, vdim] and in_proj_weight is undefined (as PyTorch's state_dict).
  Tensor in_proj_weight, q_proj_weight, k_proj_weight, v_proj_weight;
  Tensor in_proj_bias;  // [3E], undefined without bias
  Linear out_proj;

 private:
  MultiheadAttentionOptions options_;
  bool same_embed_dim_;
};

}  // namespace ember::nn
