// The fused attention op: forward keeps the softmax once ([batch*heads, L, S]) and backward
// reuses it; per head one gemm for the scores, one for the output, four in backward. Rows
// are normalised with the max subtracted, and a row with every key masked gives zeros.
#include "ember/nn/attention.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "../bool_values.hpp"
#include "../dense.hpp"
#include "../gemm.hpp"
#include "attention_kernel.hpp"
#include "ember/autocast.hpp"
#include "ember/parallel.hpp"
#include "kernels.hpp"

namespace ember::detail {

// Adds the masks to one row of scores and turns it into probabilities in place.
void softmax_row(float* row, int64_t i, int64_t n, int64_t b, const AttentionSpec& s) {
  const int64_t S = s.S;
  if (s.attn_mask) {
    const bool shared = s.attn_mask->dimension() == 2;
    const float* m = s.attn_mask->data() + (shared ? 0 : b * s.L * S) + i * S;
    for (int64_t j = 0; j < S; ++j) row[j] += m[j];
  }
  if (s.key_padding_mask) {  // additive too: -inf on a padded key
    const float* pad = s.key_padding_mask->data() + n * S;
    for (int64_t j = 0; j < S; ++j) row[j] += pad[j];
  }
  if (s.is_causal)
    for (int64_t j = i + 1; j < S; ++j) row[j] = -INFINITY;
  const float m = kernels::max_of(row, S);
  if (m == -INFINITY) {  // no key left: zeros, not 0/0
    std::fill(row, row + S, 0.f);
    return;
  }
  const float inv = 1.f / kernels::exp_shifted(row, row, S, m);
  for (int64_t j = 0; j < S; ++j) row[j] *= inv;
}

std::shared_ptr<Array> dropout_scales(const AttentionSpec& s) {
  if (s.dropout_p <= 0.0) return nullptr;
  // Drawn up front from the seeded generator: thread count free.
  auto drop = std::make_shared<Array>(detail::pack(rand({s.batch * s.heads, s.L, s.S})));
  const float keep = static_cast<float>(1.0 / (1.0 - s.dropout_p)), p = float(s.dropout_p);
  for (float& u : *drop) u = s.dropout_p >= 1.0 ? 0.f : (u >= p ? keep : 0.f);
  return drop;
}

std::vector<Array> zeroed_grads(const std::vector<Shape>& shapes, const std::vector<bool>& needs) {
  std::vector<Array> grads(shapes.size());
  for (size_t i = 0; i < shapes.size(); ++i)
    if (needs[i]) grads[i] = xt::zeros<float>(to_xshape(shapes[i]));
  return grads;
}

Gradients handed_over(std::vector<Array>& grads, const std::vector<bool>& needs) {
  Gradients out(grads.size());
  for (size_t i = 0; i < grads.size(); ++i)
    if (needs[i]) out[i] = std::move(grads[i]);
  return out;
}

void softmax_backward(const AttentionSpec& s, float* dP, const float* P, const float* d) {
  const int64_t L = s.L, S = s.S;
  for (int64_t i = 0; i < L; ++i) {
    float* row = dP + i * S;
    const float* p = P + i * S;
    if (d)
      for (int64_t j = 0; j < S; ++j) row[j] *= d[i * S + j];
    float dot = 0.f;
    for (int64_t j = 0; j < S; ++j) dot += row[j] * p[j];
    for (int64_t j = 0; j < S; ++j) row[j] = p[j] * (row[j] - dot);
  }
}

namespace {

// dP [L, S] holds the gradient of one head's weights (softmax times dropout scale d, may be
// null); turns it into the scores' gradient in place and adds dQ = scale dS K and
// dK = scale dSᵀ Q into dq / dk (either may be null).
void scores_backward(const AttentionSpec& s, int64_t n, int64_t h, float* dP, const float* P,
                     const float* d, const float* Q, const float* K, Array* dq, Array* dk) {
  const int64_t L = s.L, S = s.S;
  softmax_backward(s, dP, P, d);
  if (dq)
    sgemm(false, false, L, s.dk, S, s.scale, dP, S, K, s.k.read.row_stride, 1.f,
          dq->data() + s.q.grad.at(n, h), s.q.grad.row_stride);
  if (dk)
    sgemm(true, false, S, s.dk, L, s.scale, dP, S, Q, s.q.read.row_stride, 1.f,
          dk->data() + s.k.grad.at(n, h), s.k.grad.row_stride);
}

}  // namespace

AttentionResult attention(const std::vector<Tensor>& inputs, const AttentionSpec& spec) {
  if (spec.autocast) return attention_autocast(inputs, spec);
  const AttentionSpec s = spec;
  const int64_t BH = s.batch * s.heads, L = s.L, S = s.S;
  // Each input read where it sits (HeadLayout::read), never packed.
  std::vector<decltype(inputs[0].storage())> data;
  std::vector<Shape> shapes;
  for (const Tensor& t : inputs) {
    data.push_back(t.storage());
    shapes.push_back(t.shape());
  }
  auto probs = std::make_shared<Array>(
      Array::from_shape({static_cast<size_t>(BH), static_cast<size_t>(L), static_cast<size_t>(S)}));
  std::shared_ptr<Array> drop = dropout_scales(s);
  Array out = Array::from_shape(detail::to_xshape(s.out_shape));
  const int64_t work = BH * L * S * (s.dk + s.dv) * 2;
  parallel_rows(BH, work, [&](int64_t lo, int64_t hi) {
    std::vector<float> dropped(drop ? static_cast<size_t>(L * S) : 0);
    for (int64_t b = lo; b < hi; ++b) {
      const int64_t n = b / s.heads, h = b % s.heads;
      const float* Q = data[s.q.input].storage_data() + s.q.read.at(n, h);
      const float* K = data[s.k.input].storage_data() + s.k.read.at(n, h);
      const float* V = data[s.v.input].storage_data() + s.v.read.at(n, h);
      float* P = probs->data() + b * L * S;
      sgemm(false, true, L, S, s.dk, s.scale, Q, s.q.read.row_stride, K, s.k.read.row_stride, 0.f,
            P, S);
      for (int64_t i = 0; i < L; ++i) softmax_row(P + i * S, i, n, b, s);
      const float* weights = P;
      if (drop) {
        const float* d = drop->data() + b * L * S;
        for (int64_t j = 0; j < L * S; ++j) dropped[j] = P[j] * d[j];
        weights = dropped.data();
      }
      sgemm(false, false, L, s.dv, S, 1.f, weights, S, V, s.v.read.row_stride, 0.f,
            out.data() + s.out.at(n, h), s.out.row_stride);
    }
  });

  std::vector<bool> needs;
  for (const Tensor& t : inputs) needs.push_back(t.requires_grad());
  Tensor result = make_output(std::move(out), s.op, inputs, [=](const Array& g) {
    std::vector<Array> grads = zeroed_grads(shapes, needs);
    const bool dq = needs[s.q.input], dk = needs[s.k.input], dv = needs[s.v.input];
    parallel_rows(BH, work * 2, [&](int64_t lo, int64_t hi) {
      std::vector<float> dP(static_cast<size_t>(L * S)), dropped(drop ? L * S : 0);
      for (int64_t b = lo; b < hi; ++b) {
        const int64_t n = b / s.heads, h = b % s.heads;
        const float* Q = data[s.q.input].storage_data() + s.q.read.at(n, h);
        const float* K = data[s.k.input].storage_data() + s.k.read.at(n, h);
        const float* V = data[s.v.input].storage_data() + s.v.read.at(n, h);
        const float* G = g.data() + s.out.at(n, h);
        const float* P = probs->data() + b * L * S;
        const float* d = drop ? drop->data() + b * L * S : nullptr;
        const float* weights = P;
        if (d) {
          for (int64_t j = 0; j < L * S; ++j) dropped[j] = P[j] * d[j];
          weights = dropped.data();
        }
        if (dv)  // dV += weightsᵀ · G
          sgemm(true, false, S, s.dv, L, 1.f, weights, S, G, s.out.row_stride, 1.f,
                grads[s.v.input].data() + s.v.grad.at(n, h), s.v.grad.row_stride);
        if (!dq && !dk) continue;
        // dP = G · Vᵀ, then through the dropout scale and the softmax into q and k.
        sgemm(false, true, L, S, s.dv, 1.f, G, s.out.row_stride, V, s.v.read.row_stride, 0.f,
              dP.data(), S);
        scores_backward(s, n, h, dP.data(), P, d, Q, K, dq ? &grads[s.q.input] : nullptr,
                        dk ? &grads[s.k.input] : nullptr);
      }
    });
    return handed_over(grads, needs);
  });
  return {result, probs, drop};
}

Tensor attention_weights(const std::vector<Tensor>& inputs, const AttentionSpec& spec,
                         const AttentionResult& result) {
  const AttentionSpec s = spec;
  const int64_t BH = s.batch * s.heads, L = s.L, S = s.S;
  auto probs = result.probs, drop = result.drop;
  Array w = drop ? Array(*probs * *drop) : *probs;
  w.reshape({static_cast<size_t>(s.batch), static_cast<size_t>(s.heads), static_cast<size_t>(L),
             static_cast<size_t>(S)});
  std::vector<decltype(inputs[0].storage())> data;
  std::vector<Shape> shapes;
  std::vector<bool> needs;
  for (const Tensor& t : inputs) {
    data.push_back(t.storage());
    shapes.push_back(t.shape());
    needs.push_back(t.requires_grad());
  }
  return make_output(std::move(w), "attention_weights", inputs, [=](const Array& g) {
    // Only q's and k's inputs get a gradient; a packed projection holding both gets one.
    std::vector<Array> grads(data.size());
    std::vector<bool> has(data.size(), false);
    const bool dq = needs[s.q.input], dk = needs[s.k.input];
    for (int i : {dq ? s.q.input : -1, dk ? s.k.input : -1})
      if (i >= 0 && !has[i]) {
        grads[i] = xt::zeros<float>(to_xshape(shapes[i]));
        has[i] = true;
      }
    parallel_rows(BH, BH * L * S * s.dk * 4, [&](int64_t lo, int64_t hi) {
      std::vector<float> dP(static_cast<size_t>(L * S));
      for (int64_t b = lo; b < hi; ++b) {
        const int64_t n = b / s.heads, h = b % s.heads;
        std::copy(g.data() + b * L * S, g.data() + (b + 1) * L * S, dP.begin());
        scores_backward(s, n, h, dP.data(), probs->data() + b * L * S,
                        drop ? drop->data() + b * L * S : nullptr,
                        data[s.q.input].storage_data() + s.q.read.at(n, h),
                        data[s.k.input].storage_data() + s.k.read.at(n, h),
                        dq ? &grads[s.q.input] : nullptr, dk ? &grads[s.k.input] : nullptr);
      }
    });
    Gradients out_grads(data.size());
    for (size_t i = 0; i < data.size(); ++i)
      if (has[i]) out_grads[i] = std::move(grads[i]);
    return out_grads;
  });
}

}  // namespace ember::detail

