// Elementwise ops with NumPy broadcasting. Every binary backward reduces with sum_to.
#include <cmath>
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

Tensor add(const Tensor& a, const Tensor& b) {
  if (any_bool(a, b)) return with_bools(a, b, Arith::Add);
  if (same_whole(a, b))
    return make_output(same_shape_op(detail::kernels::add, *detail::Dense(a), *detail::Dense(b)),
                       "add", {a, b}, [](const Array& g) { return gradients(g, g); });
  Shape sa = a.shape(), sb = b.shape();
  Array out = detail::elementwise(a, b, result_shape(a, b, "add"),
                                  [](const auto& x, const auto& y) { return x + y; });
  return make_output(std::move(out), "add", {a, b},
                     [sa, sb](const Array& g) { return gradients(sum_to(g, sa), sum_to(g, sb)); });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  if (any_bool(a, b)) return with_bools(a, b, Arith::Sub);
  if (same_whole(a, b))
    return make_output(same_shape_op(detail::kernels::sub, *detail::Dense(a), *detail::Dense(b)),
                       "sub", {a, b}, [](const Array& g) { return gradients(g, Array(-g)); });
  Shape sa = a.shape(), sb = b.shape();
  Array out = detail::elementwise(a, b, result_shape(a, b, "sub"),
                                  [](const auto& x, const auto& y) { return x - y; });
  return make_output(std::move(out), "sub", {a, b},
                     [sa, sb](const Array& g) { return gradients(sum_to(g, sa), sum_to(-g, sb)); });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  if (any_bool(a, b)) return with_bools(a, b, Arith::Mul);
  auto A = a.storage(), B = b.storage();  // a view's values are packed only if backward reads them
  bool need_a = a.requires_grad(), need_b = b.requires_grad();
  if (same_whole(a, b))
    return make_output(same_shape_op(detail::kernels::mul, *A, *B), "mul", {a, b},
                       [=](const Array& g) {
                         return gradients_if(
                             need_a, [&] { return same_shape_op(detail::kernels::mul, g, *B); },  //
                             need_b, [&] { return same_shape_op(detail::kernels::mul, g, *A); });
                       });
  Shape sa = a.shape(), sb = b.shape();
  Array out = detail::elementwise(a, b, result_shape(a, b, "mul"),
                                  [](const auto& x, const auto& y) { return x * y; });
  return make_output(std::move(out), "mul", {a, b}, [=](const Array& g) {
    return gradients_if(
        need_a, [&] { return sum_to(g * *B, sa); }, need_b, [&] { return sum_to(g * *A, sb); });
  });
}

