// Row-sparse gradients: the touched rows of a table and their values, in the table's dtype.
#include <algorithm>
#include <numeric>

#include "ember/autograd.hpp"

namespace ember {

namespace {
template <class T>
void coalesce_of(RowSparseGrad& g) {
  const int64_t width = g.row_size();
  const ArrayOf<T>& values = g.values_of<T>();
  std::vector<size_t> order(g.rows.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return g.rows[a] < g.rows[b]; });
  std::vector<int64_t> unique_rows;
  std::vector<T> summed;
  for (size_t k : order) {
    const T* src = values.data() + static_cast<int64_t>(k) * width;
    if (unique_rows.empty() || unique_rows.back() != g.rows[k]) {
      unique_rows.push_back(g.rows[k]);
      summed.insert(summed.end(), src, src + width);
    } else {
      T* dst = summed.data() + summed.size() - static_cast<size_t>(width);
      for (int64_t j = 0; j < width; ++j) dst[j] += src[j];
    }
  }
  std::copy(summed.begin(), summed.end(), g.allocate<T>(unique_rows.size()).data());
  g.rows = std::move(unique_rows);
}

template <class T>
void add_to_of(const RowSparseGrad& g, ArrayOf<T>& dense, T alpha) {
  EMBER_CHECK_DTYPE(g.dtype == dtype_of<T>::value, "RowSparseGrad::add_to: a ", dtype_name(g.dtype),
                    " row-sparse gradient cannot be added into a ", dtype_name(dtype_of<T>::value),
                    " array");
  const int64_t width = g.row_size();
  const ArrayOf<T>& values = g.values_of<T>();
  for (size_t k = 0; k < g.rows.size(); ++k) {
    const T* src = values.data() + static_cast<int64_t>(k) * width;
    T* dst = dense.data() + g.rows[k] * width;
    for (int64_t j = 0; j < width; ++j) dst[j] += alpha * src[j];
  }
}
}  // namespace

int64_t RowSparseGrad::row_size() const {
  int64_t n = 1;
  for (size_t i = 1; i < dense_shape.size(); ++i) n *= dense_shape[i];
  return n;
}

template <class T>
ArrayOf<T>& RowSparseGrad::allocate(size_t n) {
  std::vector<size_t> shape{n};
  for (size_t i = 1; i < dense_shape.size(); ++i)
    shape.push_back(static_cast<size_t>(dense_shape[i]));
  dtype = dtype_of<T>::value;
  return values_of<T>() = ArrayOf<T>::from_shape(shape);
}
template Array& RowSparseGrad::allocate<float>(size_t);
template ArrayOf<double>& RowSparseGrad::allocate<double>(size_t);

void RowSparseGrad::coalesce() {
  dispatch([&](auto real) { coalesce_of<decltype(real)>(*this); });
}

void RowSparseGrad::append(const RowSparseGrad& other) {
  EMBER_CHECK_DTYPE(other.dtype == dtype, "RowSparseGrad::append: ", dtype_name(other.dtype),
                    " rows cannot join a ", dtype_name(dtype), " row-sparse gradient");
  rows.insert(rows.end(), other.rows.begin(), other.rows.end());
  dispatch([&](auto real) {
    using T = decltype(real);
    ArrayOf<T>& mine = values_of<T>();
    mine = xt::concatenate(xt::xtuple(mine, other.values_of<T>()), 0);
  });
}

void RowSparseGrad::add_to(Array& dense, float alpha) const { add_to_of(*this, dense, alpha); }
void RowSparseGrad::add_to(ArrayOf<double>& dense, double alpha) const {
  add_to_of(*this, dense, alpha);
}

Tensor RowSparseGrad::to_dense() const {
  return dispatch([&](auto real) {
    using T = decltype(real);
    ArrayOf<T> dense = xt::zeros<T>(detail::to_xshape(dense_shape));
    add_to(dense);
    return Tensor(std::move(dense));
  });
}

}  // namespace ember
