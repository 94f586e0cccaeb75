// nn::MultiheadAttention: input projections, the fused attention kernel reading each head in
// place from the projections, and out_proj. Self-attention (query, key and value the same
// tensor) projects with one gemm into a packed [.., 3E] tensor.
#include <cmath>

#include "../src/ops/gemm.hpp"
#include "attention_kernel.hpp"
#include "ember/nn/attention.hpp"
#include "ember/nn/init.hpp"
#include "ember/ops.hpp"

namespace ember::nn {

namespace {

// y = x · W[row0 : row0 + out]ᵀ + b[b0 : b0 + out]: one part of a packed projection, its
// gradients written into the full W and b.
Tensor project(const Tensor& x, const Tensor& w, int64_t row0, int64_t out, const Tensor& b,
               int64_t b0) {
  const int64_t in = w.size(1), rows = x.numel() / in;
  auto X = x.storage(), W = w.storage();
  Shape shape = x.shape();
  shape.back() = out;
  Array y = Array::from_shape(detail::to_xshape(shape));
  float beta = 0.f;
  if (b.defined()) {
    const float* bias = b.data().data() + b0;
    for (int64_t r = 0; r < rows; ++r) std::copy(bias, bias + out, y.data() + r * out);
    beta = 1.f;
  }
  detail::gemm(false, true, rows, out, in, 1.f, X->data(), in, W->data() + row0 * in, in, beta,
               y.data(), out);
  const bool need_x = x.requires_grad(), need_w = w.requires_grad();
  const bool has_b = b.defined(), need_b = has_b && b.requires_grad();
  const int64_t bias_size = has_b ? b.numel() : 0;
  std::vector<Tensor> inputs{x, w};
  if (has_b) inputs.push_back(b);
  return make_output(std::move(y), "in_projection", inputs, [=](const Array& g) {
    Gradients grads(has_b ? 3 : 2);
    if (need_x) {
      Array dx = Array::from_shape(X->shape());
      detail::gemm(false, false, rows, in, out, 1.f, g.data(), out, W->data() + row0 * in, in, 0.f,
                   dx.data(), in);
      grads[0] = std::move(dx);
    }
    if (need_w) {
      Array dw = xt::zeros<float>(W->shape());
      detail::gemm(true, false, out, in, rows, 1.f, g.data(), out, X->data(), in, 0.f,
                   dw.data() + row0 * in, in);
      grads[1] = std::move(dw);
    }
    if (need_b) {
      Array db = xt::zeros<float>({static_cast<size_t>(bias_size)});
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < out; ++j) db.data()[b0 + j] += g.data()[r * out + j];
      grads[2] = std::move(db);
    }
    return grads;
  });
}

}  // namespace

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

