// multi_head_attention_forward: input projections, the fused attention kernel reading each
// head in place from the projections, and the output projection. Self-attention (query, key
// and value the same tensor) projects with one gemm into a packed [.., 3E] tensor.
#include <cmath>
#include <type_traits>

#include "../bool_values.hpp"
#include "../dense.hpp"
#include "attention_kernel.hpp"
#include "ember/gemm.hpp"
#include "ember/nn/attention.hpp"
#include "ember/ops.hpp"
#include "op_helpers.hpp"

namespace ember::nn::functional {

namespace {

// y = x · W[row0 : row0 + out]ᵀ + b[b0 : b0 + out]: one part of a packed projection, its
// gradients written into the full W and b. T: float for float32 tensors, double for float64.
template <class T>
Tensor project(const Tensor& x, const Tensor& w, int64_t row0, int64_t out, const Tensor& b,
               int64_t b0) {
  const int64_t in = w.size(1), rows = x.numel() / in;
  auto X = detail::saved<T>(x), W = detail::saved<T>(w);
  Shape shape = x.shape();
  shape.back() = out;
  ArrayOf<T> y = ArrayOf<T>::from_shape(detail::to_xshape(shape));
  T beta = 0;
  if (b.defined()) {
    auto fill = [&](const auto& bias) {
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < out; ++j) y.data()[r * out + j] = bias[b0 + j];
    };
    if constexpr (std::is_same_v<T, float>)
      fill(detail::strided_1d(b));  // read through its stride
    else
      fill(detail::pack<T>(b));  // float64 has no strided reader: a copy of 3E values
    beta = 1;
  }
  ember::gemm(false, true, rows, out, in, T(1), X->data(), in, W->data() + row0 * in, in, beta,
              y.data(), out);
  const bool need_x = x.requires_grad(), need_w = w.requires_grad();
  const bool has_b = b.defined(), need_b = has_b && b.requires_grad();
  const int64_t bias_size = has_b ? b.numel() : 0;
  std::vector<Tensor> inputs{x, w};
  if (has_b) inputs.push_back(b);
  return make_output(std::move(y), "in_projection", inputs, [=](const ArrayOf<T>& g) {
    Gradients grads(has_b ? 3 : 2);
    if (need_x) {
      ArrayOf<T> dx = ArrayOf<T>::from_shape(X->shape());
      ember::gemm(false, false, rows, in, out, T(1), g.data(), out, W->data() + row0 * in, in, T(0),
                  dx.data(), in);
      grads[0] = std::move(dx);
    }
    if (need_w) {
      ArrayOf<T> dw = xt::zeros<T>(W->shape());
      ember::gemm(true, false, out, in, rows, T(1), g.data(), out, X->data(), in, T(0),
                  dw.data() + row0 * in, in);
      grads[1] = std::move(dw);
    }
    if (need_b) {
      ArrayOf<T> db = xt::zeros<T>({static_cast<size_t>(bias_size)});
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < out; ++j) db.data()[b0 + j] += g.data()[r * out + j];
      grads[2] = std::move(db);
    }
    return grads;
  });
}

}  // namespace

