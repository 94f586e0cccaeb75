// Dropout (composed from differentiable primitives) and layer norm (one fused op).
#include <cmath>
#include <numeric>
#include <random>

#include "ember/autograd.hpp"
#include "ember/nn/functional.hpp"
#include "ember/parallel.hpp"
#include "op_helpers.hpp"

namespace ember::nn::functional {

Tensor dropout(const Tensor& input, double p, bool training) {
  EMBER_CHECK_VALUE(p >= 0.0 && p <= 1.0, "dropout: probability must be in [0, 1], got ", p);
  if (!training || p == 0.0) return input;
  if (p == 1.0) return input * zeros_like(input);
  // Uniforms from the seeded generator; keep where u >= p, scaled so the expectation is kept.
  Tensor mask = rand(input.shape());
  float scale = static_cast<float>(1.0 / (1.0 - p));
  Array m = detail::own_values(mask);  // borrows the mask's storage: written in place
  for (float& v : m) v = v >= static_cast<float>(p) ? scale : 0.f;
  return input * mask;
}

Tensor layer_norm(const Tensor& input, const Shape& normalized_shape, const Tensor& weight,
                  const Tensor& bias, double eps) {
  Shape s = input.shape();
  size_t k = normalized_shape.size();
  bool ok = k >= 1 && k <= s.size() &&
            Shape(s.end() - static_cast<int64_t>(k), s.end()) == normalized_shape;
  EMBER_CHECK_SHAPE(ok, "layer_norm: normalized_shape ", detail::shape_str(normalized_shape),
                    " does not match the trailing dims of input shape ", detail::shape_str(s));
  for (const Tensor* t : {&weight, &bias}) {
    if (!t->defined()) continue;
    EMBER_CHECK_SHAPE(t->shape() == normalized_shape, "layer_norm: weight/bias shape ",
                      detail::shape_str(t->shape()), " must be normalized_shape ",
                      detail::shape_str(normalized_shape));
  }
  int64_t D = 1;
  for (int64_t d : normalized_shape) D *= d;
  const int64_t rows = D == 0 ? 0 : input.numel() / D;
  // One fused op: per row the mean and the inverse deviation (kept for backward, 2 floats a
  // row), then the normalised, scaled and shifted row. The tape holds one node, not nine.
  // The input read where it sits: a row's elements straight from the storage when they are
  // adjacent there, else gathered one row at a time.
  auto X = input.storage();
  const ViewLayout layout = detail::layout_of(input);
  Shape trailing(k);
  std::iota(trailing.begin(), trailing.end(), static_cast<int64_t>(s.size() - k));
  const detail::Reduction by_row = detail::make_reduction(s, trailing, false, "layer_norm");
  const bool has_w = weight.defined(), has_b = bias.defined();
  // The weight and bias read where they sit too: all of a parameter is one "row" (straight
  // from its storage when contiguous, else gathered into a buffer of normalized_shape).
  const detail::Reduction whole = detail::make_reduction(normalized_shape, {}, false, "layer_norm");
  auto W = has_w ? weight.storage() : decltype(weight.storage()){};
  const ViewLayout w_layout = has_w ? detail::layout_of(weight) : ViewLayout{};
  std::vector<float> w_buffer, b_buffer;
  const float* w = has_w ? detail::RowReader(weight, whole).row(0, w_buffer) : nullptr;
  const float* b = has_b ? detail::RowReader(bias, whole).row(0, b_buffer) : nullptr;
  auto stats = std::make_shared<std::vector<float>>(static_cast<size_t>(2 * rows));
  Array y = Array::from_shape(detail::to_xshape(s));
  const detail::RowReader x_rows(X.storage_data(), layout, by_row);
  detail::parallel_rows(rows, rows * D * 4, [&](int64_t lo, int64_t hi) {
    std::vector<float> row_buffer;
    for (int64_t r = lo; r < hi; ++r) {
      const float* x = x_rows.row(r, row_buffer);
      float* out = y.data() + r * D;
      double total = 0;
      for (int64_t j = 0; j < D; ++j) total += x[j];
      const double mu = total / static_cast<double>(D);
      double sq = 0;
      for (int64_t j = 0; j < D; ++j) sq += (x[j] - mu) * (x[j] - mu);
      const float mean_f = static_cast<float>(mu);
      const float rstd = static_cast<float>(1.0 / std::sqrt(sq / static_cast<double>(D) + eps));
      (*stats)[2 * r] = mean_f;
      (*stats)[2 * r + 1] = rstd;
      for (int64_t j = 0; j < D; ++j) {
        float v = (x[j] - mean_f) * rstd;
        if (w) v *= w[j];
        if (b) v += b[j];
        out[j] = v;
      }
    }
  });
  const bool need_x = input.requires_grad(), need_w = has_w && weight.requires_grad(),
             need_b = has_b && bias.requires_grad();
  std::vector<Tensor> inputs{input};
  if (has_w) inputs.push_back(weight);
  if (has_b) inputs.push_back(bias);
  const size_t n_inputs = inputs.size();
  return make_output(std::move(y), "native_layer_norm", inputs, [=](const Array& g) {
    Gradients grads(n_inputs);
    std::vector<float> w_buffer;
    const float* wv =
        has_w ? detail::RowReader(W.storage_data(), w_layout, whole).row(0, w_buffer) : nullptr;
    const detail::RowReader x_rows(X.storage_data(), layout, by_row);
    // xhat of row r's element j, where x is that row as x_rows.row gave it.
    auto xhat = [&](const float* x, int64_t r, int64_t j) {
      return (x[j] - (*stats)[2 * r]) * (*stats)[2 * r + 1];
    };
    if (need_x) {
      // dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), dxhat = g * w.
      Array dx = Array::from_shape(detail::to_xshape(s));
      detail::parallel_rows(rows, rows * D * 6, [&](int64_t lo, int64_t hi) {
        std::vector<float> row_buffer;
        for (int64_t r = lo; r < hi; ++r) {
          const float* x = x_rows.row(r, row_buffer);
          const float* gr = g.data() + r * D;
          double s1 = 0, s2 = 0;
          for (int64_t j = 0; j < D; ++j) {
            const float dxh = wv ? gr[j] * wv[j] : gr[j];
            s1 += dxh;
            s2 += dxh * xhat(x, r, j);
          }
          const float m1 = static_cast<float>(s1 / static_cast<double>(D));
          const float m2 = static_cast<float>(s2 / static_cast<double>(D));
          const float rstd = (*stats)[2 * r + 1];
          float* out = dx.data() + r * D;
          for (int64_t j = 0; j < D; ++j) {
            const float dxh = wv ? gr[j] * wv[j] : gr[j];
            out[j] = rstd * (dxh - m1 - xhat(x, r, j) * m2);
          }
        }
      });
      grads[0] = std::move(dx);
    }
    if (need_w || need_b) {  // summed over rows in row order: the same bits for any thread count
      std::vector<size_t> shape(normalized_shape.begin(), normalized_shape.end());
      Array dw = xt::zeros<float>(shape), db = xt::zeros<float>(shape);
      std::vector<float> row_buffer;
      for (int64_t r = 0; r < rows; ++r) {
        const float* x = x_rows.row(r, row_buffer);
        const float* gr = g.data() + r * D;
        for (int64_t j = 0; j < D; ++j) {
          dw.data()[j] += gr[j] * xhat(x, r, j);
          db.data()[j] += gr[j];
        }
      }
      if (need_w) grads[1] = std::move(dw);
      if (need_b) grads[has_w ? 2 : 1] = std::move(db);
    }
    return grads;
  });
}

}  // namespace ember::nn::functional
