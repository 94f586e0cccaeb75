// Elementwise ops with NumPy broadcasting. Every binary backward reduces with sum_to.
#include <cmath>
#include <type_traits>
#include <xtensor/xmath.hpp>

#include "ember/autograd.hpp"
#include "ember/ops.hpp"
#include "kernels.hpp"
#include "op_helpers.hpp"

namespace ember {

namespace detail {

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  Shape out(std::max(a.size(), b.size()));
  for (size_t i = 0; i < out.size(); ++i) {
    int64_t da = i < out.size() - a.size() ? 1 : a[i - (out.size() - a.size())];
    int64_t db = i < out.size() - b.size() ? 1 : b[i - (out.size() - b.size())];
    EMBER_CHECK_SHAPE(da == db || da == 1 || db == 1, op, ": shapes ", shape_str(a), " and ",
                      shape_str(b), " do not broadcast: sizes ", da, " and ", db, " at dim ",
                      static_cast<int64_t>(i) - static_cast<int64_t>(out.size()),
                      " must be equal or one of them 1");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

DimSplit split_at(const Shape& shape, int64_t dim) {
  DimSplit s;
  for (int64_t i = 0; i < static_cast<int64_t>(shape.size()); ++i) {
    if (i < dim)
      s.outer *= shape[i];
    else if (i == dim)
      s.n = shape[i];
    else
      s.inner *= shape[i];
  }
  return s;
}

}  // namespace detail

namespace {
using detail::broadcast_shapes;

// a op b for same-shape operands, on the runtime-dispatched loops.
using Loop = void (*)(const float*, const float*, float*, int64_t);
Array same_shape_op(Loop loop, const Array& a, const Array& b) {
  Array out = Array::from_shape(a.shape());
  loop(a.data(), b.data(), out.data(), static_cast<int64_t>(a.size()));
  return out;
}

// A binary op's two gradients, each computed only when its input needs it, and built in place
// in the returned list (a Gradient moved into it would move its Array once more).
template <class ComputeA, class ComputeB>
Gradients gradients_if(bool need_a, ComputeA grad_a, bool need_b, ComputeB grad_b) {
  Gradients out;
  out.reserve(2);
  need_a ? out.emplace_back(grad_a()) : out.emplace_back();
  need_b ? out.emplace_back(grad_b()) : out.emplace_back();
  return out;
}
}  // namespace

// Operands that are their whole storage and have one shape skip the broadcast bookkeeping and
// run on the vectorised loops: the common case, and the cheap one. (Compared without building
// a Shape: this runs on every op.)
bool same_whole(const Tensor& a, const Tensor& b) {
  return !a.is_view() && !b.is_view() && a.impl()->layout.shape == b.impl()->layout.shape;
}

namespace {
// PyTorch's promotion for a bool operand (with_bools, after the four ops).
enum class Arith { Add, Sub, Mul, Div };
bool any_bool(const Tensor& a, const Tensor& b) { return a.dtype() == kBool || b.dtype() == kBool; }
Tensor with_bools(const Tensor& a, const Tensor& b, Arith op);
Tensor as_float(const Tensor& t) { return t.dtype() == kBool ? t.to(kFloat32) : t; }
}  // namespace

// The broadcast shape of a binary op's operands; throws naming `op`.
Shape result_shape(const Tensor& a, const Tensor& b, const char* op) {
  return broadcast_shapes(a.shape(), b.shape(), op);
}

// Each op is written once for both floating dtypes: `add_of<T>` computes in T (float for
// float32 tensors, double for float64), and `add` picks T by the operands' dtype after
// PyTorch's promotion (a float32 and a float64 operand compute in float64). float32 keeps its
// vectorised loops; float64 runs xtensor's expressions (it has no speed target).
namespace {

// Binary ops: bool operands first (with_bools), then mixed float dtypes promoted, then T.
template <class Of>
Tensor binary(const Tensor& a, const Tensor& b, Arith arith, const char* op, Of of) {
  if (any_bool(a, b)) return with_bools(a, b, arith);
  if (a.dtype() != b.dtype()) {
    const auto [x, y] = detail::promoted(a, b);
    return binary(x, y, arith, op, of);
  }
  return detail::by_dtype(a, op, [&](auto real) { return of(real, a, b); });
}

template <class T>
Tensor add_of(const Tensor& a, const Tensor& b) {
  if constexpr (std::is_same_v<T, float>) {
    if (same_whole(a, b))
      return make_output(same_shape_op(detail::kernels::add, *detail::Dense(a), *detail::Dense(b)),
                         "add", {a, b}, [](const Array& g) { return gradients(g, g); });
  }
  Shape sa = a.shape(), sb = b.shape();
  ArrayOf<T> out = detail::elementwise<T>(a, b, result_shape(a, b, "add"),
                                          [](const auto& x, const auto& y) { return x + y; });
  return make_output(std::move(out), "add", {a, b}, [sa, sb](const ArrayOf<T>& g) {
    return gradients(sum_to(g, sa), sum_to(g, sb));
  });
}

template <class T>
Tensor sub_of(const Tensor& a, const Tensor& b) {
  if constexpr (std::is_same_v<T, float>) {
    if (same_whole(a, b))
      return make_output(same_shape_op(detail::kernels::sub, *detail::Dense(a), *detail::Dense(b)),
                         "sub", {a, b}, [](const Array& g) { return gradients(g, Array(-g)); });
  }
  Shape sa = a.shape(), sb = b.shape();
  ArrayOf<T> out = detail::elementwise<T>(a, b, result_shape(a, b, "sub"),
                                          [](const auto& x, const auto& y) { return x - y; });
  return make_output(std::move(out), "sub", {a, b}, [sa, sb](const ArrayOf<T>& g) {
    return gradients(sum_to(g, sa), sum_to(-g, sb));
  });
}

template <class T>
Tensor mul_of(const Tensor& a, const Tensor& b) {
  // a view's values are packed only if backward reads them
  auto A = detail::saved<T>(a), B = detail::saved<T>(b);
  bool need_a = a.requires_grad(), need_b = b.requires_grad();
  if constexpr (std::is_same_v<T, float>) {
    if (same_whole(a, b))
      return make_output(same_shape_op(detail::kernels::mul, *A, *B), "mul", {a, b},
                         [=](const Array& g) {
                           return gradients_if(
                               need_a, [&] { return same_shape_op(detail::kernels::mul, g, *B); },
                               need_b, [&] { return same_shape_op(detail::kernels::mul, g, *A); });
                         });
  }
  Shape sa = a.shape(), sb = b.shape();
  ArrayOf<T> out = detail::elementwise<T>(a, b, result_shape(a, b, "mul"),
                                          [](const auto& x, const auto& y) { return x * y; });
  return make_output(std::move(out), "mul", {a, b}, [=](const ArrayOf<T>& g) {
    return gradients_if(
        need_a, [&] { return sum_to(g * *B, sa); }, need_b, [&] { return sum_to(g * *A, sb); });
  });
}

template <class T>
Tensor div_of(const Tensor& a, const Tensor& b) {
  Shape sa = a.shape(), sb = b.shape();
  auto A = detail::saved<T>(a), B = detail::saved<T>(b);
  bool need_a = a.requires_grad(), need_b = b.requires_grad();
  auto quotient = [&]() -> ArrayOf<T> {
    if constexpr (std::is_same_v<T, float>) {
      if (same_whole(a, b)) return same_shape_op(detail::kernels::div, *A, *B);
    }
    return detail::elementwise<T>(a, b, result_shape(a, b, "div"),
                                  [](const auto& x, const auto& y) { return x / y; });
  };
  return make_output(quotient(), "div", {a, b}, [=](const ArrayOf<T>& g) {
    return gradients_if(
        need_a, [&] { return sum_to(g / *B, sa); },  //
        need_b, [&] { return sum_to(-g * *A / (*B * *B), sb); });
  });
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  return binary(a, b, Arith::Add, "add", [](auto real, const Tensor& x, const Tensor& y) {
    return add_of<decltype(real)>(x, y);
  });
}
Tensor sub(const Tensor& a, const Tensor& b) {
  return binary(a, b, Arith::Sub, "sub", [](auto real, const Tensor& x, const Tensor& y) {
    return sub_of<decltype(real)>(x, y);
  });
}
Tensor mul(const Tensor& a, const Tensor& b) {
  return binary(a, b, Arith::Mul, "mul", [](auto real, const Tensor& x, const Tensor& y) {
    return mul_of<decltype(real)>(x, y);
  });
}
Tensor div(const Tensor& a, const Tensor& b) {
  return binary(a, b, Arith::Div, "div", [](auto real, const Tensor& x, const Tensor& y) {
    return div_of<decltype(real)>(x, y);
  });
}

namespace {
// With a float operand a bool one counts as 0/1 floats (`x * mask`). Two bool operands: + is
// logical or, * logical and, / divides as floats, and - throws, as in PyTorch.
Tensor with_bools(const Tensor& a, const Tensor& b, Arith op) {
  if (a.dtype() == kBool && b.dtype() == kBool) {
    EMBER_CHECK_DTYPE(op != Arith::Sub, "sub: subtracting two bool tensors is not supported (as ",
                      "in PyTorch); use logical_xor, or convert with .to(kFloat32)");
    if (op == Arith::Add) return logical_or(a, b);
    if (op == Arith::Mul) return logical_and(a, b);
  }
  const Tensor x = as_float(a), y = as_float(b);
  switch (op) {
    case Arith::Add:
      return add(x, y);
    case Arith::Sub:
      return sub(x, y);
    case Arith::Mul:
      return mul(x, y);
    case Arith::Div:
      return div(x, y);
  }
  return Tensor();
}
}  // namespace

// Unary ops and the scalar forms: `unary(x, "op", f)` calls f(T{}, a) with a = x, or x as 0/1
// float32 values for a bool x (as in PyTorch), and T the element type of a's dtype.
namespace {
template <class F>
Tensor unary(const Tensor& x, const char* op, F&& f) {
  const Tensor a = as_float(x);
  return detail::by_dtype(a, op, [&](auto real) { return f(real, a); });
}
}  // namespace

Tensor add(const Tensor& a, double b) {
  return unary(a, "add", [&](auto real, const Tensor& a) {
    using T = decltype(real);
    const T s = static_cast<T>(b);
    return make_output(detail::elementwise<T>(a, [s](const auto& x) { return x + s; }), "add", {a},
                       [](const ArrayOf<T>& g) { return gradients(g); });
  });
}

Tensor mul(const Tensor& a, double b) {
  return unary(a, "mul", [&](auto real, const Tensor& a) {
    using T = decltype(real);
    const T s = static_cast<T>(b);
    return make_output(detail::elementwise<T>(a, [s](const auto& x) { return x * s; }), "mul", {a},
                       [s](const ArrayOf<T>& g) { return gradients(g * s); });
  });
}

// float32 multiplies by the float reciprocal of b (its bits since round one; PyTorch divides,
// which can differ in the last bit); float64 divides, as PyTorch.
Tensor div(const Tensor& a, double b) {
  return unary(a, "div", [&](auto real, const Tensor& a) {
    using T = decltype(real);
    if constexpr (std::is_same_v<T, float>) {
      return mul(a, 1.f / static_cast<float>(b));
    } else {
      const T s = static_cast<T>(b);
      return make_output(detail::elementwise<T>(a, [s](const auto& x) { return x / s; }), "div",
                         {a}, [s](const ArrayOf<T>& g) { return gradients(g / s); });
    }
  });
}

Tensor rsub(double a, const Tensor& b) {
  return unary(b, "rsub", [&](auto real, const Tensor& b) {
    using T = decltype(real);
    const T s = static_cast<T>(a);
    return make_output(detail::elementwise<T>(b, [s](const auto& x) { return s - x; }), "rsub", {b},
                       [](const ArrayOf<T>& g) { return gradients(-g); });
  });
}

Tensor rdiv(double a, const Tensor& b) {
  return unary(b, "div", [&](auto real, const Tensor& b) {
    using T = decltype(real);
    const T s = static_cast<T>(a);
    auto B = detail::saved<T>(b);
    return make_output(detail::elementwise<T>(b, [s](const auto& x) { return s / x; }), "div", {b},
                       [s, B](const ArrayOf<T>& g) { return gradients(-g * s / (*B * *B)); });
  });
}

Tensor neg(const Tensor& a) {
  return unary(a, "neg", [&](auto real, const Tensor& a) {
    using T = decltype(real);
    return make_output(detail::elementwise<T>(a, [](const auto& x) { return -x; }), "neg", {a},
                       [](const ArrayOf<T>& g) { return gradients(-g); });
  });
}

namespace {
// x^e element by element with std::pow (C's rules, as PyTorch: 0^0 = 1, 0^-e = inf, a negative
// base with an integral exponent is exact); xsimd's vectorised pow gets those wrong.
template <class T>
void power(const T* in, T* o, int64_t n, T e) {
  if (e == T(2))  // the common case, and the cheap one
    for (int64_t i = 0; i < n; ++i) o[i] = in[i] * in[i];
  else
    for (int64_t i = 0; i < n; ++i) o[i] = std::pow(in[i], e);
}
template <class T>
ArrayOf<T> power(const ArrayOf<T>& x, T e) {
  ArrayOf<T> out = ArrayOf<T>::from_shape(x.shape());
  power(x.data(), out.data(), static_cast<int64_t>(x.size()), e);
  return out;
}
}  // namespace

Tensor pow(const Tensor& a, double exponent) {
  return unary(a, "pow", [&](auto real, const Tensor& a) {
    using T = decltype(real);
    auto A = detail::saved<T>(a);
    const T e = static_cast<T>(exponent);
    auto raise = [e](const T* in, T* o, int64_t n) { power(in, o, n, e); };
    ArrayOf<T> out;
    if constexpr (std::is_same_v<T, float>) {
      out = detail::elementwise_loop(a, raise);
    } else {
      out = detail::pack<T>(a);
      raise(out.data(), out.data(), static_cast<int64_t>(out.size()));
    }
    return make_output(std::move(out), "pow", {a}, [A, e](const ArrayOf<T>& g) {
      // x^0 is constant: its gradient is 0 everywhere (0 * 0^-1 would be NaN at x = 0).
      if (e == T(0)) return gradients(ArrayOf<T>(xt::zeros<T>(A->shape())));
      return gradients(g * e * power(*A, e - T(1)));
    });
  });
}

Tensor exp(const Tensor& a) {
  return unary(a, "exp", [&](auto real, const Tensor& a) {
    using T = decltype(real);
    Tensor out;
    if constexpr (std::is_same_v<T, float>)
      out = Tensor(detail::elementwise_loop(a, detail::kernels::exp));
    else
      out = Tensor(detail::elementwise<T>(a, [](const auto& x) { return xt::exp(x); }));
    auto y = detail::saved<T>(out);
    return make_output_of<T>(out, "exp", {a},
                             [y](const ArrayOf<T>& g) { return gradients(g * *y); });
  });
}

Tensor log(const Tensor& a) {
  return unary(a, "log", [&](auto real, const Tensor& a) {
    using T = decltype(real);
    auto A = detail::saved<T>(a);
    return make_output(detail::elementwise<T>(a, [](const auto& x) { return xt::log(x); }), "log",
                       {a}, [A](const ArrayOf<T>& g) { return gradients(g / *A); });
  });
}

Tensor sqrt(const Tensor& a) {
  return unary(a, "sqrt", [&](auto real, const Tensor& a) {
    using T = decltype(real);
    Tensor out(detail::elementwise<T>(a, [](const auto& x) { return xt::sqrt(x); }));
    auto y = detail::saved<T>(out);
    return make_output_of<T>(out, "sqrt", {a},
                             [y](const ArrayOf<T>& g) { return gradients(g * T(0.5) / *y); });
  });
}

Tensor abs(const Tensor& a) {
  return unary(a, "abs", [&](auto real, const Tensor& a) {
    using T = decltype(real);
    auto A = detail::saved<T>(a);
    return make_output(detail::elementwise<T>(a, [](const auto& x) { return xt::abs(x); }), "abs",
                       {a}, [A](const ArrayOf<T>& g) { return gradients(g * xt::sign(*A)); });
  });
}

Tensor sin(const Tensor& a) {
  return unary(a, "sin", [&](auto real, const Tensor& a) {
    using T = decltype(real);
    auto A = detail::saved<T>(a);
    return make_output(detail::elementwise<T>(a, [](const auto& x) { return xt::sin(x); }), "sin",
                       {a}, [A](const ArrayOf<T>& g) { return gradients(g * xt::cos(*A)); });
  });
}

Tensor cos(const Tensor& a) {
  return unary(a, "cos", [&](auto real, const Tensor& a) {
    using T = decltype(real);
    auto A = detail::saved<T>(a);
    return make_output(detail::elementwise<T>(a, [](const auto& x) { return xt::cos(x); }), "cos",
                       {a}, [A](const ArrayOf<T>& g) { return gradients(-g * xt::sin(*A)); });
  });
}

Tensor log1p(const Tensor& a) {
  return unary(a, "log1p", [&](auto real, const Tensor& a) {
    using T = decltype(real);
    auto A = detail::saved<T>(a);
    return make_output(detail::elementwise<T>(a, [](const auto& x) { return xt::log1p(x); }),
                       "log1p", {a},
                       [A](const ArrayOf<T>& g) { return gradients(g / (T(1) + *A)); });
  });
}

namespace {
// maximum (largest) or minimum: a wins where it is strictly better or NaN; equal elements
// share the gradient half and half, as PyTorch.
template <class T>
Tensor pick_of(const Tensor& a, const Tensor& b, bool largest, const char* op) {
  Shape sa = a.shape(), sb = b.shape();
  // for backward: forward reads a and b where they sit
  auto A = detail::saved<T>(a), B = detail::saved<T>(b);
  auto a_wins = [largest](const ArrayOf<T>& x, const ArrayOf<T>& y) {
    ArrayOf<T> strictly = largest ? ArrayOf<T>(xt::where(x > y, T(1), T(0)))
                                  : ArrayOf<T>(xt::where(x < y, T(1), T(0)));
    return ArrayOf<T>(
        xt::where(xt::isnan(x) || strictly > T(0), T(1), xt::where(xt::equal(x, y), T(0.5), T(0))));
  };
  // a wins where it is better or NaN; a tie picks either, as they are equal.
  const Shape out_shape = broadcast_shapes(sa, sb, op);
  ArrayOf<T> out = largest
                       ? detail::elementwise<T>(a, b, out_shape,
                                                [](const auto& x, const auto& y) {
                                                  return xt::where(xt::isnan(x) || x > y, x, y);
                                                })
                       : detail::elementwise<T>(a, b, out_shape, [](const auto& x, const auto& y) {
                           return xt::where(xt::isnan(x) || x < y, x, y);
                         });
  return make_output(std::move(out), op, {a, b}, [=](const ArrayOf<T>& g) {
    ArrayOf<T> w = a_wins(*A, *B);
    return gradients(sum_to(g * w, sa), sum_to(g * (T(1) - w), sb));
  });
}

Tensor pick(const Tensor& a, const Tensor& b, bool largest, const char* op) {
  if (a.dtype() != b.dtype()) {
    const auto [x, y] = detail::promoted(a, b);
    return pick(x, y, largest, op);
  }
  return detail::by_dtype(a, op,
                          [&](auto real) { return pick_of<decltype(real)>(a, b, largest, op); });
}
}  // namespace

Tensor maximum(const Tensor& a, const Tensor& b) { return pick(a, b, true, "maximum"); }
Tensor minimum(const Tensor& a, const Tensor& b) { return pick(a, b, false, "minimum"); }

Tensor clamp(const Tensor& a, double min, double max) {
  EMBER_CHECK_VALUE(min <= max, "clamp: min ", min, " is greater than max ", max);
  return detail::by_dtype(a, "clamp", [&](auto real) {
    using T = decltype(real);
    auto A = detail::saved<T>(a);
    const T lo = static_cast<T>(min), hi = static_cast<T>(max);
    return make_output(
        detail::elementwise<T>(a, [=](const auto& x) { return xt::clip(x, lo, hi); }), "clamp", {a},
        [A, lo, hi](const ArrayOf<T>& g) {
          // As PyTorch: gradient flows where min <= x <= max, boundaries included.
          return gradients(xt::where(*A >= lo && *A <= hi, g, T(0)));
        });
  });
}

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator-(const Tensor& a) { return neg(a); }
Tensor operator+(const Tensor& a, double b) { return add(a, b); }
Tensor operator+(double a, const Tensor& b) { return add(b, a); }
Tensor operator-(const Tensor& a, double b) { return add(a, -b); }
Tensor operator-(double a, const Tensor& b) { return rsub(a, b); }
Tensor operator*(const Tensor& a, double b) { return mul(a, b); }
Tensor operator*(double a, const Tensor& b) { return mul(b, a); }
Tensor operator/(const Tensor& a, double b) { return div(a, b); }
Tensor operator/(double a, const Tensor& b) { return rdiv(a, b); }

}  // namespace ember