namespace ember::nn::functional {

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    const Tensor& attn_mask, double dropout_p, bool is_causal) {
  const char* op = "scaled_dot_product_attention";
  Shape sq = q.shape(), sk = k.shape(), sv = v.shape();
  EMBER_CHECK_SHAPE(sq.size() >= 2 && sk.size() == sq.size() && sv.size() == sq.size(), op,
                    ": q, k and v must have the same number of dims (at least 2), got ",
                    detail::shape_str(sq), ", ", detail::shape_str(sk), " and ",
                    detail::shape_str(sv));
  const size_t r = sq.size();
  bool same_batch = Shape(sq.begin(), sq.end() - 2) == Shape(sk.begin(), sk.end() - 2) &&
                    Shape(sq.begin(), sq.end() - 2) == Shape(sv.begin(), sv.end() - 2);
  EMBER_CHECK_SHAPE(same_batch && sq[r - 1] == sk[r - 1] && sk[r - 2] == sv[r - 2], op, ": q ",
                    detail::shape_str(sq), ", k ", detail::shape_str(sk), " and v ",
                    detail::shape_str(sv),
                    " do not fit (expected [..., L, E], [..., S, E], [..., S, Ev])");
  EMBER_CHECK_VALUE(dropout_p >= 0.0 && dropout_p <= 1.0, op, ": dropout_p must be in [0, 1], got ",
                    dropout_p);
  detail::AttentionSpec s;
  s.op = op;
  s.L = sq[r - 2];
  s.S = sk[r - 2];
  s.dk = sq[r - 1];
  s.dv = sv[r - 1];
  for (size_t i = 0; i + 2 < r; ++i) s.batch *= sq[i];
  s.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(s.dk)));
  s.is_causal = is_causal;
  s.dropout_p = dropout_p;
  s.autocast = autocast::is_enabled();
  s.out_shape = sq;
  s.out_shape.back() = s.dv;
  // The batch dims as [batch, heads]: heads the one before the matrix, batch the rest merged
  // (q, k and v share them).
  s.heads = r >= 3 ? sq[r - 3] : 1;
  s.batch = 1;
  for (size_t i = 0; i + 3 < r; ++i) s.batch *= sq[i];
  // Where a tensor of shape `shape` and `strides` keeps its heads, if the layout allows
  // (adjacent columns, batch dims that merge); a view's strides, a gradient's contiguous ones.
  auto heads_in = [r](const Shape& shape, const Shape& strides, int64_t offset,
                      detail::HeadStrides& h) {
    for (size_t d = 0; d + 4 < r; ++d)
      if (shape[d] != 1 && strides[d] != strides[d + 1] * shape[d + 1]) return false;
    if (shape[r - 1] != 1 && strides[r - 1] != 1) return false;
    h.offset = offset;
    h.row_stride = shape[r - 2] == 1 ? std::max<int64_t>(shape[r - 1], 1) : strides[r - 2];
    h.head_stride = r >= 3 ? strides[r - 3] : 0;
    h.batch_stride = r >= 4 ? strides[r - 4] : 0;
    return true;
  };
  // q, k and v read where they sit: a head-split view ([B, T, H, D] transposed to [B, H, T,
  // D]) is a pointer and strides, not a copy. Another layout is packed once, here.
  std::vector<Tensor> inputs, given;  // what the kernel reads; what the caller passed
  auto layout = [&](const Tensor& t) {
    detail::HeadLayout l;
    const Shape shape = t.shape();
    heads_in(shape, detail::contiguous_strides(shape), 0, l.grad);
    const bool in_place = heads_in(shape, t.strides(), t.storage_offset(), l.read);
    if (!in_place) l.read = l.grad;
    l.input = -1;
    for (size_t i = 0; i < given.size(); ++i)
      if (given[i].impl() == t.impl()) l.input = static_cast<int>(i);
    if (l.input < 0) {
      l.input = static_cast<int>(inputs.size());
      inputs.push_back(in_place ? t : t.contiguous());
      given.push_back(t);
    }
    return l;
  };
  s.q = layout(q);
  s.k = layout(k);
  s.v = layout(v);
  heads_in(s.out_shape, detail::contiguous_strides(s.out_shape), 0, s.out);
  Array mask;
  if (attn_mask.defined()) {
    // A bool mask says which keys take part (True), as PyTorch's scaled_dot_product_attention.
    const Tensor additive = detail::additive_mask(attn_mask, false, op, "attn_mask");
    // Broadcast to [..., L, S]; kept as [L, S] when it is one matrix for every batch entry.
    Shape target = s.out_shape;
    target[r - 1] = s.S;
    Shape sm = attn_mask.shape();
    bool ok = sm.size() <= target.size();
    for (size_t i = 0; ok && i < sm.size(); ++i) {
      int64_t d = sm[sm.size() - 1 - i], t = target[target.size() - 1 - i];
      ok = d == 1 || d == t;
    }
    EMBER_CHECK_SHAPE(ok, op, ": attn_mask shape ", detail::shape_str(sm),
                      " does not broadcast to the scores' shape ", detail::shape_str(target));
    int64_t lead = 1;
    for (size_t i = 0; i + 2 < sm.size(); ++i) lead *= sm[i];
    if (lead == 1) {
      Array matrix = detail::pack(additive);
      matrix.reshape({static_cast<size_t>(sm.size() >= 2 ? sm[sm.size() - 2] : 1),
                      static_cast<size_t>(sm.empty() ? 1 : sm.back())});
      mask = xt::broadcast(matrix, {static_cast<size_t>(s.L), static_cast<size_t>(s.S)});
    } else {
      mask = xt::broadcast(additive.data(), detail::to_xshape(target));  // through its strides
      mask.reshape({static_cast<size_t>(s.batch * s.heads), static_cast<size_t>(s.L),
                    static_cast<size_t>(s.S)});
    }
    s.attn_mask = &mask;
  }
  return detail::attention(inputs, s).out;
}

}  // namespace ember::nn::functional

namespace ember::nn {

Tensor generate_square_subsequent_mask(int64_t size) {
  EMBER_CHECK_VALUE(size >= 0, "generate_square_subsequent_mask: size must be >= 0, got ", size);
  Tensor m = zeros({size, size});
  Array values = detail::own_values(m);  // borrows m's storage: written in place
  for (int64_t i = 0; i < size; ++i)
    for (int64_t j = i + 1; j < size; ++j) values(i, j) = -INFINITY;
  return m;
}

}  // namespace ember::nn
