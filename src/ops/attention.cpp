// The fused attention op: forward keeps the softmax once ([batch*heads, L, S]) and backward
// reuses it; per head one gemm for the scores, one for the output, four in backward. Rows
// are normalised with the max subtracted, and a row with every key masked gives zeros.
// Written once for float32 and float64 (T = float or double): float32 keeps its vectorised
// softmax and sgemm, float64 runs plain loops and dgemm (ember::gemm picks by type).
#include "ember/nn/attention.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "../bool_values.hpp"
#include "../dense.hpp"
#include "attention_kernel.hpp"
#include "ember/gemm.hpp"
#include "ember/parallel.hpp"
#include "kernels.hpp"
#include "op_helpers.hpp"

namespace ember::detail {

// Adds the masks to one row of scores and turns it into probabilities in place.
template <class T>
void softmax_row(T* row, int64_t i, int64_t n, int64_t b, const AttentionSpecOf<T>& s) {
  const int64_t S = s.S;
  if (s.attn_mask) {
    const bool shared = s.attn_mask->dimension() == 2;
    const T* m = s.attn_mask->data() + (shared ? 0 : b * s.L * S) + i * S;
    for (int64_t j = 0; j < S; ++j) row[j] += m[j];
  }
  if (s.key_padding_mask) {  // additive too: -inf on a padded key
    const T* pad = s.key_padding_mask->data() + n * S;
    for (int64_t j = 0; j < S; ++j) row[j] += pad[j];
  }
  if (s.is_causal)
    for (int64_t j = i + 1; j < S; ++j) row[j] = -INFINITY;
  T m = -INFINITY, total = 0;
  if constexpr (std::is_same_v<T, float>) {
    m = kernels::max_of(row, S);
  } else {
    for (int64_t j = 0; j < S; ++j) m = std::max(m, row[j]);
  }
  if (m == -INFINITY) {  // no key left: zeros, not 0/0
    std::fill(row, row + S, T(0));
    return;
  }
  if constexpr (std::is_same_v<T, float>) {
    total = kernels::exp_shifted(row, row, S, m);
  } else {
    for (int64_t j = 0; j < S; ++j) total += row[j] = std::exp(row[j] - m);
  }
  const T inv = T(1) / total;
  for (int64_t j = 0; j < S; ++j) row[j] *= inv;
}

template <class T>
std::shared_ptr<ArrayOf<T>> dropout_scales(const AttentionSpecOf<T>& s) {
  if (s.dropout_p <= 0.0) return nullptr;
  // Drawn up front from the seeded generator: thread count free. float32 draws for both
  // dtypes, so that one seed drops the same weights in float32 and float64.
  auto drop = std::make_shared<ArrayOf<T>>(detail::pack(rand({s.batch * s.heads, s.L, s.S})));
  const T keep = static_cast<T>(1.0 / (1.0 - s.dropout_p)), p = float(s.dropout_p);
  for (T& u : *drop) u = s.dropout_p >= 1.0 ? T(0) : (u >= p ? keep : T(0));
  return drop;
}

template <class T>
std::vector<ArrayOf<T>> zeroed_grads(const std::vector<Shape>& shapes,
                                     const std::vector<bool>& needs) {
  std::vector<ArrayOf<T>> grads(shapes.size());
  for (size_t i = 0; i < shapes.size(); ++i)
    if (needs[i]) grads[i] = xt::zeros<T>(to_xshape(shapes[i]));
  return grads;
}

template <class T>
Gradients handed_over(std::vector<ArrayOf<T>>& grads, const std::vector<bool>& needs) {
  Gradients out(grads.size());
  for (size_t i = 0; i < grads.size(); ++i)
    if (needs[i]) out[i] = std::move(grads[i]);
  return out;
}

template <class T>
void softmax_backward(const AttentionSpecOf<T>& s, T* dP, const T* P, const T* d) {
  const int64_t L = s.L, S = s.S;
  for (int64_t i = 0; i < L; ++i) {
    T* row = dP + i * S;
    const T* p = P + i * S;
    if (d)
      for (int64_t j = 0; j < S; ++j) row[j] *= d[i * S + j];
    T dot = 0;
    for (int64_t j = 0; j < S; ++j) dot += row[j] * p[j];
    for (int64_t j = 0; j < S; ++j) row[j] = p[j] * (row[j] - dot);
  }
}

Tensor additive_mask_as(const Tensor& mask, Dtype dtype, bool hidden, const char* op,
                        const char* what) {
  const bool floating = mask.dtype() == kFloat32 || mask.dtype() == kFloat64;
  // A bool mask's 0 / -inf are exact in either dtype; another dtype throws in additive_mask.
  return (floating ? mask : additive_mask(mask, hidden, op, what)).to(dtype);
}

void check_same_dtype(const char* op, const std::vector<Tensor>& tensors,
                      const std::vector<const char*>& names) {
  const Dtype first = tensors[0].dtype();
  for (size_t i = 1; i < tensors.size(); ++i)
    EMBER_CHECK_DTYPE(!tensors[i].defined() || tensors[i].dtype() == first, op, ": expected ",
                      names[i], " to have the dtype of ", names[0], " (", dtype_name(first),
                      "), got ", dtype_name(tensors[i].dtype()),
                      " (as PyTorch, convert with .to(dtype))");
}

namespace {

// dP [L, S] holds the gradient of one head's weights (softmax times dropout scale d, may be
// null); turns it into the scores' gradient in place and adds dQ = scale dS K and
// dK = scale dSᵀ Q into dq / dk (either may be null).
template <class T>
void scores_backward(const AttentionSpecOf<T>& s, int64_t n, int64_t h, T* dP, const T* P,
                     const T* d, const T* Q, const T* K, ArrayOf<T>* dq, ArrayOf<T>* dk) {
  const int64_t L = s.L, S = s.S;
  softmax_backward(s, dP, P, d);
  if (dq)
    ember::gemm(false, false, L, s.dk, S, s.scale, dP, S, K, s.k.read.row_stride, T(1),
                dq->data() + s.q.grad.at(n, h), s.q.grad.row_stride);
  if (dk)
    ember::gemm(true, false, S, s.dk, L, s.scale, dP, S, Q, s.q.read.row_stride, T(1),
                dk->data() + s.k.grad.at(n, h), s.k.grad.row_stride);
}

}  // namespace

template <class T>
AttentionResultOf<T> attention(const std::vector<Tensor>& inputs, const AttentionSpecOf<T>& spec) {
  if constexpr (std::is_same_v<T, float>) {
    if (spec.autocast) return attention_autocast(inputs, spec);
  }
  const AttentionSpecOf<T> s = spec;
  const int64_t BH = s.batch * s.heads, L = s.L, S = s.S;
  // Each input read where it sits (HeadLayout::read), never packed.
  std::vector<SavedValuesOf<T>> data;
  std::vector<Shape> shapes;
  for (const Tensor& t : inputs) {
    data.push_back(detail::saved<T>(t));
    shapes.push_back(t.shape());
  }
  auto probs = std::make_shared<ArrayOf<T>>(ArrayOf<T>::from_shape(
      {static_cast<size_t>(BH), static_cast<size_t>(L), static_cast<size_t>(S)}));
  std::shared_ptr<ArrayOf<T>> drop = dropout_scales(s);
  ArrayOf<T> out = ArrayOf<T>::from_shape(detail::to_xshape(s.out_shape));
  const int64_t work = BH * L * S * (s.dk + s.dv) * 2;
  parallel_rows(BH, work, [&](int64_t lo, int64_t hi) {
    std::vector<T> dropped(drop ? static_cast<size_t>(L * S) : 0);
    for (int64_t b = lo; b < hi; ++b) {
      const int64_t n = b / s.heads, h = b % s.heads;
      const T* Q = data[s.q.input].storage_data() + s.q.read.at(n, h);
      const T* K = data[s.k.input].storage_data() + s.k.read.at(n, h);
      const T* V = data[s.v.input].storage_data() + s.v.read.at(n, h);
      T* P = probs->data() + b * L * S;
      ember::gemm(false, true, L, S, s.dk, s.scale, Q, s.q.read.row_stride, K, s.k.read.row_stride,
                  T(0), P, S);
      for (int64_t i = 0; i < L; ++i) softmax_row(P + i * S, i, n, b, s);
      const T* weights = P;
      if (drop) {
        const T* d = drop->data() + b * L * S;
        for (int64_t j = 0; j < L * S; ++j) dropped[j] = P[j] * d[j];
        weights = dropped.data();
      }
      ember::gemm(false, false, L, s.dv, S, T(1), weights, S, V, s.v.read.row_stride, T(0),
                  out.data() + s.out.at(n, h), s.out.row_stride);
    }
  });

  std::vector<bool> needs;
  for (const Tensor& t : inputs) needs.push_back(t.requires_grad());
  Tensor result = make_output(std::move(out), s.op, inputs, [=](const ArrayOf<T>& g) {
    std::vector<ArrayOf<T>> grads = zeroed_grads<T>(shapes, needs);
    const bool dq = needs[s.q.input], dk = needs[s.k.input], dv = needs[s.v.input];
    parallel_rows(BH, work * 2, [&](int64_t lo, int64_t hi) {
      std::vector<T> dP(static_cast<size_t>(L * S)), dropped(drop ? L * S : 0);
      for (int64_t b = lo; b < hi; ++b) {
        const int64_t n = b / s.heads, h = b % s.heads;
        const T* Q = data[s.q.input].storage_data() + s.q.read.at(n, h);
        const T* K = data[s.k.input].storage_data() + s.k.read.at(n, h);
        const T* V = data[s.v.input].storage_data() + s.v.read.at(n, h);
        const T* G = g.data() + s.out.at(n, h);
        const T* P = probs->data() + b * L * S;
        const T* d = drop ? drop->data() + b * L * S : nullptr;
        const T* weights = P;
        if (d) {
          for (int64_t j = 0; j < L * S; ++j) dropped[j] = P[j] * d[j];
          weights = dropped.data();
        }
        if (dv)  // dV += weightsᵀ · G
          ember::gemm(true, false, S, s.dv, L, T(1), weights, S, G, s.out.row_stride, T(1),
                      grads[s.v.input].data() + s.v.grad.at(n, h), s.v.grad.row_stride);
        if (!dq && !dk) continue;
        // dP = G · Vᵀ, then through the dropout scale and the softmax into q and k.
        ember::gemm(false, true, L, S, s.dv, T(1), G, s.out.row_stride, V, s.v.read.row_stride,
                    T(0), dP.data(), S);
        scores_backward(s, n, h, dP.data(), P, d, Q, K, dq ? &grads[s.q.input] : nullptr,
                        dk ? &grads[s.k.input] : nullptr);
      }
    });
    return handed_over(grads, needs);
  });
  return {result, probs, drop};
}

template <class T>
Tensor attention_weights(const std::vector<Tensor>& inputs, const AttentionSpecOf<T>& spec,
                         const AttentionResultOf<T>& result) {
  const AttentionSpecOf<T> s = spec;
  const int64_t BH = s.batch * s.heads, L = s.L, S = s.S;
  auto probs = result.probs, drop = result.drop;
  ArrayOf<T> w = drop ? ArrayOf<T>(*probs * *drop) : *probs;
  w.reshape({static_cast<size_t>(s.batch), static_cast<size_t>(s.heads), static_cast<size_t>(L),
             static_cast<size_t>(S)});
  std::vector<SavedValuesOf<T>> data;
  std::vector<Shape> shapes;
  std::vector<bool> needs;
  for (const Tensor& t : inputs) {
    data.push_back(detail::saved<T>(t));
    shapes.push_back(t.shape());
    needs.push_back(t.requires_grad());
  }
  return make_output(std::move(w), "attention_weights", inputs, [=](const ArrayOf<T>& g) {
    // Only q's and k's inputs get a gradient; a packed projection holding both gets one.
    std::vector<ArrayOf<T>> grads(data.size());
    std::vector<bool> has(data.size(), false);
    const bool dq = needs[s.q.input], dk = needs[s.k.input];
    for (int i : {dq ? s.q.input : -1, dk ? s.k.input : -1})
      if (i >= 0 && !has[i]) {
        grads[i] = xt::zeros<T>(to_xshape(shapes[i]));
        has[i] = true;
      }
    parallel_rows(BH, BH * L * S * s.dk * 4, [&](int64_t lo, int64_t hi) {
      std::vector<T> dP(static_cast<size_t>(L * S));
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
    return handed_over(grads, has);
  });
}

// Both dtypes' kernels; autocast's file uses float32's pieces.
#define EMBER_ATTENTION_KERNELS(T)                                                                \
  template void softmax_row(T*, int64_t, int64_t, int64_t, const AttentionSpecOf<T>&);            \
  template std::shared_ptr<ArrayOf<T>> dropout_scales(const AttentionSpecOf<T>&);                 \
  template std::vector<ArrayOf<T>> zeroed_grads<T>(const std::vector<Shape>&,                     \
                                                   const std::vector<bool>&);                     \
  template Gradients handed_over(std::vector<ArrayOf<T>>&, const std::vector<bool>&);             \
  template void softmax_backward(const AttentionSpecOf<T>&, T*, const T*, const T*);              \
  template AttentionResultOf<T> attention(const std::vector<Tensor>&, const AttentionSpecOf<T>&); \
  template Tensor attention_weights(const std::vector<Tensor>&, const AttentionSpecOf<T>&,        \
                                    const AttentionResultOf<T>&);
EMBER_ATTENTION_KERNELS(float)
EMBER_ATTENTION_KERNELS(double)
#undef EMBER_ATTENTION_KERNELS

}  // namespace ember::detail

namespace ember::nn::functional {

namespace {

// The op in T (float for float32 q, k, v; double for float64), after the shapes were checked.
template <class T>
Tensor sdpa_of(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& attn_mask,
               double dropout_p, bool is_causal) {
  const char* op = "scaled_dot_product_attention";
  Shape sq = q.shape(), sk = k.shape(), sv = v.shape();
  const size_t r = sq.size();
  detail::AttentionSpecOf<T> s;
  s.op = op;
  s.L = sq[r - 2];
  s.S = sk[r - 2];
  s.dk = sq[r - 1];
  s.dv = sv[r - 1];
  s.scale = static_cast<T>(1.0 / std::sqrt(static_cast<double>(s.dk)));
  s.is_causal = is_causal;
  s.dropout_p = dropout_p;
  s.autocast = std::is_same_v<T, float> && ::ember::detail::attention_autocasts({q, k, v});
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
  ArrayOf<T> mask;
  if (attn_mask.defined()) {
    // A bool mask says which keys take part (True), as PyTorch's scaled_dot_product_attention;
    // a float one is added in q's dtype.
    const Tensor additive = detail::additive_mask_as(attn_mask, q.dtype(), false, op, "attn_mask");
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
      ArrayOf<T> matrix = detail::pack<T>(additive);
      matrix.reshape({static_cast<size_t>(sm.size() >= 2 ? sm[sm.size() - 2] : 1),
                      static_cast<size_t>(sm.empty() ? 1 : sm.back())});
      mask = xt::broadcast(matrix, {static_cast<size_t>(s.L), static_cast<size_t>(s.S)});
    } else {
      detail::with_values_of<T>(additive, [&](const auto& m) {  // a view through its strides
        mask = xt::broadcast(m, detail::to_xshape(target));
      });
      mask.reshape({static_cast<size_t>(s.batch * s.heads), static_cast<size_t>(s.L),
                    static_cast<size_t>(s.S)});
    }
    s.attn_mask = &mask;
  }
  return detail::attention(inputs, s).out;
}

}  // namespace

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
  detail::check_same_dtype(op, {q, k, v}, {"q", "k", "v"});
  return detail::by_dtype(q, op, [&](auto real) {
    return sdpa_of<decltype(real)>(q, k, v, attn_mask, dropout_p, is_causal);
  });
}

}  // namespace ember::nn::functional

namespace ember::nn {

Tensor generate_square_subsequent_mask(int64_t size, Dtype dtype) {
  EMBER_CHECK_VALUE(size >= 0, "generate_square_subsequent_mask: size must be >= 0, got ", size);
  Tensor m = zeros({size, size});
  Array values = detail::own_values(m);  // borrows m's storage: written in place
  for (int64_t i = 0; i < size; ++i)
    for (int64_t j = i + 1; j < size; ++j) values(i, j) = -INFINITY;
  // 0 and -inf are exact in every dtype; a bool mask is True above the diagonal (hidden), as
  // PyTorch's with dtype=torch.bool.
  return m.to(dtype);
}

}  // namespace ember::nn
