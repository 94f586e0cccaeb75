// stack as PyTorch defines it, for Tensor and IndexTensor alike: every input must have the
// first one's shape, and the result is cat of the inputs unsqueezed at `dim`. (Tensor's stack
// joins without making the unsqueezed views: src/ops/indexing.cpp.)
#pragma once

#include <vector>

#include "ember/error.hpp"
#include "ember/tensor.hpp"

namespace ember::detail {

// stack's checks: a non-empty list of tensors of one shape; returns dim wrapped for the
// result's rank (one more than the inputs').
template <class T>
int64_t stack_dim(const std::vector<T>& tensors, int64_t dim) {
  EMBER_CHECK_VALUE(!tensors.empty(), "stack: expected a non-empty list of tensors");
  const Shape first = tensors[0].shape();
  dim = wrap_dim(dim, static_cast<int64_t>(first.size()) + 1, "stack");
  for (size_t t = 0; t < tensors.size(); ++t)
    EMBER_CHECK_SHAPE(tensors[t].shape() == first, "stack: tensor ", t, " has shape ",
                      shape_str(tensors[t].shape()), " but tensor 0 has ", shape_str(first));
  return dim;
}

template <class T>
T stack_by_cat(const std::vector<T>& tensors, int64_t dim) {
  dim = stack_dim(tensors, dim);
  std::vector<T> expanded;
  expanded.reserve(tensors.size());
  for (const T& t : tensors) expanded.push_back(t.unsqueeze(dim));
  return cat(expanded, dim);
}

}  // namespace ember::detail
