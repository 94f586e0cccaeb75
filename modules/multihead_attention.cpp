// nn::MultiheadAttention: PyTorch's parameters and init over
// functional::multi_head_attention_forward (src/ops/multihead_attention.cpp).
#include "ember/nn/attention.hpp"
#include "ember/nn/init.hpp"

namespace ember::nn {

MultiheadAttention::MultiheadAttention(const MultiheadAttentionOptions& options)
    : out_proj(options.embed_dim() > 0 ? options.embed_dim() : 1,
               options.embed_dim() > 0 ? options.embed_dim() : 1, options.bias()),
      options_(options) {
  const int64_t E = options.embed_dim(), H = options.num_heads();
  EMBER_CHECK_VALUE(E > 0 && H > 0, "MultiheadAttention: embed_dim and num_heads must be ",
                    "positive, got ", E, " and ", H);
  EMBER_CHECK_VALUE(E % H == 0, "MultiheadAttention: embed_dim ", E,
                    " must be divisible by num_heads ", H);
  EMBER_CHECK_VALUE(options.dropout() >= 0.0 && options.dropout() <= 1.0,
                    "MultiheadAttention: dropout must be in [0, 1], got ", options.dropout());
  if (options_.kdim() == 0) options_.kdim(E);
  if (options_.vdim() == 0) options_.vdim(E);
  same_embed_dim_ = options_.kdim() == E && options_.vdim() == E;
  if (same_embed_dim_) {
    in_proj_weight = register_parameter("in_proj_weight", zeros({3 * E, E}));
  } else {
    q_proj_weight = register_parameter("q_proj_weight", zeros({E, E}));
    k_proj_weight = register_parameter("k_proj_weight", zeros({E, options_.kdim()}));
    v_proj_weight = register_parameter("v_proj_weight", zeros({E, options_.vdim()}));
  }
  if (options.bias()) in_proj_bias = register_parameter("in_proj_bias", zeros({3 * E}));
  register_module("out_proj", out_proj);
  reset_parameters();
}

void MultiheadAttention::reset_parameters() {
  // PyTorch's _reset_parameters: xavier for the input projections, zero biases; out_proj
  // keeps Linear's weight init.
  for (Tensor* w : {&in_proj_weight, &q_proj_weight, &k_proj_weight, &v_proj_weight})
    if (w->defined()) init::xavier_uniform_(*w);
  if (in_proj_bias.defined()) {
    init::zeros_(in_proj_bias);
    init::zeros_(out_proj.bias);
  }
}

std::tuple<Tensor, Tensor> MultiheadAttention::forward(const Tensor& query, const Tensor& key,
                                                       const Tensor& value,
                                                       const Tensor& key_padding_mask,
                                                       bool need_weights, const Tensor& attn_mask,
                                                       bool average_attn_weights) {
  const char* op = "MultiheadAttention";
  const int64_t E = options_.embed_dim();
  const bool unbatched = query.dim() == 2;
  EMBER_CHECK_SHAPE(
      (query.dim() == 3 || unbatched) && key.dim() == query.dim() && value.dim() == query.dim(), op,
      ": query, key and value must all be 3-D (or all 2-D unbatched), got ",
      detail::shape_str(query.shape()), ", ", detail::shape_str(key.shape()), " and ",
      detail::shape_str(value.shape()));
  // The layer's own checks, named after it; the functional op checks the rest.
  const int seq = options_.batch_first() && !unbatched ? 1 : 0;
  const int bat = unbatched ? -1 : 1 - seq;
  const int64_t L = query.size(seq), S = key.size(seq), N = unbatched ? 1 : query.size(bat);
  EMBER_CHECK_SHAPE(query.size(-1) == E, op, ": query shape ", detail::shape_str(query.shape()),
                    " does not match embed_dim ", E);
  EMBER_CHECK_SHAPE(
      key.size(-1) == options_.kdim() && value.size(-1) == options_.vdim() &&
          (unbatched || (key.size(bat) == N && value.size(bat) == N)) && value.size(seq) == S,
      op, ": key ", detail::shape_str(key.shape()), " and value ", detail::shape_str(value.shape()),
      " do not fit query ", detail::shape_str(query.shape()), " (kdim ", options_.kdim(), ", vdim ",
      options_.vdim(), ")");
  if (key_padding_mask.defined()) {
    const Shape want = unbatched ? Shape{S} : Shape{N, S};
    EMBER_CHECK_SHAPE(key_padding_mask.shape() == want, op, ": key_padding_mask shape ",
                      detail::shape_str(key_padding_mask.shape()), " should be ",
                      detail::shape_str(want));
  }
  if (attn_mask.defined()) {
    const Shape sm = attn_mask.shape(), shared{L, S}, per_head{N * options_.num_heads(), L, S};
    EMBER_CHECK_SHAPE(sm == shared || sm == per_head, op, ": attn_mask shape ",
                      detail::shape_str(sm), " should be ", detail::shape_str(shared), " or ",
                      detail::shape_str(per_head));
  }
  return functional::multi_head_attention_forward(
      query, key, value,
      functional::MultiheadAttentionForwardFuncOptions(E, options_.num_heads(), in_proj_weight,
                                                       in_proj_bias, options_.dropout(),
                                                       out_proj.weight, out_proj.bias)
          .training(is_training())
          .key_padding_mask(key_padding_mask)
          .need_weights(need_weights)
          .attn_mask(attn_mask)
          .use_separate_proj_weight(!same_embed_dim_)
          .q_proj_weight(q_proj_weight)
          .k_proj_weight(k_proj_weight)
          .v_proj_weight(v_proj_weight)
          .average_attn_weights(average_attn_weights)
          .batch_first(options_.batch_first()));
}

std::string MultiheadAttention::extra_repr() const {
  return "embed_dim=" + std::to_string(options_.embed_dim()) +
         ", num_heads=" + std::to_string(options_.num_heads()) +
         ", batch_first=" + (options_.batch_first() ? "True" : "False");
}

}  // namespace ember::nn