std::tuple<Tensor, Tensor> MultiheadAttention::forward(const Tensor& query_in, const Tensor& key_in,
                                                       const Tensor& value_in,
                                                       const Tensor& key_padding_mask,
                                                       bool need_weights, const Tensor& attn_mask,
                                                       bool average_attn_weights) {
  const char* op = "MultiheadAttention";
  const int64_t E = options_.embed_dim(), H = options_.num_heads(), hd = E / H;
  const bool unbatched = query_in.dim() == 2;
  EMBER_CHECK_SHAPE((query_in.dim() == 3 || unbatched) && key_in.dim() == query_in.dim() &&
                        value_in.dim() == query_in.dim(),
                    op, ": query, key and value must all be 3-D (or all 2-D unbatched), got ",
                    detail::shape_str(query_in.shape()), ", ", detail::shape_str(key_in.shape()),
                    " and ", detail::shape_str(value_in.shape()));
  // Unbatched input runs as a batch of one, sequence first.
  const bool batch_first = options_.batch_first() && !unbatched;
  Tensor query = unbatched ? query_in.unsqueeze(1) : query_in;
  Tensor key = unbatched ? key_in.unsqueeze(1) : key_in;
  Tensor value = unbatched ? value_in.unsqueeze(1) : value_in;
  if (unbatched && query_in.impl() == key_in.impl() && key_in.impl() == value_in.impl())
    key = value = query;
  const int seq = batch_first ? 1 : 0, bat = batch_first ? 0 : 1;
  const int64_t L = query.size(seq), N = query.size(bat), S = key.size(seq);
  EMBER_CHECK_SHAPE(query.size(2) == E, op, ": query shape ", detail::shape_str(query_in.shape()),
                    " does not match embed_dim ", E);
  EMBER_CHECK_SHAPE(key.size(2) == options_.kdim() && value.size(2) == options_.vdim() &&
                        key.size(bat) == N && value.size(bat) == N && value.size(seq) == S,
                    op, ": key ", detail::shape_str(key_in.shape()), " and value ",
                    detail::shape_str(value_in.shape()), " do not fit query ",
                    detail::shape_str(query_in.shape()), " (kdim ", options_.kdim(), ", vdim ",
                    options_.vdim(), ")");
  detail::AttentionSpec s;
  s.op = "multi_head_attention";
  s.batch = N;
  s.heads = H;
  s.L = L;
  s.S = S;
  s.dk = s.dv = hd;
  s.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)));
  s.dropout_p = is_training() ? options_.dropout() : 0.0;
  s.out_shape = query.shape();
  auto layout = [&](int input, int64_t c0, int64_t width, int64_t length) {
    detail::HeadLayout l;
    l.input = input;
    l.offset = c0;
    l.head_stride = hd;
    l.batch_stride = batch_first ? length * width : width;
    l.row_stride = batch_first ? width : N * width;
    return l;
  };
  std::vector<Tensor> inputs;
  if (same_embed_dim_ && query.impl() == key.impl() && key.impl() == value.impl()) {
    inputs.push_back(linear(query, in_proj_weight, in_proj_bias));  // [.., 3E], one gemm
    s.q = layout(0, 0, 3 * E, L);
    s.k = layout(0, E, 3 * E, L);
    s.v = layout(0, 2 * E, 3 * E, L);
  } else {
    auto part = [&](const Tensor& x, int i, const Tensor& separate) {
      return same_embed_dim_ ? project(x, in_proj_weight, i * E, E, in_proj_bias, i * E)
                             : project(x, separate, 0, E, in_proj_bias, i * E);
    };
    inputs.push_back(part(query, 0, q_proj_weight));
    inputs.push_back(part(key, 1, k_proj_weight));
    inputs.push_back(part(value, 2, v_proj_weight));
    s.q = layout(0, 0, E, L);
    s.k = layout(1, 0, E, S);
    s.v = layout(2, 0, E, S);
  }
  s.out = layout(0, 0, E, L);
  Array padding, mask;
  if (key_padding_mask.defined()) {
    EMBER_CHECK_SHAPE(key_padding_mask.shape() == (unbatched ? Shape{S} : Shape{N, S}), op,
                      ": key_padding_mask shape ", detail::shape_str(key_padding_mask.shape()),
                      " should be ", detail::shape_str(unbatched ? Shape{S} : Shape{N, S}));
    padding = key_padding_mask.data();
    s.key_padding_mask = &padding;
  }
  if (attn_mask.defined()) {
    Shape sm = attn_mask.shape();
    EMBER_CHECK_SHAPE(sm == (Shape{L, S}) || sm == (Shape{N * H, L, S}), op, ": attn_mask shape ",
                      detail::shape_str(sm), " should be ", detail::shape_str({L, S}), " or ",
                      detail::shape_str({N * H, L, S}));
    mask = attn_mask.data();
    s.attn_mask = &mask;
  }
  detail::AttentionResult r = detail::attention(inputs, s);
  Tensor out = out_proj(r.out);
  if (unbatched) out = out.squeeze(1);
  if (!need_weights) return {out, Tensor()};
  Array w = r.drop ? Array(*r.probs * *r.drop) : *r.probs;
  w.reshape({static_cast<size_t>(N), static_cast<size_t>(H), static_cast<size_t>(L),
             static_cast<size_t>(S)});
  Tensor weights(std::move(w));
  if (average_attn_weights) weights = mean(weights, {1});
  if (unbatched) weights = weights.squeeze(0);
  return {out, weights};
}

std::string MultiheadAttention::extra_repr() const {
  return "embed_dim=" + std::to_string(options_.embed_dim()) +
         ", num_heads=" + std::to_string(options_.num_heads()) +
         ", batch_first=" + (options_.batch_first() ? "True" : "False");
}

}  // namespace ember::nn
