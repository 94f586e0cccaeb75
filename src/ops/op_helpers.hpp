// Private helpers shared by the op families.
#pragma once

#include "ember/autograd.hpp"
#include "ember/tensor.hpp"

namespace ember::detail {

// The NumPy broadcast of two shapes; throws ShapeError naming `op` and both shapes.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

// A tensor seen as [outer, n, inner] around dimension `dim`: the layout every reduction and
// softmax loop walks.
struct DimSplit {
  int64_t outer = 1, n = 1, inner = 1;
};
DimSplit split_at(const Shape& shape, int64_t dim);

}  // namespace ember::detail
