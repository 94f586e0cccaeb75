// Reading a tensor as one contiguous Array, for the kernels that have no strided path (most
// of them have one: see docs/guide.md, "Where an op goes").
#pragma once

#include <optional>

#include "ember/tensor.hpp"

namespace ember::detail {

// A tensor's values as a contiguous row-major Array, alive as long as this object: the
// storage itself for a tensor that is its whole storage (every op result, every parameter), or
// the view's elements packed into an array this object owns. Keep it in a named local while
// the Array is read (`Dense X(x); ... *X`); `*Dense(x)` is safe only within one expression.
// Nothing is cached on the tensor, so no reference outlives what it points into.
class Dense {
 public:
  explicit Dense(const Tensor& t);
  Dense(const Dense&) = delete;
  Dense& operator=(const Dense&) = delete;
  const Array& operator*() const { return *values_; }
  const Array* operator->() const { return values_; }
  bool packed() const { return packed_.has_value(); }

 private:
  std::optional<Array> packed_;
  const Array* values_ = nullptr;
};

// The Array of a tensor that is its whole storage (an op's fresh result, a new gradient),
// for writing into it. Throws for a view, which has no Array of its own.
Array& own_values(const Tensor& t);

// A view's elements packed into a fresh contiguous Array (what contiguous() copies).
Array pack(const Tensor& t);

// Calls f with t's values as an xtensor expression, for ops written as xtensor expressions:
// the storage's own Array for a tensor that is its whole storage (xtensor's contiguous SIMD
// path), else the adaptor over the view's elements (read through the strides, not copied).
// Both calls must return the same type.
template <class F>
auto with_values(const Tensor& t, F&& f) {
  if (!t.is_view()) return f(static_cast<const Array&>(t.impl()->storage->values));
  return f(t.data());
}

}  // namespace ember::detail
