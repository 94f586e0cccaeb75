// Comparisons and logical ops: broadcasting, bool results (as PyTorch's), never differentiated;
// equal() for whole-tensor equality. Also how a bool mask is read (src/bool_values.hpp).
#include <cmath>
#include <xtensor/xoperation.hpp>

#include "../bool_values.hpp"
#include "ember/ops.hpp"
#include "op_helpers.hpp"

namespace ember {

namespace detail {

MaskBytes mask_bytes(const Tensor& mask, const char* op, const char* what) {
  EMBER_CHECK_DTYPE(mask.dtype() == kBool, op, ": expected a bool ", what, " but got a ",
                    dtype_name(mask.dtype()), " one of shape ", shape_str(mask.shape()),
                    " (a comparison such as `x == 0` makes one; or use .to(kBool))");
  const TensorImpl& impl = *mask.impl();
  const uint8_t* first = reinterpret_cast<const uint8_t*>(impl.storage->data_as<bool>());
  if (first) first += impl.layout.offset;
  return MaskBytes(MaskBytes::storage_type(first, static_cast<size_t>(mask.numel())),
                   adaptor_shape(impl), adaptor_strides(impl));
}

Tensor additive_mask(const Tensor& mask, bool hidden, const char* op, const char* what) {
  if (mask.dtype() == kFloat32) return mask;
  const BoolView m = bool_values(mask, op, what);  // throws for another dtype
  const float value_if_true = hidden ? -INFINITY : 0.f, value_if_false = hidden ? 0.f : -INFINITY;
  return Tensor(Array(xt::where(m, value_if_true, value_if_false)));
}

BoolView SavedMask::operator*() const {
  EMBER_CHECK(mask_.version() == version_, op_, " backward: its mask was modified by an in-place ",
              "operation after the forward (version ", version_, ", now ", mask_.version(), ")");
  return bool_values(mask_, op_, "mask");
}

}  // namespace detail

namespace {

// The dtype a comparison reads its operands in: float64 when one of them is float64 (the other
// promoted, as PyTorch's), else float32, a bool tensor as 0/1 values (PyTorch compares a bool
// with a number the same way).
Dtype compared_in(const Tensor& a, const Tensor& b) {
  return a.dtype() == kFloat64 || b.dtype() == kFloat64 ? kFloat64 : kFloat32;
}
Tensor comparable(const Tensor& t, Dtype as) {
  const bool widen = t.dtype() == kBool || (as == kFloat64 && t.dtype() == kFloat32);
  return widen ? t.to(as) : t;
}
// cmp(x, y) of the two operands' values: float32 through their strides, float64 as arrays.
template <class Cmp>
Tensor compare(const Tensor& a, const Tensor& b, const char* op, Cmp cmp) {
  const Shape shape = detail::broadcast_shapes(a.shape(), b.shape(), op);
  const Dtype as = compared_in(a, b);
  const Tensor x = comparable(a, as), y = comparable(b, as);
  if (as == kFloat32) return detail::bool_tensor(shape, cmp(x.data(), y.data()));
  return detail::with_values_of<double>(x, [&](const auto& u) {
    return detail::with_values_of<double>(
        y, [&](const auto& v) { return detail::bool_tensor<double>(shape, cmp(u, v)); });
  });
}
// A scalar compares in the tensor's dtype, as PyTorch's wrapped scalar: rounded to float for a
// float32 (or bool) tensor, exact for a float64 one.
template <class Cmp>
Tensor compare(const Tensor& a, double b, Cmp cmp) {
  const Dtype as = a.dtype() == kFloat64 ? kFloat64 : kFloat32;
  const Tensor x = comparable(a, as);
  if (as == kFloat32) return detail::bool_tensor(a.shape(), cmp(x.data(), static_cast<float>(b)));
  return detail::with_values_of<double>(
      x, [&](const auto& u) { return detail::bool_tensor<double>(a.shape(), cmp(u, b)); });
}

// Bitwise ops exist for bool tensors only (on floats PyTorch refuses them too).
void check_bool(const Tensor& t, const char* op) {
  EMBER_CHECK_DTYPE(t.dtype() == kBool, op, ": needs bool tensors (PyTorch's bitwise ops on ",
                    "masks), got ", dtype_name(t.dtype()), "; use logical_not/and/or/xor");
}

}  // namespace

// One line per comparison; xtensor's operators give the elementwise bool expression.
#define EMBER_COMPARISON(name, sym, xt_expr)                                           \
  Tensor name(const Tensor& a, const Tensor& b) {                                      \
    return compare(a, b, #name, [](const auto& x, const auto& y) { return xt_expr; }); \
  }                                                                                    \
  Tensor name(const Tensor& a, double b) {                                             \
    return compare(a, b, [](const auto& x, const auto& y) { return xt_expr; });        \
  }                                                                                    \
  Tensor operator sym(const Tensor& a, const Tensor& b) { return name(a, b); }         \
  Tensor operator sym(const Tensor& a, double b) { return name(a, b); }

EMBER_COMPARISON(eq, ==, xt::equal(x, y))
EMBER_COMPARISON(ne, !=, xt::not_equal(x, y))
EMBER_COMPARISON(lt, <, x < y)
EMBER_COMPARISON(le, <=, x <= y)
EMBER_COMPARISON(gt, >, x > y)
EMBER_COMPARISON(ge, >=, x >= y)
#undef EMBER_COMPARISON

// Logical ops read any value as true when nonzero (NaN included), as PyTorch's.
Tensor logical_not(const Tensor& a) { return eq(a, 0.f); }
Tensor logical_and(const Tensor& a, const Tensor& b) {
  return compare(a, b, "logical_and", [](const auto& x, const auto& y) {
    return xt::not_equal(x, 0.f) && xt::not_equal(y, 0.f);
  });
}
Tensor logical_or(const Tensor& a, const Tensor& b) {
  return compare(a, b, "logical_or", [](const auto& x, const auto& y) {
    return xt::not_equal(x, 0.f) || xt::not_equal(y, 0.f);
  });
}
Tensor logical_xor(const Tensor& a, const Tensor& b) {
  return compare(a, b, "logical_xor", [](const auto& x, const auto& y) {
    return xt::not_equal(xt::not_equal(x, 0.f), xt::not_equal(y, 0.f));
  });
}

Tensor operator~(const Tensor& a) {
  check_bool(a, "operator~");
  return logical_not(a);
}
Tensor operator&(const Tensor& a, const Tensor& b) {
  check_bool(a, "operator&");
  check_bool(b, "operator&");
  return logical_and(a, b);
}
Tensor operator|(const Tensor& a, const Tensor& b) {
  check_bool(a, "operator|");
  check_bool(b, "operator|");
  return logical_or(a, b);
}
Tensor operator^(const Tensor& a, const Tensor& b) {
  check_bool(a, "operator^");
  check_bool(b, "operator^");
  return logical_xor(a, b);
}

Tensor any(const Tensor& a) { return gt(sum(ne(a, 0.f)), 0.f); }
Tensor all(const Tensor& a) { return eq(sum(ne(a, 0.f)), static_cast<float>(a.numel())); }
Tensor any(const Tensor& a, int64_t dim, bool keepdim) {
  return gt(sum(ne(a, 0.f), {dim}, keepdim), 0.f);
}
Tensor all(const Tensor& a, int64_t dim, bool keepdim) {
  const int64_t n = a.dim() == 0 ? 1 : a.size(dim);
  return eq(sum(ne(a, 0.f), {dim}, keepdim), static_cast<float>(n));
}

bool equal(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  if (a.dtype() != kFloat32) {  // compared as doubles, which hold every dtype exactly
    const auto x = detail::convert_storage(a, kFloat64), y = detail::convert_storage(b, kFloat64);
    const double* first = x->data_as<double>();
    return std::equal(first, first + a.numel(), y->data_as<double>());
  }
  const auto x = a.data(), y = b.data();             // read through their strides
  return std::equal(x.begin(), x.end(), y.begin());  // NaN != NaN, as torch.equal
}

}  // namespace ember
