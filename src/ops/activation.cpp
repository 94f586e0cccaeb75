// Activations and softmax. Ops that need their output for backward keep its data, not the Tensor.
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>
#include <xtensor/xmath.hpp>

#include "ember/autograd.hpp"
#include "ember/ops.hpp"
#include "ember/parallel.hpp"
#include "kernels.hpp"
#include "op_helpers.hpp"

namespace ember {

// Each op is written once for float32 and float64 (T = float or double, picked by by_dtype);
// float32 keeps its vectorised loops, float64 runs xtensor's expressions or plain loops.
namespace {
// What an op keeps of its input for backward: under autocast a float32 activation is kept in
// bfloat16 (saved_activation); float64 is never autocast (nor is it in PyTorch), so kept as is.
template <class T>
SavedValuesOf<T> kept_activation(const Tensor& a) {
  if constexpr (std::is_same_v<T, float>)
    return detail::saved_activation(a);
  else
    return detail::saved<T>(a);
}
}  // namespace

Tensor relu(const Tensor& a) {
  return detail::by_dtype(a, "relu", [&](auto real) {
    using T = decltype(real);
    auto A = kept_activation<T>(a);
    // As PyTorch: NaN stays NaN (max(NaN, 0) would swallow it), and the gradient is cut only
    // where the result is <= 0 (so a NaN input passes it on, as threshold_backward does).
    ArrayOf<T> out;
    if constexpr (std::is_same_v<T, float>)
      out = detail::elementwise_loop(a, detail::kernels::relu);
    else
      out = detail::elementwise<T>(a, [](const auto& x) { return xt::where(x < T(0), T(0), x); });
    return make_output(std::move(out), "relu", {a}, [A](const ArrayOf<T>& g) {
      return gradients(xt::where(*A <= T(0), T(0), g));
    });
  });
}

Tensor leaky_relu(const Tensor& a, double slope) {
  return detail::by_dtype(a, "leaky_relu", [&](auto real) {
    using T = decltype(real);
    auto A = detail::saved<T>(a);
    const T k = static_cast<T>(slope);  // float32 rounds it as a float argument would
    return make_output(
        detail::elementwise<T>(a, [k](const auto& x) { return xt::where(x > T(0), x, x * k); }),
        "leaky_relu", {a},
        [A, k](const ArrayOf<T>& g) { return gradients(xt::where(*A > T(0), g, g * k)); });
  });
}

Tensor sigmoid(const Tensor& a) {
  return detail::by_dtype(a, "sigmoid", [&](auto real) {
    using T = decltype(real);
    Tensor out(
        detail::elementwise<T>(a, [](const auto& x) { return T(1) / (T(1) + xt::exp(-x)); }));
    auto y = detail::saved<T>(out);
    return make_output_of<T>(out, "sigmoid", {a},
                             [y](const ArrayOf<T>& g) { return gradients(g * *y * (T(1) - *y)); });
  });
}

Tensor tanh(const Tensor& a) {
  return detail::by_dtype(a, "tanh", [&](auto real) {
    using T = decltype(real);
    Tensor out(detail::elementwise<T>(a, [](const auto& x) { return xt::tanh(x); }));
    auto y = detail::saved<T>(out);
    return make_output_of<T>(out, "tanh", {a},
                             [y](const ArrayOf<T>& g) { return gradients(g * (T(1) - *y * *y)); });
  });
}

namespace {
// gelu's constants in double, rounded to T where used (float32's are these, rounded once).
constexpr double kInvSqrt2 = 0.70710678118654752, kInvSqrt2Pi = 0.39894228040143268;
constexpr double kSqrt2OverPi = 0.79788456080286536, kCubic = 0.044715;
static_assert(static_cast<float>(kInvSqrt2) == 0.70710678118654752f &&
              static_cast<float>(kInvSqrt2Pi) == 0.39894228040143268f &&
              static_cast<float>(kSqrt2OverPi) == 0.79788456080286536f &&
              static_cast<float>(kCubic) == 0.044715f);
}  // namespace

namespace {
// float32's tanh GELU on the vectorized kernels, forward and backward each one pass. What
// backward reads: the input itself, or autocast's bfloat16 copy, widened as it is read.
Tensor gelu_tanh_float(const Tensor& a) {
  Array out = detail::elementwise_loop(a, detail::kernels::gelu_tanh);
  if (detail::keeps_bf16(a)) {
    std::shared_ptr<const Storage> kept = detail::convert_storage(a, kBFloat16);
    return make_output(std::move(out), "gelu", {a}, [kept](const Array& g) {
      Array dx = Array::from_shape(g.shape());
      detail::kernels::gelu_tanh_backward(nullptr, static_cast<const uint16_t*>(kept->bytes()),
                                          g.data(), dx.data(), static_cast<int64_t>(g.size()));
      return gradients(std::move(dx));
    });
  }
  SavedValues A = detail::saved<float>(a);
  return make_output(std::move(out), "gelu", {a}, [A](const Array& g) {
    Array dx = Array::from_shape(g.shape());
    detail::kernels::gelu_tanh_backward(A->data(), nullptr, g.data(), dx.data(),
                                        static_cast<int64_t>(g.size()));
    return gradients(std::move(dx));
  });
}
}  // namespace

Tensor gelu(const Tensor& a, const std::string& approximate) {
  EMBER_CHECK_VALUE(approximate == "none" || approximate == "tanh",
                    "gelu: approximate must be \"none\" or \"tanh\", got \"", approximate, "\"");
  return detail::by_dtype(a, "gelu", [&](auto real) {
    using T = decltype(real);
    // Only the input is kept: the tanh form's seven elementwise ops, written out, would keep
    // four tensors of its size (GPT-2's MLP: 12 MB a layer instead of 3).
    if constexpr (std::is_same_v<T, float>)
      if (approximate == "tanh") return gelu_tanh_float(a);
    auto A = kept_activation<T>(a);
    const T inv_sqrt2 = T(kInvSqrt2), inv_sqrt2pi = T(kInvSqrt2Pi);
    const T sqrt2_over_pi = T(kSqrt2OverPi), cubic = T(kCubic);
    if (approximate == "tanh") {  // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
      ArrayOf<T> out = detail::elementwise<T>(a, [=](const auto& x) {
        return T(0.5) * x * (T(1) + xt::tanh(sqrt2_over_pi * (x + cubic * x * x * x)));
      });
      return make_output(std::move(out), "gelu", {a}, [=](const ArrayOf<T>& g) {
        const ArrayOf<T>& x = *A;
        ArrayOf<T> t = xt::tanh(sqrt2_over_pi * (x + cubic * x * x * x));
        return gradients(g * (T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * sqrt2_over_pi *
                                                        (T(1) + T(3) * cubic * x * x)));
      });
    }
    ArrayOf<T> out = detail::elementwise<T>(
        a, [=](const auto& x) { return T(0.5) * x * (T(1) + xt::erf(x * inv_sqrt2)); });
    return make_output(std::move(out), "gelu", {a}, [=](const ArrayOf<T>& g) {
      ArrayOf<T> cdf = T(0.5) * (T(1) + xt::erf(*A * inv_sqrt2));
      ArrayOf<T> pdf = inv_sqrt2pi * xt::exp(T(-0.5) * *A * *A);
      return gradients(g * (cdf + *A * pdf));
    });
  });
}

Tensor silu(const Tensor& a) {
  return detail::by_dtype(a, "silu", [&](auto real) {
    using T = decltype(real);
    auto A = kept_activation<T>(a);
    ArrayOf<T> out =
        detail::elementwise<T>(a, [](const auto& x) { return x / (T(1) + xt::exp(-x)); });
    return make_output(std::move(out), "silu", {a}, [A](const ArrayOf<T>& g) {
      ArrayOf<T> s = T(1) / (T(1) + xt::exp(-*A));
      return gradients(g * s * (T(1) + *A * (T(1) - s)));
    });
  });
}

Tensor softplus(const Tensor& a, double beta, double threshold) {
  EMBER_CHECK_VALUE(beta != 0.0, "softplus: beta must be non-zero");
  return detail::by_dtype(a, "softplus", [&](auto real) {
    using T = decltype(real);
    auto A = detail::saved<T>(a);
    const T b = static_cast<T>(beta), th = static_cast<T>(threshold);
    ArrayOf<T> out = detail::elementwise<T>(a, [b, th](const auto& x) {
      return xt::where(x * b > th, x, xt::log1p(xt::exp(x * b)) / b);
    });
    return make_output(std::move(out), "softplus", {a}, [A, b, th](const ArrayOf<T>& g) {
      // d/dx = sigmoid(beta x), and 1 on the linear part.
      return gradients(xt::where(*A * b > th, g, g / (T(1) + xt::exp(-*A * b))));
    });
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
// into the result's own buffer and normalised there in place (the one allocation). float32's
// contiguous rows run on the SIMD exp; float64's every row on the plain loop.
template <class T>
ArrayOf<T> softmax_forward(const Tensor& a, detail::DimSplit s, bool log_space) {
  const bool in_place = a.is_view();
  ArrayOf<T> y =
      in_place ? detail::pack<T>(a) : ArrayOf<T>::from_shape(detail::to_xshape(a.shape()));
  const T* x = in_place ? y.data() : a.data_ptr<T>();
  for_each_row(s, [&](int64_t o, int64_t i) {
    const T* row = x + o * s.n * s.inner + i;
    T* dst = y.data() + o * s.n * s.inner + i;
    if constexpr (std::is_same_v<T, float>) {
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
    }
    T m = -std::numeric_limits<T>::infinity();
    for (int64_t k = 0; k < s.n; ++k) m = std::max(m, row[k * s.inner]);
    T total = 0;
    for (int64_t k = 0; k < s.n; ++k) total += std::exp(row[k * s.inner] - m);
    const T log_total = std::log(total);
    for (int64_t k = 0; k < s.n; ++k) {
      T shifted = row[k * s.inner] - m;
      dst[k * s.inner] = log_space ? shifted - log_total : std::exp(shifted) / total;
    }
  });
  return y;
}

// One row's backward, where the row's elements are `stride` apart. softmax:
// dx = y * (g - sum_k g_k y_k).
template <class T>
void softmax_backward_row(const T* gr, const T* yr, T* d, int64_t n, int64_t stride) {
  T dot = 0;
  for (int64_t k = 0; k < n; ++k) dot += gr[k * stride] * yr[k * stride];
  for (int64_t k = 0; k < n; ++k) d[k * stride] = yr[k * stride] * (gr[k * stride] - dot);
}

// log_softmax: dx = g - softmax * sum_k g_k, with softmax = exp(log_softmax).
template <class T>
void log_softmax_backward_row(const T* gr, const T* yr, T* d, int64_t n, int64_t stride) {
  T total = 0;
  for (int64_t k = 0; k < n; ++k) total += gr[k * stride];
  if constexpr (std::is_same_v<T, float>) {
    if (stride == 1) {
      detail::kernels::exp_shifted(yr, d, n, 0.f);
      for (int64_t k = 0; k < n; ++k) d[k] = gr[k] - d[k] * total;
      return;
    }
  }
  for (int64_t k = 0; k < n; ++k) d[k * stride] = gr[k * stride] - std::exp(yr[k * stride]) * total;
}

// softmax, or log_softmax when log_space, along dim. Backward reads the output only.
Tensor softmax_along(const Tensor& a, int64_t dim, bool log_space) {
  const char* op = log_space ? "log_softmax" : "softmax";
  dim = detail::wrap_dim(dim, a.dim(), op);
  detail::DimSplit s = detail::split_at(a.shape(), dim);
  return detail::by_dtype(a, op, [&](auto real) {
    using T = decltype(real);
    Tensor out(softmax_forward<T>(a, s, log_space));
    auto y = detail::saved<T>(out);
    return make_output_of<T>(out, op, {a}, [y, s, log_space](const ArrayOf<T>& g) {
      ArrayOf<T> dx = ArrayOf<T>::from_shape(g.shape());
      for_each_row(s, [&](int64_t o, int64_t i) {
        const int64_t base = o * s.n * s.inner + i;
        const T *gr = g.data() + base, *yr = y->data() + base;
        T* d = dx.data() + base;
        if (log_space)
          log_softmax_backward_row(gr, yr, d, s.n, s.inner);
        else
          softmax_backward_row(gr, yr, d, s.n, s.inner);
      });
      return gradients(std::move(dx));
    });
  });
}

}  // namespace

Tensor softmax(const Tensor& a, int64_t dim) { return softmax_along(a, dim, false); }
Tensor log_softmax(const Tensor& a, int64_t dim) { return softmax_along(a, dim, true); }

}  // namespace ember
