// Dropout (composed from differentiable primitives) and layer norm (one fused op).
#include <cmath>
#include <numeric>
#include <random>
#include <type_traits>

#include "ember/autograd.hpp"
#include "ember/nn/functional.hpp"
#include "ember/parallel.hpp"
#include "op_helpers.hpp"

namespace ember::nn::functional {

Tensor dropout(const Tensor& input, double p, bool training) {
  EMBER_CHECK_VALUE(p >= 0.0 && p <= 1.0, "dropout: probability must be in [0, 1], got ", p);
  if (!training || p == 0.0) return input;
  if (p == 1.0) return input * zeros_like(input);
  return detail::by_dtype(input, "dropout", [&](auto real) {
    using T = decltype(real);
    // Uniforms from the seeded generator; keep where u >= p, scaled so the expectation is kept.
    // The float32 uniforms decide for either dtype (one seed, one mask); float64 widens them.
    Tensor mask = rand(input.shape());
    if constexpr (!std::is_same_v<T, float>) mask = mask.to(kFloat64);
    const T scale = static_cast<T>(1.0 / (1.0 - p)), keep_from = static_cast<float>(p);
    ArrayOf<T> m = detail::own_values<T>(mask);  // borrows the mask's storage: written in place
    for (T& v : m) v = v >= keep_from ? scale : T(0);
    return input * mask;
  });
}

namespace {

// A row's sums in double, in 8 interleaved partial sums added in a fixed order: the same bits for
// any thread count, and 8 independent additions in flight instead of one chain of 768 (one row
// of GPT-2 took 3072 cycles of add latency per pass). sum of f(j) for j < n.
template <class Term>
double row_sum(int64_t n, Term f) {
  double part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    for (int lane = 0; lane < 8; ++lane) part[lane] += f(j + lane);
  for (; j < n; ++j) part[j % 8] += f(j);
  return ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
}

// layer_norm computing in T (float for float32, double for float64), from its checked arguments.
template <class T>
Tensor layer_norm_of(const Tensor& input, const Shape& normalized_shape, const Tensor& weight,
                     const Tensor& bias, double eps, int64_t D) {
  const Shape s = input.shape();
  const size_t k = normalized_shape.size();
  const int64_t rows = D == 0 ? 0 : input.numel() / D;
  // One fused op: per row the mean and the inverse deviation (kept for backward, 2 values a
  // row), then the normalised, scaled and shifted row. The tape holds one node, not nine.
  // The input read where it sits: a row's elements straight from the storage when they are
  // adjacent there, else gathered one row at a time.
  auto X = detail::saved<T>(input);
  const ViewLayout layout = detail::layout_of(input);
  Shape trailing(k);
  std::iota(trailing.begin(), trailing.end(), static_cast<int64_t>(s.size() - k));
  const detail::Reduction by_row = detail::make_reduction(s, trailing, false, "layer_norm");
  const bool has_w = weight.defined(), has_b = bias.defined();
  // The weight and bias read where they sit too: all of a parameter is one "row" (straight
  // from its storage when contiguous, else gathered into a buffer of normalized_shape).
  const detail::Reduction whole = detail::make_reduction(normalized_shape, {}, false, "layer_norm");
  auto W = has_w ? detail::saved<T>(weight) : SavedValuesOf<T>{};
  const ViewLayout w_layout = has_w ? detail::layout_of(weight) : ViewLayout{};
  std::vector<T> w_buffer, b_buffer;
  const T* w = has_w ? detail::RowReaderOf<T>(weight, whole).row(0, w_buffer) : nullptr;
  const T* b = has_b ? detail::RowReaderOf<T>(bias, whole).row(0, b_buffer) : nullptr;
  auto stats = std::make_shared<std::vector<T>>(static_cast<size_t>(2 * rows));
  ArrayOf<T> y = ArrayOf<T>::from_shape(detail::to_xshape(s));
  const detail::RowReaderOf<T> x_rows(X.storage_data(), layout, by_row);
  detail::parallel_rows(rows, rows * D * 4, [&](int64_t lo, int64_t hi) {
    std::vector<T> row_buffer;
    for (int64_t r = lo; r < hi; ++r) {
      const T* x = x_rows.row(r, row_buffer);
      T* out = y.data() + r * D;
      const double mu = row_sum(D, [&](int64_t j) { return double(x[j]); }) / double(D);
      const double sq = row_sum(D, [&](int64_t j) { return (x[j] - mu) * (x[j] - mu); });
      const T mean_f = static_cast<T>(mu);
      const T rstd = static_cast<T>(1.0 / std::sqrt(sq / static_cast<double>(D) + eps));
      (*stats)[2 * r] = mean_f;
      (*stats)[2 * r + 1] = rstd;
      for (int64_t j = 0; j < D; ++j) {
        T v = (x[j] - mean_f) * rstd;
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
  return make_output(std::move(y), "native_layer_norm", inputs, [=](const ArrayOf<T>& g) {
    Gradients grads(n_inputs);
    std::vector<T> w_buffer;
    const T* wv = has_w ? detail::RowReaderOf<T>(W.storage_data(), w_layout, whole).row(0, w_buffer)
                        : nullptr;
    const detail::RowReaderOf<T> x_rows(X.storage_data(), layout, by_row);
    if (need_x) {
      // dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), dxhat = g * w.
      ArrayOf<T> dx = ArrayOf<T>::from_shape(detail::to_xshape(s));
      detail::parallel_rows(rows, rows * D * 6, [&](int64_t lo, int64_t hi) {
        std::vector<T> row_buffer, dxhat_row(static_cast<size_t>(D));
        for (int64_t r = lo; r < hi; ++r) {
          const T* x = x_rows.row(r, row_buffer);
          const T* gr = g.data() + r * D;
          // The row's statistics and dxhat in locals, so that each loop below is plain enough to
          // vectorize (through `stats`, or with the weight's test inside, they were not).
          const T mean = (*stats)[2 * r], rstd = (*stats)[2 * r + 1];
          T* dxhat = dxhat_row.data();
          if (wv)
            for (int64_t j = 0; j < D; ++j) dxhat[j] = gr[j] * wv[j];
          else
            std::copy(gr, gr + D, dxhat);
          auto xh = [&](int64_t j) { return (x[j] - mean) * rstd; };
          const double s1 = row_sum(D, [&](int64_t j) { return double(dxhat[j]); });
          const double s2 = row_sum(D, [&](int64_t j) { return double(dxhat[j] * xh(j)); });
          const T m1 = static_cast<T>(s1 / static_cast<double>(D));
          const T m2 = static_cast<T>(s2 / static_cast<double>(D));
          T* out = dx.data() + r * D;
          for (int64_t j = 0; j < D; ++j) out[j] = rstd * (dxhat[j] - m1 - xh(j) * m2);
        }
      });
      grads[0] = std::move(dx);
    }
    if (need_w || need_b) {  // summed over rows in row order: the same bits for any thread count
      std::vector<size_t> shape(normalized_shape.begin(), normalized_shape.end());
      ArrayOf<T> dw = xt::zeros<T>(shape), db = xt::zeros<T>(shape);
      std::vector<T> row_buffer;
      T* dw_out = dw.data();
      T* db_out = db.data();
      for (int64_t r = 0; r < rows; ++r) {
        const T* x = x_rows.row(r, row_buffer);
        const T* gr = g.data() + r * D;
        const T mean = (*stats)[2 * r], rstd = (*stats)[2 * r + 1];
        for (int64_t j = 0; j < D; ++j) {
          dw_out[j] += gr[j] * ((x[j] - mean) * rstd);
          db_out[j] += gr[j];
        }
      }
      if (need_w) grads[1] = std::move(dw);
      if (need_b) grads[has_w ? 2 : 1] = std::move(db);
    }
    return grads;
  });
}

}  // namespace

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
    EMBER_CHECK_DTYPE(t->dtype() == input.dtype(), "layer_norm: weight/bias dtype ",
                      dtype_name(t->dtype()), " must be the input's dtype ",
                      dtype_name(input.dtype()), " (convert one with .to())");
  }
  int64_t D = 1;
  for (int64_t d : normalized_shape) D *= d;
  return detail::by_dtype(input, "layer_norm", [&](auto real) {
    return layer_norm_of<decltype(real)>(input, normalized_shape, weight, bias, eps, D);
  });
}

}  // namespace ember::nn::functional
