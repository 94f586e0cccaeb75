// Attention: the fused scaled_dot_product_attention op and nn::MultiheadAttention, with
// PyTorch's parameter names ("in_proj_weight", "out_proj.weight", ...) and default init.
//
// Masks are float tensors, as Ember has no bool dtype:
// - attn_mask is added to the scores (0 where allowed, -inf where not: PyTorch's float form;
//   generate_square_subsequent_mask makes the causal one);
// - key_padding_mask is 0/1 with 1 = a padded key that no query attends to (PyTorch's bool
//   True).
// A query row with no key left gives zeros (output and weights), not NaN.
#pragma once

#include <tuple>

#include "ember/nn/linear.hpp"
#include "ember/nn/module.hpp"
#include "ember/options.hpp"

namespace ember::nn::functional {

// q [..., L, E], k [..., S, E], v [..., S, Ev] (same leading dims) -> [..., L, Ev]:
// softmax(q kᵀ / sqrt(E) + attn_mask) v, one op on the tape. attn_mask broadcasts to
// [..., L, S]; is_causal hides key j > i from query i; dropout_p drops attention weights
// (training-time only: pass 0 in eval).
Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    const Tensor& attn_mask = Tensor(), double dropout_p = 0.0,
                                    bool is_causal = false);

}  // namespace ember::nn::functional

namespace ember::nn {

// [size, size] float mask: 0 on and below the diagonal, -inf above (PyTorch's
// Transformer.generate_square_subsequent_mask).
Tensor generate_square_subsequent_mask(int64_t size);

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
  // vdim]. key_padding_mask [N, S]; attn_mask [L, S] or [N * num_heads, L, S]. Returns the
  // output (query's shape) and, with need_weights, the attention weights [N, L, S] (averaged
  // over heads) or [N, num_heads, L, S]; the weights are not differentiable.
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