Tensor div(const Tensor& a, const Tensor& b) {
  if (any_bool(a, b)) return with_bools(a, b, Arith::Div);
  Shape sa = a.shape(), sb = b.shape();
  auto A = a.storage(), B = b.storage();
  bool need_a = a.requires_grad(), need_b = b.requires_grad();
  Array out = same_whole(a, b)
                  ? same_shape_op(detail::kernels::div, *A, *B)
                  : detail::elementwise(a, b, result_shape(a, b, "div"),
                                        [](const auto& x, const auto& y) { return x / y; });
  return make_output(std::move(out), "div", {a, b}, [=](const Array& g) {
    return gradients_if(
        need_a, [&] { return sum_to(g / *B, sa); },  //
        need_b, [&] { return sum_to(-g * *A / (*B * *B), sb); });
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

Tensor add(const Tensor& a, float b) {
  if (a.dtype() == kBool) return add(as_float(a), b);
  return make_output(detail::elementwise(a, [b](const auto& x) { return x + b; }), "add", {a},
                     [](const Array& g) { return gradients(g); });
}

Tensor mul(const Tensor& a, float b) {
  if (a.dtype() == kBool) return mul(as_float(a), b);
  return make_output(detail::elementwise(a, [b](const auto& x) { return x * b; }), "mul", {a},
                     [b](const Array& g) { return gradients(Array(g * b)); });
}

Tensor rsub(float a, const Tensor& b) {
  if (b.dtype() == kBool) return rsub(a, as_float(b));
  return make_output(detail::elementwise(b, [a](const auto& x) { return a - x; }), "rsub", {b},
                     [](const Array& g) { return gradients(Array(-g)); });
}

Tensor rdiv(float a, const Tensor& b) {
  if (b.dtype() == kBool) return rdiv(a, as_float(b));
  auto B = b.storage();
  return make_output(detail::elementwise(b, [a](const auto& x) { return a / x; }), "div", {b},
                     [a, B](const Array& g) { return gradients(Array(-g * a / (*B * *B))); });
}

Tensor neg(const Tensor& a) {
  return make_output(detail::elementwise(a, [](const auto& x) { return -x; }), "neg", {a},
                     [](const Array& g) { return gradients(Array(-g)); });
}

namespace {
// x^e element by element with std::pow (C's rules, as PyTorch: 0^0 = 1, 0^-e = inf, a negative
// base with an integral exponent is exact); xsimd's vectorised pow gets those wrong.
void power(const float* in, float* o, int64_t n, float e) {
  if (e == 2.f)  // the common case, and the cheap one
    for (int64_t i = 0; i < n; ++i) o[i] = in[i] * in[i];
  else
    for (int64_t i = 0; i < n; ++i) o[i] = std::pow(in[i], e);
}
Array power(const Array& x, float e) {
  Array out = Array::from_shape(x.shape());
  power(x.data(), out.data(), static_cast<int64_t>(x.size()), e);
  return out;
}
}  // namespace

Tensor pow(const Tensor& a, float exponent) {
  auto A = a.storage();
  Array out = detail::elementwise_loop(
      a, [exponent](const float* in, float* o, int64_t n) { power(in, o, n, exponent); });
  return make_output(std::move(out), "pow", {a}, [A, exponent](const Array& g) {
    // x^0 is constant: its gradient is 0 everywhere (0 * 0^-1 would be NaN at x = 0).
    if (exponent == 0.f) return gradients(Array(xt::zeros<float>(A->shape())));
    return gradients(Array(g * exponent * power(*A, exponent - 1.f)));
  });
}

Tensor exp(const Tensor& a) {
  Tensor out(detail::elementwise_loop(a, detail::kernels::exp));
  SavedValues y = out.storage();
  return make_output(out, "exp", {a}, [y](const Array& g) { return gradients(Array(g * *y)); });
}

Tensor log(const Tensor& a) {
  auto A = a.storage();
  return make_output(detail::elementwise(a, [](const auto& x) { return xt::log(x); }), "log", {a},
                     [A](const Array& g) { return gradients(Array(g / *A)); });
}

Tensor sqrt(const Tensor& a) {
  Tensor out(detail::elementwise(a, [](const auto& x) { return xt::sqrt(x); }));
  SavedValues y = out.storage();
  return make_output(out, "sqrt", {a},
                     [y](const Array& g) { return gradients(Array(g * 0.5f / *y)); });
}

Tensor abs(const Tensor& a) {
  auto A = a.storage();
  return make_output(detail::elementwise(a, [](const auto& x) { return xt::abs(x); }), "abs", {a},
                     [A](const Array& g) { return gradients(Array(g * xt::sign(*A))); });
}

Tensor sin(const Tensor& a) {
  auto A = a.storage();
  return make_output(detail::elementwise(a, [](const auto& x) { return xt::sin(x); }), "sin", {a},
                     [A](const Array& g) { return gradients(Array(g * xt::cos(*A))); });
}

Tensor cos(const Tensor& a) {
  auto A = a.storage();
  return make_output(detail::elementwise(a, [](const auto& x) { return xt::cos(x); }), "cos", {a},
                     [A](const Array& g) { return gradients(Array(-g * xt::sin(*A))); });
}

Tensor log1p(const Tensor& a) {
  auto A = a.storage();
  return make_output(detail::elementwise(a, [](const auto& x) { return xt::log1p(x); }), "log1p",
                     {a}, [A](const Array& g) { return gradients(Array(g / (1.f + *A))); });
}

namespace {
// maximum (largest) or minimum: a wins where it is strictly better or NaN; equal elements
// share the gradient half and half, as PyTorch.
Tensor pick(const Tensor& a, const Tensor& b, bool largest, const char* op) {
  Shape sa = a.shape(), sb = b.shape();
  auto A = a.storage(), B = b.storage();  // for backward: forward reads a and b where they sit
  auto a_wins = [largest](const Array& x, const Array& y) {
    Array strictly =
        largest ? Array(xt::where(x > y, 1.f, 0.f)) : Array(xt::where(x < y, 1.f, 0.f));
    return Array(
        xt::where(xt::isnan(x) || strictly > 0.f, 1.f, xt::where(xt::equal(x, y), 0.5f, 0.f)));
  };
  // a wins where it is better or NaN; a tie picks either, as they are equal.
  const Shape out_shape = broadcast_shapes(sa, sb, op);
  Array out = largest ? detail::elementwise(a, b, out_shape,
                                            [](const auto& x, const auto& y) {
                                              return xt::where(xt::isnan(x) || x > y, x, y);
                                            })
                      : detail::elementwise(a, b, out_shape, [](const auto& x, const auto& y) {
                          return xt::where(xt::isnan(x) || x < y, x, y);
                        });
  return make_output(std::move(out), op, {a, b}, [=](const Array& g) {
    Array w = a_wins(*A, *B);
    return gradients(sum_to(g * w, sa), sum_to(g * (1.f - w), sb));
  });
}
}  // namespace

Tensor maximum(const Tensor& a, const Tensor& b) { return pick(a, b, true, "maximum"); }
Tensor minimum(const Tensor& a, const Tensor& b) { return pick(a, b, false, "minimum"); }

Tensor clamp(const Tensor& a, float min, float max) {
  EMBER_CHECK_VALUE(min <= max, "clamp: min ", min, " is greater than max ", max);
  auto A = a.storage();
  return make_output(detail::elementwise(a, [=](const auto& x) { return xt::clip(x, min, max); }),
                     "clamp", {a}, [A, min, max](const Array& g) {
                       // As PyTorch: gradient flows where min <= x <= max, boundaries included.
                       return gradients(Array(xt::where(*A >= min && *A <= max, g, 0.f)));
                     });
}

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator-(const Tensor& a) { return neg(a); }
Tensor operator+(const Tensor& a, float b) { return add(a, b); }
Tensor operator+(float a, const Tensor& b) { return add(b, a); }
Tensor operator-(const Tensor& a, float b) { return add(a, -b); }
Tensor operator-(float a, const Tensor& b) { return rsub(a, b); }
Tensor operator*(const Tensor& a, float b) { return mul(a, b); }
Tensor operator*(float a, const Tensor& b) { return mul(b, a); }
Tensor operator/(const Tensor& a, float b) { return mul(a, 1.f / b); }
Tensor operator/(float a, const Tensor& b) { return rdiv(a, b); }

}  // namespace ember
