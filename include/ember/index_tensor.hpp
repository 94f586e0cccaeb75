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

  // shape() and to_vector() return values, as Tensor's: a reference into a temporary would
  // dangle (`for (auto i : randint(n, {B}).to_vector())`). data() is for named tensors.
  Shape shape() const { return shape_; }
  int64_t dim() const { return static_cast<int64_t>(shape_.size()); }
  int64_t numel() const { return static_cast<int64_t>(values_.size()); }
  int64_t size(int64_t dim) const;
  int64_t item() const;
  template <class T>
  T item() const {
    return static_cast<T>(item());
  }
  IndexTensor sum() const;  // 0-d, as PyTorch's sum of an int64 tensor
  std::vector<int64_t> to_vector() const { return values_; }
  const int64_t* data() const { return values_.data(); }
  int64_t operator[](int64_t flat_index) const {
    return values_.at(static_cast<size_t>(flat_index));
  }

  IndexTensor reshape(const Shape& shape) const;
  IndexTensor flatten() const { return reshape({numel()}); }
  IndexTensor unsqueeze(int64_t dim) const;
  IndexTensor squeeze(int64_t dim) const;
  // Slicing, with Tensor's rules and messages (src/index_tensor_ops.cpp); each returns a copy.
  IndexTensor narrow(int64_t dim, int64_t start, int64_t length) const;
  IndexTensor select(int64_t dim, int64_t index) const;
  IndexTensor slice(int64_t dim, int64_t start, int64_t end, int64_t step = 1) const;

  // torch.arange(end) / torch.arange(start, end, step) of int64: ceil((end - start) / step)
  // values start, start + step, ... (a float arange is ember::arange).
  static IndexTensor arange(int64_t end);
  static IndexTensor arange(int64_t start, int64_t end, int64_t step = 1);

 private:
  std::vector<int64_t> values_;
  Shape shape_;
};

std::ostream& operator<<(std::ostream& out, const IndexTensor& t);

// Elementwise comparisons with another IndexTensor (broadcasting) or a scalar give a bool
// mask, as PyTorch's (e.g. `ids == pad` for key_padding_mask, `ids != pad` for masked_mean,
// `argmax(logits, 1) == labels`).
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

// Joining, as the Tensor forms in ops.hpp: cat along an existing dim, stack along a new one.
IndexTensor cat(const std::vector<IndexTensor>& tensors, int64_t dim = 0);
IndexTensor stack(const std::vector<IndexTensor>& tensors, int64_t dim = 0);

}  // namespace ember
