// Activations and softmax. Ops that need their output for backward keep its data, not the Tensor.
#include <cmath>
#include <xtensor/xmath.hpp>

#include "ember/autograd.hpp"
#include "ember/ops.hpp"
#include "op_helpers.hpp"

namespace ember {

Tensor relu(const Tensor& a) {
  auto A = a.storage();
  return make_output(Array(xt::maximum(*A, 0.f)), "relu", {a},
                     [A](const Array& g) { return gradients(Array(xt::where(*A > 0.f, g, 0.f))); });
}

Tensor leaky_relu(const Tensor& a, float slope) {
  auto A = a.storage();
  return make_output(
      Array(xt::where(*A > 0.f, *A, *A * slope)), "leaky_relu", {a},
      [A, slope](const Array& g) { return gradients(Array(xt::where(*A > 0.f, g, g * slope))); });
}

Tensor sigmoid(const Tensor& a) {
  auto y = std::make_shared<Array>(1.f / (1.f + xt::exp(-a.data())));
  return make_output(y, "sigmoid", {a},
                     [y](const Array& g) { return gradients(Array(g * *y * (1.f - *y))); });
}

Tensor tanh(const Tensor& a) {
  auto y = std::make_shared<Array>(xt::tanh(a.data()));
  return make_output(y, "tanh", {a},
                     [y](const Array& g) { return gradients(Array(g * (1.f - *y * *y))); });
}

Tensor gelu(const Tensor& a) {
  auto A = a.storage();
  static constexpr float kInvSqrt2 = 0.70710678118654752f;
  static constexpr float kInvSqrt2Pi = 0.39894228040143268f;
  return make_output(Array(0.5f * *A * (1.f + xt::erf(*A * kInvSqrt2))), "gelu", {a},
                     [A](const Array& g) {
                       Array cdf = 0.5f * (1.f + xt::erf(*A * kInvSqrt2));
                       Array pdf = kInvSqrt2Pi * xt::exp(-0.5f * *A * *A);
                       return gradients(Array(g * (cdf + *A * pdf)));
                     });
}

namespace {

// One fused pass per row: max, then sum of exp, then the normalised row (numerically stable).
Array softmax_forward(const Array& x, detail::DimSplit s, bool log_space) {
  Array y = Array::from_shape(x.shape());
  const float* in = x.data();
  float* out = y.data();
  for (int64_t o = 0; o < s.outer; ++o) {
    for (int64_t i = 0; i < s.inner; ++i) {
      const float* row = in + o * s.n * s.inner + i;
      float* dst = out + o * s.n * s.inner + i;
      float m = -INFINITY;
      for (int64_t k = 0; k < s.n; ++k) m = std::max(m, row[k * s.inner]);
      float total = 0.f;
      for (int64_t k = 0; k < s.n; ++k) total += std::exp(row[k * s.inner] - m);
      float log_total = std::log(total);
      for (int64_t k = 0; k < s.n; ++k) {
        float shifted = row[k * s.inner] - m;
        dst[k * s.inner] = log_space ? shifted - log_total : std::exp(shifted) / total;
      }
    }
  }
  return y;
}

}  // namespace

Tensor softmax(const Tensor& a, int64_t dim) {
  dim = detail::wrap_dim(dim, a.dim(), "softmax");
  detail::DimSplit s = detail::split_at(a.shape(), dim);
  auto y = std::make_shared<Array>(softmax_forward(a.data(), s, false));
  return make_output(y, "softmax", {a}, [y, s](const Array& g) {
    // dx = y * (g - sum_k g_k y_k)
    Array dx = Array::from_shape(g.shape());
    for (int64_t o = 0; o < s.outer; ++o) {
      for (int64_t i = 0; i < s.inner; ++i) {
        int64_t base = o * s.n * s.inner + i;
        float dot = 0.f;
        for (int64_t k = 0; k < s.n; ++k)
          dot += g.data()[base + k * s.inner] * y->data()[base + k * s.inner];
        for (int64_t k = 0; k < s.n; ++k) {
          int64_t j = base + k * s.inner;
          dx.data()[j] = y->data()[j] * (g.data()[j] - dot);
        }
      }
    }
    return gradients(std::move(dx));
  });
}

Tensor log_softmax(const Tensor& a, int64_t dim) {
  dim = detail::wrap_dim(dim, a.dim(), "log_softmax");
  detail::DimSplit s = detail::split_at(a.shape(), dim);
  auto y = std::make_shared<Array>(softmax_forward(a.data(), s, true));
  return make_output(y, "log_softmax", {a}, [y, s](const Array& g) {
    // dx = g - softmax * sum_k g_k
    Array dx = Array::from_shape(g.shape());
    for (int64_t o = 0; o < s.outer; ++o) {
      for (int64_t i = 0; i < s.inner; ++i) {
        int64_t base = o * s.n * s.inner + i;
        float total = 0.f;
        for (int64_t k = 0; k < s.n; ++k) total += g.data()[base + k * s.inner];
        for (int64_t k = 0; k < s.n; ++k) {
          int64_t j = base + k * s.inner;
          dx.data()[j] = g.data()[j] - std::exp(y->data()[j]) * total;
        }
      }
    }
    return gradients(std::move(dx));
  });
}

}  // namespace ember
