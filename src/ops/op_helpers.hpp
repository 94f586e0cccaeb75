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

namespace ember::detail {

// Strided walks over a storage: element i of a view (row-major over `shape`) sits at
// base[offset + sum(index[d] * strides[d])].
void gather_strided(const float* base, const Shape& shape, const Shape& strides, int64_t offset,
                    float* out);  // out[i] = view[i]
void write_strided(const float* values, const Shape& shape, const Shape& strides, int64_t offset,
                   float* base);  // view[i] = values[i]
void scatter_add_strided(const float* values, const Shape& shape, const Shape& strides,
                         int64_t offset, float* base);  // view[i] += values[i]

// The name of the op whose backward is running on this thread (null outside backward).
const char* current_backward_op();

}  // namespace ember::detail
