// IndexTensor: int64 values with a shape.
#include "ember/index_tensor.hpp"

#include <cmath>
#include <numeric>
#include <ostream>
#include <xtensor/xadapt.hpp>
#include <xtensor/xoperation.hpp>

#include "bool_values.hpp"
#include "ember/ops.hpp"
#include "ops/op_helpers.hpp"

namespace ember {

IndexTensor::IndexTensor(std::initializer_list<int64_t> values)
    : values_(values), shape_{static_cast<int64_t>(values.size())} {}

IndexTensor::IndexTensor(std::vector<int64_t> values)
    : values_(std::move(values)), shape_{static_cast<int64_t>(values_.size())} {}

IndexTensor::IndexTensor(std::vector<int64_t> values, Shape shape)
    : values_(std::move(values)), shape_(std::move(shape)) {
  EMBER_CHECK_SHAPE(detail::checked_numel(shape_, "IndexTensor", sizeof(int64_t)) ==
                        static_cast<int64_t>(values_.size()),
                    "IndexTensor: ", values_.size(), " values do not fill shape ",
                    detail::shape_str(shape_));
}

int64_t IndexTensor::size(int64_t d) const {
  return shape_[static_cast<size_t>(detail::wrap_dim(d, dim(), "size"))];
}

int64_t IndexTensor::item() const {
  EMBER_CHECK_SHAPE(numel() == 1, "item: an IndexTensor with ", numel(),
                    " elements cannot be converted to a scalar (shape ", detail::shape_str(shape_),
                    "): only a one-element tensor can");
  return values_[0];
}

IndexTensor IndexTensor::reshape(const Shape& shape) const {
  return IndexTensor(values_, detail::infer_shape(shape, numel(), shape_, "reshape"));
}

IndexTensor IndexTensor::unsqueeze(int64_t d) const {
  d = detail::wrap_dim(d, dim() + 1, "unsqueeze");
  Shape s = shape_;
  s.insert(s.begin() + d, 1);
  return IndexTensor(values_, s);
}

IndexTensor IndexTensor::squeeze(int64_t d) const {
  d = detail::wrap_dim(d, dim(), "squeeze");
  Shape s = shape_;
  if (!s.empty() && s[d] == 1) s.erase(s.begin() + d);  // a 0-d tensor stays 0-d, as PyTorch
  return IndexTensor(values_, s);
}

IndexTensor IndexTensor::sum() const {
  int64_t total = 0;
  for (int64_t v : values_) total += v;
  return IndexTensor({total}, {});
}

namespace {
template <class Cmp>
Tensor compare(const IndexTensor& a, const IndexTensor& b, const char* op, Cmp cmp) {
  const Shape shape = detail::broadcast_shapes(a.shape(), b.shape(), op);
  auto x = xt::adapt(a.data(), static_cast<size_t>(a.numel()), xt::no_ownership(),
                     detail::to_xshape(a.shape()));
  auto y = xt::adapt(b.data(), static_cast<size_t>(b.numel()), xt::no_ownership(),
                     detail::to_xshape(b.shape()));
  return detail::bool_tensor(shape, cmp(x, y));
}
template <class Cmp>
Tensor compare(const IndexTensor& a, int64_t b, Cmp cmp) {
  auto x = xt::adapt(a.data(), static_cast<size_t>(a.numel()), xt::no_ownership(),
                     detail::to_xshape(a.shape()));
  return detail::bool_tensor(a.shape(), cmp(x, b));
}
}  // namespace

#define EMBER_INDEX_COMPARISON(sym, xt_expr)                                                     \
  Tensor operator sym(const IndexTensor& a, const IndexTensor& b) {                              \
    return compare(a, b, "operator" #sym, [](const auto& x, const auto& y) { return xt_expr; }); \
  }                                                                                              \
  Tensor operator sym(const IndexTensor& a, int64_t b) {                                         \
    return compare(a, b, [](const auto& x, const auto& y) { return xt_expr; });                  \
  }

EMBER_INDEX_COMPARISON(==, xt::equal(x, y))
EMBER_INDEX_COMPARISON(!=, xt::not_equal(x, y))
EMBER_INDEX_COMPARISON(<, x < y)
EMBER_INDEX_COMPARISON(<=, x <= y)
EMBER_INDEX_COMPARISON(>, x > y)
EMBER_INDEX_COMPARISON(>=, x >= y)
#undef EMBER_INDEX_COMPARISON

bool equal(const IndexTensor& a, const IndexTensor& b) {
  return a.shape() == b.shape() && a.to_vector() == b.to_vector();
}

IndexTensor to_index(const Tensor& a) {
  detail::Dense dense(a);
  const Array& x = *dense;
  std::vector<int64_t> values(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const float v = x.data()[i];
    // 2^63 is exactly representable as a float; anything at or past it does not fit.
    EMBER_CHECK_VALUE(std::isfinite(v) && std::abs(v) < 9.2233720368547758e18f, "to_index: value ",
                      v, " at element ", i, " is not a finite number within int64");
    values[i] = static_cast<int64_t>(v);  // truncates toward zero, as PyTorch's .long()
  }
  return IndexTensor(std::move(values), a.shape());
}

Tensor to_float(const IndexTensor& a) {
  Array out = Array::from_shape(detail::to_xshape(a.shape()));
  for (int64_t i = 0; i < a.numel(); ++i) out.data()[i] = static_cast<float>(a.data()[i]);
  return Tensor(std::move(out));
}

}  // namespace ember
