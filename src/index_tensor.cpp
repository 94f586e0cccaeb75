// IndexTensor: int64 values with a shape.
#include "ember/index_tensor.hpp"

#include <numeric>
#include <ostream>

namespace ember {

namespace {
int64_t product(const Shape& shape) {
  return std::accumulate(shape.begin(), shape.end(), int64_t{1}, std::multiplies<>());
}
}  // namespace

IndexTensor::IndexTensor(std::initializer_list<int64_t> values)
    : values_(values), shape_{static_cast<int64_t>(values.size())} {}

IndexTensor::IndexTensor(std::vector<int64_t> values)
    : values_(std::move(values)), shape_{static_cast<int64_t>(values_.size())} {}

IndexTensor::IndexTensor(std::vector<int64_t> values, Shape shape)
    : values_(std::move(values)), shape_(std::move(shape)) {
  for (int64_t d : shape_)
    EMBER_CHECK_SHAPE(d >= 0, "IndexTensor: negative size in shape ", detail::shape_str(shape_));
  EMBER_CHECK_SHAPE(product(shape_) == static_cast<int64_t>(values_.size()),
                    "IndexTensor: ", values_.size(), " values do not fill shape ",
                    detail::shape_str(shape_));
}

int64_t IndexTensor::size(int64_t d) const {
  return shape_[static_cast<size_t>(detail::wrap_dim(d, dim(), "size"))];
}

int64_t IndexTensor::item() const {
  EMBER_CHECK_SHAPE(numel() == 1, "item: an IndexTensor with ", numel(),
                    " elements cannot be converted to a scalar");
  return values_[0];
}

IndexTensor IndexTensor::reshape(const Shape& shape) const {
  Shape target = shape;
  for (int64_t& d : target)
    if (d == -1) d = numel() / std::max<int64_t>(1, -product(shape));
  EMBER_CHECK_SHAPE(product(target) == numel(), "reshape: shape ", detail::shape_str(shape),
                    " is invalid for input of size ", numel());
  return IndexTensor(values_, target);
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
  if (s[d] == 1) s.erase(s.begin() + d);
  return IndexTensor(values_, s);
}

Tensor IndexTensor::operator==(int64_t value) const {
  Array mask = Array::from_shape(detail::to_xshape(shape_));
  for (size_t i = 0; i < values_.size(); ++i) mask.data()[i] = values_[i] == value ? 1.f : 0.f;
  return Tensor(std::move(mask));
}

Tensor IndexTensor::operator!=(int64_t value) const {
  Array mask = Array::from_shape(detail::to_xshape(shape_));
  for (size_t i = 0; i < values_.size(); ++i) mask.data()[i] = values_[i] != value ? 1.f : 0.f;
  return Tensor(std::move(mask));
}

bool IndexTensor::operator==(const IndexTensor& other) const {
  return shape_ == other.shape_ && values_ == other.values_;
}

}  // namespace ember
