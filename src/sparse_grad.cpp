// Row-sparse gradients: the touched rows of a table and their values.
#include <algorithm>
#include <numeric>

#include "ember/autograd.hpp"

namespace ember {

int64_t RowSparseGrad::row_size() const {
  int64_t n = 1;
  for (size_t i = 1; i < dense_shape.size(); ++i) n *= dense_shape[i];
  return n;
}

void RowSparseGrad::coalesce() {
  const int64_t width = row_size();
  std::vector<size_t> order(rows.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return rows[a] < rows[b]; });
  std::vector<int64_t> unique_rows;
  std::vector<float> summed;
  for (size_t k : order) {
    const float* src = values.data() + static_cast<int64_t>(k) * width;
    if (unique_rows.empty() || unique_rows.back() != rows[k]) {
      unique_rows.push_back(rows[k]);
      summed.insert(summed.end(), src, src + width);
    } else {
      float* dst = summed.data() + summed.size() - static_cast<size_t>(width);
      for (int64_t j = 0; j < width; ++j) dst[j] += src[j];
    }
  }
  std::vector<size_t> shape{unique_rows.size()};
  for (size_t i = 1; i < dense_shape.size(); ++i)
    shape.push_back(static_cast<size_t>(dense_shape[i]));
  values = Array::from_shape(shape);
  std::copy(summed.begin(), summed.end(), values.data());
  rows = std::move(unique_rows);
}

void RowSparseGrad::add_to(Array& dense, float alpha) const {
  const int64_t width = row_size();
  for (size_t k = 0; k < rows.size(); ++k) {
    const float* src = values.data() + static_cast<int64_t>(k) * width;
    float* dst = dense.data() + rows[k] * width;
    for (int64_t j = 0; j < width; ++j) dst[j] += alpha * src[j];
  }
}

Tensor RowSparseGrad::to_dense() const {
  Array dense = xt::zeros<float>(detail::to_xshape(dense_shape));
  add_to(dense);
  return Tensor(std::move(dense));
}

}  // namespace ember
