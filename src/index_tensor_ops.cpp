// IndexTensor's slicing, joining and arange: the integer forms of Tensor's narrow/select/slice,
// cat/stack and arange, with the same rules and messages. Indices are small, so each copies.
#include <cmath>

#include "ember/index_tensor.hpp"
#include "ops/op_helpers.hpp"
#include "ops/stack.hpp"

namespace ember {

namespace {
// Rows start, start + step, ... (`length` of them) of dim `d`: the one copy every slice makes.
IndexTensor strided_rows(const IndexTensor& a, int64_t d, int64_t start, int64_t length,
                         int64_t step) {
  const detail::DimSplit s = detail::split_at(a.shape(), d);
  Shape shape = a.shape();
  shape[d] = length;
  std::vector<int64_t> out;
  // An empty result is made without walking: [2^40, 0] has 2^40 empty rows.
  if (detail::checked_numel(shape, "slice") == 0) return IndexTensor(std::move(out), shape);
  out.reserve(static_cast<size_t>(s.outer * length * s.inner));
  for (int64_t o = 0; o < s.outer; ++o)
    for (int64_t j = 0; j < length; ++j) {
      const int64_t* row = a.data() + (o * s.n + start + j * step) * s.inner;
      out.insert(out.end(), row, row + s.inner);
    }
  return IndexTensor(std::move(out), std::move(shape));
}
}  // namespace

IndexTensor IndexTensor::narrow(int64_t d, int64_t start, int64_t length) const {
  EMBER_CHECK_INDEX(dim() > 0, "narrow: cannot be applied to a 0-dim tensor");
  d = detail::wrap_dim(d, dim(), "narrow");
  const int64_t size = shape_[d];
  if (start < 0 && start >= -size) start += size;
  EMBER_CHECK_INDEX(start >= 0 && start <= size, "narrow: start ", start,
                    " out of range for dimension ", d, " of size ", size);
  EMBER_CHECK_INDEX(length >= 0 && length <= size - start, "narrow: start (", start, ") + length (",
                    length, ") exceeds dimension size (", size, ") of dim ", d);
  return strided_rows(*this, d, start, length, 1);
}

IndexTensor IndexTensor::select(int64_t d, int64_t index) const {
  EMBER_CHECK_INDEX(dim() > 0, "select: cannot be applied to a 0-dim tensor");
  d = detail::wrap_dim(d, dim(), "select");
  const int64_t size = shape_[d];
  EMBER_CHECK_INDEX(index >= -size && index < size, "select: index ", index,
                    " out of range for dimension ", d, " of size ", size);
  IndexTensor row = strided_rows(*this, d, index < 0 ? index + size : index, 1, 1);
  Shape s = shape_;
  s.erase(s.begin() + d);
  return row.reshape(s);
}

IndexTensor IndexTensor::slice(int64_t d, int64_t start, int64_t end, int64_t step) const {
  EMBER_CHECK_INDEX(dim() > 0, "slice: cannot be applied to a 0-dim tensor");
  d = detail::wrap_dim(d, dim(), "slice");
  EMBER_CHECK_VALUE(step > 0, "slice: step must be positive, got ", step);
  const int64_t size = shape_[d];
  auto clip = [size](int64_t i) {  // Python's slice rule: negative counts from the end, clamp
    if (i < 0) i = i < -size ? 0 : i + size;
    return std::min(i, size);
  };
  start = clip(start);
  end = std::max(clip(end), start);
  const int64_t length = end == start ? 0 : (end - start - 1) / step + 1;
  return strided_rows(*this, d, start, length, step);
}

IndexTensor IndexTensor::arange(int64_t end) { return arange(0, end, 1); }

IndexTensor IndexTensor::arange(int64_t start, int64_t end, int64_t step) {
  EMBER_CHECK_VALUE(step != 0, "arange: step must be non-zero");
  // In long double: end - start may not fit int64 (PyTorch computes the length in double).
  const long double length = std::ceil((static_cast<long double>(end) - start) / step);
  EMBER_CHECK_VALUE(length >= 0, "arange: start ", start, " end ", end, " and step ", step,
                    " give a negative length");
  const int64_t n = static_cast<int64_t>(length);  // <= |end - start| + 1 <= 2^64: fits below
  detail::checked_numel({n}, "arange", sizeof(int64_t));
  std::vector<int64_t> values(static_cast<size_t>(n));
  // Modulo 2^64: i * step alone may overflow where start + i * step (in [start, end)) does not.
  for (int64_t i = 0; i < n; ++i)
    values[static_cast<size_t>(i)] = static_cast<int64_t>(
        static_cast<uint64_t>(start) + static_cast<uint64_t>(i) * static_cast<uint64_t>(step));
  return IndexTensor(std::move(values));
}

IndexTensor cat(const std::vector<IndexTensor>& tensors, int64_t dim) {
  std::vector<Shape> shapes;
  for (const IndexTensor& t : tensors) shapes.push_back(t.shape());
  const detail::Joined joined = detail::join_shapes(shapes, dim, "cat");
  const detail::DimSplit s = detail::split_at(joined.shape, joined.dim);
  std::vector<int64_t> out(static_cast<size_t>(s.outer * s.n * s.inner));
  int64_t offset = 0;
  for (size_t t = 0; t < tensors.size() && !out.empty(); ++t) {  // no walk over empty rows
    const int64_t chunk = joined.sizes[t] * s.inner;
    for (int64_t o = 0; o < s.outer; ++o)
      std::copy_n(tensors[t].data() + o * chunk, chunk, out.begin() + (o * s.n + offset) * s.inner);
    offset += joined.sizes[t];
  }
  return IndexTensor(std::move(out), joined.shape);
}

IndexTensor stack(const std::vector<IndexTensor>& tensors, int64_t dim) {
  return detail::stack_by_cat(tensors, dim);
}

}  // namespace ember