std::tuple<Tensor, Tensor> multi_head_attention_forward(
    const Tensor& query_in, const Tensor& key_in, const Tensor& value_in,
    const MultiheadAttentionForwardFuncOptions& o) {
  const char* op = "multi_head_attention_forward";
  const int64_t E = o.embed_dim_to_check(), H = o.num_heads();
  EMBER_CHECK_VALUE(E > 0 && H > 0 && E % H == 0, op, ": embed_dim ", E,
                    " must be a positive multiple of num_heads ", H);
  EMBER_CHECK_VALUE(o.dropout_p() >= 0.0 && o.dropout_p() <= 1.0, op,
                    ": dropout_p must be in [0, 1], got ", o.dropout_p());
  const int64_t hd = E / H;
  const bool unbatched = query_in.dim() == 2;
  EMBER_CHECK_SHAPE((query_in.dim() == 3 || unbatched) && key_in.dim() == query_in.dim() &&
                        value_in.dim() == query_in.dim(),
                    op, ": query, key and value must all be 3-D (or all 2-D unbatched), got ",
                    detail::shape_str(query_in.shape()), ", ", detail::shape_str(key_in.shape()),
                    " and ", detail::shape_str(value_in.shape()));
  // Unbatched input runs as a batch of one, sequence first.
  const bool batch_first = o.batch_first() && !unbatched;
  Tensor query = unbatched ? query_in.unsqueeze(1) : query_in;
  Tensor key = unbatched ? key_in.unsqueeze(1) : key_in;
  Tensor value = unbatched ? value_in.unsqueeze(1) : value_in;
  if (unbatched && query_in.impl() == key_in.impl() && key_in.impl() == value_in.impl())
    key = value = query;
  const int seq = batch_first ? 1 : 0, bat = batch_first ? 0 : 1;
  const int64_t L = query.size(seq), N = query.size(bat), S = key.size(seq);
  const bool separate = o.use_separate_proj_weight();
  const Tensor& w_in = o.in_proj_weight();
  const Tensor& b_in = o.in_proj_bias();
  const int64_t kdim = separate && o.k_proj_weight().defined() ? o.k_proj_weight().size(-1) : E;
  const int64_t vdim = separate && o.v_proj_weight().defined() ? o.v_proj_weight().size(-1) : E;
  EMBER_CHECK_SHAPE(query.size(2) == E, op, ": query shape ", detail::shape_str(query_in.shape()),
                    " does not match embed_dim ", E);
  EMBER_CHECK_SHAPE(key.size(2) == kdim && value.size(2) == vdim && key.size(bat) == N &&
                        value.size(bat) == N && value.size(seq) == S,
                    op, ": key ", detail::shape_str(key_in.shape()), " and value ",
                    detail::shape_str(value_in.shape()), " do not fit query ",
                    detail::shape_str(query_in.shape()), " (kdim ", kdim, ", vdim ", vdim, ")");
  if (separate) {
    const Shape want_q{E, E}, want_k{E, kdim}, want_v{E, vdim};
    EMBER_CHECK_SHAPE(o.q_proj_weight().defined() && o.k_proj_weight().defined() &&
                          o.v_proj_weight().defined() && o.q_proj_weight().shape() == want_q &&
                          o.k_proj_weight().shape() == want_k &&
                          o.v_proj_weight().shape() == want_v,
                      op, ": use_separate_proj_weight needs q_proj_weight ",
                      detail::shape_str(want_q), ", k_proj_weight ", detail::shape_str(want_k),
                      " and v_proj_weight ", detail::shape_str(want_v));
  } else {
    EMBER_CHECK_SHAPE(w_in.defined() && w_in.shape() == (Shape{3 * E, E}), op,
                      ": in_proj_weight should be ", detail::shape_str({3 * E, E}), ", got ",
                      w_in.defined() ? detail::shape_str(w_in.shape()) : "undefined");
  }
  EMBER_CHECK_SHAPE(!b_in.defined() || b_in.shape() == Shape{3 * E}, op, ": in_proj_bias shape ",
                    detail::shape_str(b_in.shape()), " should be [", 3 * E, "]");
  EMBER_CHECK_SHAPE(o.out_proj_weight().defined() && o.out_proj_weight().shape() == (Shape{E, E}),
                    op, ": out_proj_weight should be ", detail::shape_str({E, E}));
  // Every tensor of the layer in one dtype, as PyTorch's linear requires; the masks are
  // converted to it.
  detail::check_same_dtype(
      op,
      {query, key, value, w_in, b_in, o.q_proj_weight(), o.k_proj_weight(), o.v_proj_weight(),
       o.out_proj_weight(), o.out_proj_bias()},
      {"query", "key", "value", "in_proj_weight", "in_proj_bias", "q_proj_weight", "k_proj_weight",
       "v_proj_weight", "out_proj_weight", "out_proj_bias"});
  return detail::by_dtype(query, op, [&](auto real) -> std::tuple<Tensor, Tensor> {
    using T = decltype(real);
    detail::AttentionSpecOf<T> s;
    s.op = "multi_head_attention";
    s.batch = N;
    s.heads = H;
    s.L = L;
    s.S = S;
    s.dk = s.dv = hd;
    s.scale = static_cast<T>(1.0 / std::sqrt(static_cast<double>(hd)));
    s.dropout_p = o.training() ? o.dropout_p() : 0.0;
    s.out_shape = query.shape();
    auto layout = [&](int input, int64_t c0, int64_t width, int64_t length) {
      detail::HeadLayout l;  // in a fresh projection: its storage and its gradient alike
      l.input = input;
      l.read.offset = c0;
      l.read.head_stride = hd;
      l.read.batch_stride = batch_first ? length * width : width;
      l.read.row_stride = batch_first ? width : N * width;
      l.grad = l.read;
      return l;
    };
    std::vector<Tensor> inputs;
    if (!separate && query.impl() == key.impl() && key.impl() == value.impl()) {
      inputs.push_back(linear(query, w_in, b_in));  // [.., 3E], one gemm
      s.q = layout(0, 0, 3 * E, L);
      s.k = layout(0, E, 3 * E, L);
      s.v = layout(0, 2 * E, 3 * E, L);
    } else {
      auto part = [&](const Tensor& x, int i, const Tensor& own) {
        return separate ? project<T>(x, own, 0, E, b_in, i * E)
                        : project<T>(x, w_in, i * E, E, b_in, i * E);
      };
      inputs.push_back(part(query, 0, o.q_proj_weight()));
      inputs.push_back(part(key, 1, o.k_proj_weight()));
      inputs.push_back(part(value, 2, o.v_proj_weight()));
      s.q = layout(0, 0, E, L);
      s.k = layout(1, 0, E, S);
      s.v = layout(2, 0, E, S);
    }
    s.out = layout(0, 0, E, L).read;
    ArrayOf<T> padding, mask;
    const Tensor& key_padding_mask = o.key_padding_mask();
    if (key_padding_mask.defined()) {
      const Shape want = unbatched ? Shape{S} : Shape{N, S};
      EMBER_CHECK_SHAPE(key_padding_mask.shape() == want, op, ": key_padding_mask shape ",
                        detail::shape_str(key_padding_mask.shape()), " should be ",
                        detail::shape_str(want));
      // True = a padded key (-inf); a float mask is added to the scores, as PyTorch 1.13's.
      padding = detail::pack<T>(
          detail::additive_mask_as(key_padding_mask, query.dtype(), true, op, "key_padding_mask"));
      s.key_padding_mask = &padding;
    }
    if (o.attn_mask().defined()) {
      Shape sm = o.attn_mask().shape();
      EMBER_CHECK_SHAPE(sm == (Shape{L, S}) || sm == (Shape{N * H, L, S}), op, ": attn_mask shape ",
                        detail::shape_str(sm), " should be ", detail::shape_str({L, S}), " or ",
                        detail::shape_str({N * H, L, S}));
      // True = not allowed (-inf); a float mask is added to the scores.
      mask = detail::pack<T>(
          detail::additive_mask_as(o.attn_mask(), query.dtype(), true, op, "attn_mask"));
      s.attn_mask = &mask;
    }
    // Under autocast in bfloat16, unless the weights are asked for (they are read from float32
    // probabilities); a float64 layer never is.
    s.autocast = std::is_same_v<T, float> && ::ember::detail::attention_autocasts(inputs) &&
                 !o.need_weights();
    detail::AttentionResultOf<T> r = detail::attention(inputs, s);
    Tensor out = linear(r.out, o.out_proj_weight(), o.out_proj_bias());
    if (unbatched) out = out.squeeze(1);
    if (!o.need_weights()) return {out, Tensor()};
    Tensor weights = detail::attention_weights(inputs, s, r);  // [N, H, L, S]
    if (o.average_attn_weights()) weights = mean(weights, {1});
    if (unbatched) weights = weights.squeeze(0);
    return {out, weights};
  });
}

}  // namespace ember::nn::functional
