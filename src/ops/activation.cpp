// Activations and softmax. Ops that need their output for backward keep its data, not the Tensor.
#include <cmath>
#include <string>
#include <vector>
#include <xtensor/xmath.hpp>

#include "ember/autograd.hpp"
#include "ember/ops.hpp"
#include "ember/parallel.hpp"
#include "kernels.hpp"
#include "op_helpers.hpp"

namespace ember {

Tensor relu(const Tensor& a) {
  auto A = detail::saved_activation(a);
  // As PyTorch: NaN stays NaN (max(NaN, 0) would swallow it), and the gradient is cut only
  // where the result is <= 0 (so a NaN input passes it on, as threshold_backward does).
  Array out = detail::elementwise_loop(a, detail::kernels::relu);
  return make_output(std::move(out), "relu", {a}, [A](const Array& g) {
    return gradients(Array(xt::where(*A <= 0.f, 0.f, g)));
  });
}

Tensor leaky_relu(const Tensor& a, float slope) {
  auto A = a.storage();
  return make_output(
      detail::elementwise(a, [slope](const auto& x) { return xt::where(x > 0.f, x, x * slope); }),
      "leaky_relu", {a},
      [A, slope](const Array& g) { return gradients(Array(xt::where(*A > 0.f, g, g * slope))); });
}

Tensor sigmoid(const Tensor& a) {
  Tensor out(detail::elementwise(a, [](const auto& x) { return 1.f / (1.f + xt::exp(-x)); }));
  SavedValues y = out.storage();
  return make_output(out, "sigmoid", {a},
                     [y](const Array& g) { return gradients(Array(g * *y * (1.f - *y))); });
}

Tensor tanh(const Tensor& a) {
  Tensor out(detail::elementwise(a, [](const auto& x) { return xt::tanh(x); }));
  SavedValues y = out.storage();
  return make_output(out, "tanh", {a},
                     [y](const Array& g) { return gradients(Array(g * (1.f - *y * *y))); });
}

Tensor gelu(const Tensor& a, const std::string& approximate) {
  EMBER_CHECK_VALUE(approximate == "none" || approximate == "tanh",
                    "gelu: approximate must be \"none\" or \"tanh\", got \"", approximate, "\"");
  // Only the input is kept: the tanh form's seven elementwise ops, written out, would keep
  // four tensors of its size (GPT-2's MLP: 12 MB a layer instead of 3).
  auto A = detail::saved_activation(a);
  static constexpr float kInvSqrt2 = 0.70710678118654752f;
  static constexpr float kInvSqrt2Pi = 0.39894228040143268f;
  static constexpr float kSqrt2OverPi = 0.79788456080286536f, kCubic = 0.044715f;
  if (approximate == "tanh") {  // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
    Array out = detail::elementwise(a, [](const auto& x) {
      return 0.5f * x * (1.f + xt::tanh(kSqrt2OverPi * (x + kCubic * x * x * x)));
    });
    return make_output(std::move(out), "gelu", {a}, [A](const Array& g) {
      const Array& x = *A;
      Array t = xt::tanh(kSqrt2OverPi * (x + kCubic * x * x * x));
      return gradients(Array(g * (0.5f * (1.f + t) + 0.5f * x * (1.f - t * t) * kSqrt2OverPi *
                                                         (1.f + 3.f * kCubic * x * x))));
    });
  }
  Array out = detail::elementwise(
      a, [](const auto& x) { return 0.5f * x * (1.f + xt::erf(x * kInvSqrt2)); });
  return make_output(std::move(out), "gelu", {a}, [A](const Array& g) {
    Array cdf = 0.5f * (1.f + xt::erf(*A * kInvSqrt2));
    Array pdf = kInvSqrt2Pi * xt::exp(-0.5f * *A * *A);
    return gradients(Array(g * (cdf + *A * pdf)));
  });
}

Tensor silu(const Tensor& a) {
  auto A = detail::saved_activation(a);
  Array out = detail::elementwise(a, [](const auto& x) { return x / (1.f + xt::exp(-x)); });
  return make_output(std::move(out), "silu", {a}, [A](const Array& g) {
    Array s = 1.f / (1.f + xt::exp(-*A));
    return gradients(Array(g * s * (1.f + *A * (1.f - s))));
  });
}

Tensor softplus(const Tensor& a, float beta, float threshold) {
  EMBER_CHECK_VALUE(beta != 0.f, "softplus: beta must be non-zero");
  auto A = a.storage();
  Array out = detail::elementwise(a, [beta, threshold](const auto& x) {
    return xt::where(x * beta > threshold, x, xt::log1p(xt::exp(x * beta)) / beta);
  });
  return make_output(std::move(out), "softplus", {a}, [A, beta, threshold](const Array& g) {
    // d/dx = sigmoid(beta x), and 1 on the linear part.
    return gradients(Array(xt::where(*A * beta > threshold, g, g / (1.f + xt::exp(-*A * beta)))));
  });
}

namespace {

// Rows are independent, so they split between threads with bit-identical results.
void for_each_row(detail::DimSplit s, const std::function<void(int64_t outer, int64_t inner)>& fn) {
  detail::parallel_rows(s.outer, s.outer * s.n * s.inner * 8, [&](int64_t lo, int64_t hi) {
    for (int64_t o = lo; o < hi; ++o)
      for (int64_t i = 0; i < s.inner; ++i) fn(o, i);
  });
}

// One fused pass per row: max, then sum of exp, then the normalised row (numerically stable).
// The input is read where it sits: a tensor that is its whole storage directly, a view gathered
// into the result's own buffer and normalised there in place (the one allocation).
Array softmax_forward(const Tensor& a, detail::DimSplit s, bool log_space) {
  const bool in_place = a.is_view();
  Array y = in_place ? detail::pack(a) : Array::from_shape(detail::to_xshape(a.shape()));
  const float* x = in_place ? y.data() : a.data_ptr();
  for_each_row(s, [&](int64_t o, int64_t i) {
    const float* row = x + o * s.n * s.inner + i;
    float* dst = y.data() + o * s.n * s.inner + i;
    if (s.inner == 1) {  // contiguous rows: SIMD exp
      const float m = detail::kernels::max_of(row, s.n);
      if (!log_space) {
        const float inv = 1.f / detail::kernels::exp_shifted(row, dst, s.n, m);
        for (int64_t k = 0; k < s.n; ++k) dst[k] *= inv;
        return;
      }
      // The exps go to a scratch row: dst may be the row itself, still needed below.
      thread_local std::vector<float> exps;
      exps.resize(static_cast<size_t>(s.n));
      const float log_total = std::log(detail::kernels::exp_shifted(row, exps.data(), s.n, m));
      for (int64_t k = 0; k < s.n; ++k) dst[k] = row[k] - m - log_total;
      return;
    }
    float m = -INFINITY;
    for (int64_t k = 0; k < s.n; ++k) m = std::max(m, row[k * s.inner]);
    float total = 0.f;
    for (int64_t k = 0; k < s.n; ++k) total += std::exp(row[k * s.inner] - m);
    const float log_total = std::log(total);
    for (int64_t k = 0; k < s.n; ++k) {
      float shifted = row[k * s.inner] - m;
      dst[k * s.inner] = log_space ? shifted - log_total : std::exp(shifted) / total;
    }
  });
  return y;
}

}  // namespace

Tensor softmax(const Tensor& a, int64_t dim) {
  dim = detail::wrap_dim(dim, a.dim(), "softmax");
  detail::DimSplit s = detail::split_at(a.shape(), dim);
  Tensor out(softmax_forward(a, s, false));
  SavedValues y = out.storage();
  return make_output(out, "softmax", {a}, [y, s](const Array& g) {
    // dx = y * (g - sum_k g_k y_k)
    Array dx = Array::from_shape(g.shape());
    for_each_row(s, [&](int64_t o, int64_t i) {
      const int64_t base = o * s.n * s.inner + i;
      const float *gr = g.data() + base, *yr = y->data() + base;
      float* d = dx.data() + base;
      float dot = 0.f;
      for (int64_t k = 0; k < s.n; ++k) dot += gr[k * s.inner] * yr[k * s.inner];
      for (int64_t k = 0; k < s.n; ++k) d[k * s.inner] = yr[k * s.inner] * (gr[k * s.inner] - dot);
    });
    return gradients(std::move(dx));
  });
}

Tensor log_softmax(const Tensor& a, int64_t dim) {
  dim = detail::wrap_dim(dim, a.dim(), "log_softmax");
  detail::DimSplit s = detail::split_at(a.shape(), dim);
  Tensor out(softmax_forward(a, s, true));
  SavedValues y = out.storage();
  return make_output(out, "log_softmax", {a}, [y, s](const Array& g) {
    // dx = g - softmax * sum_k g_k
    Array dx = Array::from_shape(g.shape());
    for_each_row(s, [&](int64_t o, int64_t i) {
      const int64_t base = o * s.n * s.inner + i;
      const float *gr = g.data() + base, *yr = y->data() + base;
      float* d = dx.data() + base;
      float total = 0.f;
      for (int64_t k = 0; k < s.n; ++k) total += gr[k * s.inner];
      if (s.inner == 1) {
        detail::kernels::exp_shifted(yr, d, s.n, 0.f);  // softmax = exp(log_softmax)
        for (int64_t k = 0; k < s.n; ++k) d[k] = gr[k] - d[k] * total;
        return;
      }
      for (int64_t k = 0; k < s.n; ++k)
        d[k * s.inner] = gr[k * s.inner] - std::exp(yr[k * s.inner]) * total;
    });
    return gradients(std::move(dx));
  });
}

}  // namespace ember
