// IndexTensor: int64 token ids, class labels and argmax results. Never differentiable, and a
// distinct type so that floats cannot be passed where indices belong.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <vector>

#include "ember/tensor.hpp"

namespace ember {

class IndexTensor {
 public:
  IndexTensor() = default;
  IndexTensor(std::initializer_list<int64_t> values);  // 1-D
  IndexTensor(std::vector<int64_t> values, Shape shape);
  explicit IndexTensor(std::vector<int64_t> values);  // 1-D

  const Shape& shape() const { return shape_; }
  int64_t dim() const { return static_cast<int64_t>(shape_.size()); }
  int64_t numel() const { return static_cast<int64_t>(values_.size()); }
  int64_t size(int64_t dim) const;
  int64_t item() const;
  template <class T>
  T item() const {
    return static_cast<T>(item());
  }
  IndexTensor sum() const;  // 0-d, as PyTorch's sum of an int64 tensor
  const std::vector<int64_t>& to_vector() const { return values_; }
  const int64_t* data() const { return values_.data(); }
  int64_t operator[](int64_t flat_index) const {
    return values_.at(static_cast<size_t>(flat_index));
  }

  IndexTensor reshape(const Shape& shape) const;
  IndexTensor flatten() const { return reshape({numel()}); }
  IndexTensor unsqueeze(int64_t dim) const;
  IndexTensor squeeze(int64_t dim) const;

 private:
  std::vector<int64_t> values_;
  Shape shape_;
};

std::ostream& operator<<(std::ostream& out, const IndexTensor& t);

// Elementwise comparisons with another IndexTensor (broadcasting) or a scalar give a float 0/1
// mask, as PyTorch's (e.g. `ids != pad` for masked_mean, `argmax(logits, 1) == labels`).
// Whole-tensor equality is equal(a, b).
Tensor operator==(const IndexTensor& a, const IndexTensor& b);
Tensor operator!=(const IndexTensor& a, const IndexTensor& b);
Tensor operator<(const IndexTensor& a, const IndexTensor& b);
Tensor operator<=(const IndexTensor& a, const IndexTensor& b);
Tensor operator>(const IndexTensor& a, const IndexTensor& b);
Tensor operator>=(const IndexTensor& a, const IndexTensor& b);
Tensor operator==(const IndexTensor& a, int64_t b);
Tensor operator!=(const IndexTensor& a, int64_t b);
Tensor operator<(const IndexTensor& a, int64_t b);
Tensor operator<=(const IndexTensor& a, int64_t b);
Tensor operator>(const IndexTensor& a, int64_t b);
Tensor operator>=(const IndexTensor& a, int64_t b);
// Same shape and the same values.
bool equal(const IndexTensor& a, const IndexTensor& b);

}  // namespace ember
