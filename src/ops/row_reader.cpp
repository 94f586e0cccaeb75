// RowReader: a tensor seen as a reduction's [rows, n] matrix, read through its layout.
#include <algorithm>
#include <type_traits>

#include "op_helpers.hpp"

namespace ember::detail {

namespace {

// Offsets of every index of the dims `dims` (in row-major order over them) from the first.
std::vector<int64_t> offsets_over(const std::vector<size_t>& dims, const ViewLayout& layout) {
  int64_t count = 1;
  for (size_t d : dims) count *= layout.shape[d];
  std::vector<int64_t> out(static_cast<size_t>(count));
  std::vector<int64_t> index(dims.size(), 0);
  int64_t at = 0;
  for (int64_t i = 0; i < count; ++i) {
    out[static_cast<size_t>(i)] = at;
    // Odometer: step the last dim, carry into the ones before it.
    for (size_t j = dims.size(); j-- > 0;) {
      const size_t d = dims[j];
      at += layout.strides[d];
      if (++index[j] < layout.shape[d]) break;
      at -= layout.strides[d] * layout.shape[d];
      index[j] = 0;
    }
  }
  return out;
}

// The dims [from, to) in order.
std::vector<size_t> dims_in(int64_t from, int64_t to) {
  std::vector<size_t> dims;
  for (int64_t d = std::max<int64_t>(from, 0); d < to; ++d) dims.push_back(static_cast<size_t>(d));
  return dims;
}

}  // namespace

ViewLayout layout_of(const Tensor& t) { return {t.shape(), t.strides(), t.storage_offset()}; }

namespace {
// The storage's first element as T (float32's own check and message for a float tensor).
template <class T>
const T* storage_base(const Tensor& t) {
  if constexpr (std::is_same_v<T, float>)
    return t.impl()->storage->data();
  else
    return t.impl()->storage->template data_as<T>();
}
}  // namespace

template <class T>
RowReaderOf<T>::RowReaderOf(const Tensor& t, const Reduction& r)
    : RowReaderOf(storage_base<T>(t), layout_of(t), r) {}

template <class T>
RowReaderOf<T>::RowReaderOf(const T* base, const ViewLayout& layout, const Reduction& r)
    : RowReaderOf(
          base, layout,
          std::vector<size_t>(r.perm.begin(), r.perm.end() - static_cast<int64_t>(r.axes.size())),
          r.axes) {}

template <class T>
RowReaderOf<T>::RowReaderOf(const Tensor& t, int64_t first_element_dim)
    : RowReaderOf(storage_base<T>(t), layout_of(t), dims_in(0, first_element_dim),
                  dims_in(first_element_dim, t.dim())) {}

template <class T>
RowReaderOf<T>::RowReaderOf(const T* base, const ViewLayout& layout,
                            const std::vector<size_t>& row_dims,
                            const std::vector<size_t>& element_dims)
    : base_(base) {
  row_start_ = offsets_over(row_dims, layout);
  for (int64_t& start : row_start_) start += layout.offset;
  element_ = offsets_over(element_dims, layout);
  for (size_t k = 0; k < element_.size(); ++k)
    adjacent_ = adjacent_ && element_[k] == static_cast<int64_t>(k);
}

template <class T>
const T* RowReaderOf<T>::row(int64_t r, std::vector<T>& scratch) const {
  const T* start = base_ + row_start_[static_cast<size_t>(r)];
  if (adjacent_) return start;
  scratch.resize(element_.size());
  for (size_t k = 0; k < element_.size(); ++k) scratch[k] = start[element_[k]];
  return scratch.data();
}

template class RowReaderOf<float>;
template class RowReaderOf<double>;

}  // namespace ember::detail
