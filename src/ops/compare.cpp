// Comparisons: broadcasting 0/1 float masks (as PyTorch's bool results, in the float a mask
// multiplies by), never differentiated; equal() for whole-tensor equality.
#include <xtensor/xoperation.hpp>

#include "ember/ops.hpp"
#include "op_helpers.hpp"

namespace ember {

namespace {
template <class Cmp>
Tensor compare(const Tensor& a, const Tensor& b, const char* op, Cmp cmp) {
  detail::broadcast_shapes(a.shape(), b.shape(), op);
  return Tensor(Array(xt::where(cmp(a.data(), b.data()), 1.f, 0.f)));
}
template <class Cmp>
Tensor compare(const Tensor& a, float b, Cmp cmp) {
  return Tensor(Array(xt::where(cmp(a.data(), b), 1.f, 0.f)));
}
}  // namespace

// One line per comparison; xtensor's operators give the elementwise bool expression.
#define EMBER_COMPARISON(name, sym, xt_expr)                                           \
  Tensor name(const Tensor& a, const Tensor& b) {                                      \
    return compare(a, b, #name, [](const auto& x, const auto& y) { return xt_expr; }); \
  }                                                                                    \
  Tensor name(const Tensor& a, float b) {                                              \
    return compare(a, b, [](const auto& x, const auto& y) { return xt_expr; });        \
  }                                                                                    \
  Tensor operator sym(const Tensor& a, const Tensor& b) { return name(a, b); }         \
  Tensor operator sym(const Tensor& a, float b) { return name(a, b); }

EMBER_COMPARISON(eq, ==, xt::equal(x, y))
EMBER_COMPARISON(ne, !=, xt::not_equal(x, y))
EMBER_COMPARISON(lt, <, x < y)
EMBER_COMPARISON(le, <=, x <= y)
EMBER_COMPARISON(gt, >, x > y)
EMBER_COMPARISON(ge, >=, x >= y)
#undef EMBER_COMPARISON

bool equal(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) return false;
  const auto x = a.data(), y = b.data();             // read through their strides
  return std::equal(x.begin(), x.end(), y.begin());  // NaN != NaN, as torch.equal
}

}  // namespace ember
