// Reductions: sum, mean, max/min (values, indices, amax/amin) over all or given dims, with
// keepdim; the [rows, n] layout helper the statistics ops share.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <type_traits>
#include <xtensor/xbroadcast.hpp>
#include <xtensor/xmanipulation.hpp>
#include <xtensor/xreducer.hpp>

#include "ember/autograd.hpp"
#include "ember/ops.hpp"
#include "kernels.hpp"
#include "op_helpers.hpp"

namespace ember {

namespace detail {

Reduction make_reduction(const Shape& in, const Shape& dims, bool keepdim, const char* op) {
  Reduction r;
  r.in = in;
  const int64_t rank = static_cast<int64_t>(in.size());
  std::vector<bool> reduced(in.size(), dims.empty());
  for (int64_t d : dims) {
    int64_t w = wrap_dim(d, rank, op);
    if (rank == 0) continue;  // 0-d: dim 0 / -1 is the one element
    EMBER_CHECK_INDEX(!reduced[w], op, ": dim ", w, " appears more than once in dims ",
                      shape_str(dims));
    reduced[w] = true;
  }
  for (size_t i = 0; i < in.size(); ++i)
    if (!reduced[i]) {
      r.perm.push_back(i);
      r.rows *= in[i];
    }
  for (size_t i = 0; i < in.size(); ++i)
    if (reduced[i]) {
      r.in_place = r.in_place && r.perm.size() + r.axes.size() == i;
      r.axes.push_back(i);
      r.perm.push_back(i);
      r.n *= in[i];
    }
  for (size_t i = 0; i < in.size(); ++i) {
    r.keep_shape.push_back(reduced[i] ? 1 : in[i]);
    if (keepdim || !reduced[i]) r.out_shape.push_back(reduced[i] ? 1 : in[i]);
  }
  return r;
}

template <class T>
ArrayOf<T> from_rows(ArrayOf<T> rows, const Reduction& r) {
  if (r.in_place) {
    rows.reshape(to_xshape(r.in));
    return rows;
  }
  std::vector<size_t> permuted, inverse(r.perm.size());
  for (size_t i = 0; i < r.perm.size(); ++i) {
    permuted.push_back(static_cast<size_t>(r.in[r.perm[i]]));
    inverse[r.perm[i]] = i;
  }
  rows.reshape(permuted);
  return xt::transpose(rows, inverse);
}

template Array from_rows(Array rows, const Reduction& r);
template ArrayOf<double> from_rows(ArrayOf<double> rows, const Reduction& r);

}  // namespace detail

namespace {

// The gradient of a sum (divisor 1) or mean: g spread back over the reduced dims.
template <class T>
ArrayOf<T> expand_back(const ArrayOf<T>& g, const Shape& keep_shape, const Shape& in_shape,
                       T divisor) {
  ArrayOf<T> gk = g;
  gk.reshape(detail::to_xshape(keep_shape));
  ArrayOf<T> out = xt::broadcast(gk, detail::to_xshape(in_shape));
  if (divisor != T(1)) out /= divisor;
  return out;
}

// sum and mean over `dims`, in T (float for float32, double for float64).
template <class T>
Tensor sum_impl(const Tensor& a, const Shape& dims, bool keepdim, bool mean, const char* op) {
  EMBER_CHECK_VALUE(!dims.empty(), op, ": dims must not be empty (use ", op,
                    "(a) to reduce every dim)");
  detail::Reduction r = detail::make_reduction(a.shape(), dims, keepdim, op);
  // As PyTorch, a mean divides by the count (forward and backward), for the same rounding.
  const T divisor = mean ? static_cast<T>(r.n) : T(1);
  ArrayOf<T> out;
  if (a.numel() == 0) {  // xtensor's reducer reads past an empty input; PyTorch: 0 and 0/0
    out = ArrayOf<T>(detail::to_xshape(r.out_shape),
                     mean ? std::numeric_limits<T>::quiet_NaN() : T(0));
  } else {
    // Double accumulation, as the full reduction: a long float sum drifts. The input is read
    // where it sits (a view through its strides), in its memory order.
    Shape out_strides(r.in.size(), 0);
    int64_t stride = 1;
    for (size_t d = r.in.size(); d-- > 0;) {
      if (std::find(r.axes.begin(), r.axes.end(), d) != r.axes.end()) continue;
      out_strides[d] = stride;
      stride *= r.in[d];
    }
    std::vector<double> total(static_cast<size_t>(r.rows), 0.0);
    const TensorImpl& impl = *a.impl();
    detail::sum_strided(impl.storage->template data_as<T>(), r.in, a.strides(), a.storage_offset(),
                        out_strides, total.data());
    out = ArrayOf<T>::from_shape({total.size()});
    for (size_t i = 0; i < total.size(); ++i)
      out.data()[i] = mean ? static_cast<T>(total[i]) / divisor : static_cast<T>(total[i]);
  }
  out.reshape(detail::to_xshape(r.out_shape));
  return make_output(std::move(out), op, {a},
                     [keep = r.keep_shape, in = r.in, divisor](const ArrayOf<T>& g) {
                       return gradients(expand_back(g, keep, in, divisor));
                     });
}

// The reduction of everything: one pass, and a backward that only fills.
template <class T>
Tensor reduce_all(const Tensor& a, bool mean, const char* op) {
  // A tensor whose elements are contiguous in its storage (any non-view, a narrow along dim 0) is
  // summed where it sits; another view through its strides. Neither is copied.
  const int64_t n = a.numel();
  const T* base = a.impl()->storage->template data_as<T>();
  double total = 0;
  if (!a.is_contiguous())
    detail::sum_strided(base, a.shape(), a.strides(), a.storage_offset(),
                        Shape(static_cast<size_t>(a.dim()), 0), &total);
  else if constexpr (std::is_same_v<T, float>)
    total = detail::kernels::sum(a.data_ptr(), n);
  else
    total = std::accumulate(base + a.storage_offset(), base + a.storage_offset() + n, 0.0);
  const T divisor = mean ? static_cast<T>(n) : T(1);
  const Dims& dims = a.impl()->layout.shape;  // inline: no allocation on this hot path
  const typename ArrayOf<T>::shape_type shape(dims.begin(), dims.end());
  T result = static_cast<T>(total);
  if (mean) result /= divisor;
  ArrayOf<T> out = ArrayOf<T>::from_shape(typename ArrayOf<T>::shape_type{});  // 0-d
  *out.data() = result;
  return make_output(std::move(out), op, {a}, [shape, divisor](const ArrayOf<T>& g) {
    return gradients(ArrayOf<T>(shape, g.data()[0] / divisor));
  });
}

// Is v a better extremum than best? NaN beats everything (and the first NaN stays).
template <class T>
bool better(T v, T best, bool largest) {
  if (std::isnan(best)) return false;
  if (std::isnan(v)) return true;
  return largest ? v > best : v < best;
}

// amax/amin (and max/min of everything): the extremum of each row; the gradient is shared
// evenly between the elements equal to it, as PyTorch's amax.
template <class T>
Tensor extreme_values(const Tensor& a, const Shape& dims, bool keepdim, bool largest,
                      const char* op) {
  detail::Reduction r = detail::make_reduction(a.shape(), dims, keepdim, op);
  EMBER_CHECK_SHAPE(r.n > 0, op, ": cannot reduce shape ", detail::shape_str(r.in),
                    ": the reduced dims hold no elements, and the extremum of none is undefined");
  const detail::RowReaderOf<T> input(a, r);
  ArrayOf<T> out = ArrayOf<T>::from_shape({static_cast<size_t>(r.rows)});
  std::vector<T> row_buffer;
  for (int64_t row = 0; row < r.rows; ++row) {
    const T* x = input.row(row, row_buffer);  // in the storage when its elements adjoin
    T best = x[0];
    for (int64_t k = 1; k < r.n; ++k)
      if (better(x[k], best, largest)) best = x[k];
    out.data()[row] = best;
  }
  auto values = std::make_shared<ArrayOf<T>>(std::move(out));
  ArrayOf<T> result = *values;
  result.reshape(detail::to_xshape(r.out_shape));
  auto A = detail::saved<T>(a);
  return make_output(std::move(result), op, {a},
                     [A, layout = detail::layout_of(a), r, values](const ArrayOf<T>& g) {
                       const detail::RowReaderOf<T> input(A.storage_data(), layout, r);
                       std::vector<T> row_buffer;
                       ArrayOf<T> dx = ArrayOf<T>::from_shape({static_cast<size_t>(r.rows * r.n)});
                       for (int64_t row = 0; row < r.rows; ++row) {
                         const T* x = input.row(row, row_buffer);
                         const T best = values->data()[row];
                         // A NaN extremum is its NaN elements (NaN == NaN is false), as PyTorch's
                         // max().
                         auto is_best = [&](T v) {
                           return v == best || (std::isnan(v) && std::isnan(best));
                         };
                         T ties = 0;
                         for (int64_t k = 0; k < r.n; ++k) ties += is_best(x[k]) ? T(1) : T(0);
                         const T share = g.data()[row] / std::max(ties, T(1));
                         for (int64_t k = 0; k < r.n; ++k)
                           dx.data()[row * r.n + k] = is_best(x[k]) ? share : T(0);
                       }
                       return gradients(detail::from_rows(std::move(dx), r));
                     });
}

// Values and indices of each row's extremum (the rows of `x`'s reduction); the first extremum
// wins on ties, as PyTorch on CPU.
template <class T>
std::pair<ArrayOf<T>, std::vector<int64_t>> extreme_along(const detail::RowReaderOf<T>& x,
                                                          bool largest) {
  ArrayOf<T> values = ArrayOf<T>::from_shape({static_cast<size_t>(x.rows())});
  std::vector<int64_t> idx(static_cast<size_t>(x.rows()));
  std::vector<T> row_buffer;
  for (int64_t row = 0; row < x.rows(); ++row) {
    const T* v = x.row(row, row_buffer);  // in the storage when its elements adjoin
    int64_t best = 0;
    for (int64_t k = 1; k < x.n(); ++k)
      if (better(v[k], v[best], largest)) best = k;
    values.data()[row] = v[best];
    idx[static_cast<size_t>(row)] = best;
  }
  return {std::move(values), std::move(idx)};
}

struct AlongDim {
  int64_t dim;
  Shape in, out_shape;
  detail::DimSplit split;
  // The input's lines along dim, read where they sit.
  template <class T>
  detail::RowReaderOf<T> rows(const Tensor& a) const {
    return {a, detail::make_reduction(in, {dim}, false, "along_dim")};
  }
};
AlongDim along_dim(const Tensor& a, int64_t dim, bool keepdim, const char* op) {
  AlongDim d{detail::wrap_dim(dim, a.dim(), op), a.shape(), {}, {}};
  EMBER_CHECK_SHAPE(d.in.empty() || d.in[d.dim] > 0, op, ": cannot reduce dim ", d.dim,
                    " of size 0 in shape ", detail::shape_str(d.in),
                    ": the extremum of no elements is undefined");
  d.split = detail::split_at(d.in, d.dim);
  d.out_shape = d.in;
  if (!d.in.empty()) {
    if (keepdim)
      d.out_shape[d.dim] = 1;
    else
      d.out_shape.erase(d.out_shape.begin() + d.dim);
  }
  return d;
}

template <class T>
std::tuple<Tensor, IndexTensor> extreme_dim(const Tensor& a, int64_t dim, bool keepdim,
                                            bool largest, const char* op) {
  AlongDim d = along_dim(a, dim, keepdim, op);
  auto [values, idx] = extreme_along(d.rows<T>(a), largest);
  values.reshape(detail::to_xshape(d.out_shape));
  IndexTensor indices(idx, d.out_shape);
  Tensor out = make_output(
      std::move(values), op, {a},
      [in = d.in, s = d.split, idx = std::move(idx)](const ArrayOf<T>& g) {
        ArrayOf<T> dx = xt::zeros<T>(detail::to_xshape(in));
        for (int64_t o = 0; o < s.outer; ++o)
          for (int64_t i = 0; i < s.inner; ++i) {
            int64_t j = o * s.inner + i;
            dx.data()[o * s.n * s.inner + idx[static_cast<size_t>(j)] * s.inner + i] += g.data()[j];
          }
        return gradients(std::move(dx));
      });
  return {std::move(out), std::move(indices)};
}

IndexTensor arg_extreme(const Tensor& a, int64_t dim, bool keepdim, bool largest, const char* op) {
  AlongDim d = along_dim(a, dim, keepdim, op);
  return detail::by_dtype(a, op, [&](auto real) {
    return IndexTensor(extreme_along(d.rows<decltype(real)>(a), largest).second, d.out_shape);
  });
}

IndexTensor arg_extreme_all(const Tensor& a, bool largest, const char* op) {
  EMBER_CHECK_SHAPE(a.numel() > 0, op, ": cannot reduce the empty shape ",
                    detail::shape_str(a.shape()), ": the extremum of no elements is undefined");
  const detail::Reduction all = detail::make_reduction(a.shape(), {}, false, op);
  return detail::by_dtype(a, op, [&](auto real) {
    return IndexTensor(extreme_along(detail::RowReaderOf<decltype(real)>(a, all), largest).second,
                       Shape{});
  });
}

// extreme_values and extreme_dim in the element type of a's dtype.
Tensor extreme_values_of(const Tensor& a, const Shape& dims, bool keepdim, bool largest,
                         const char* op) {
  return detail::by_dtype(a, op, [&](auto real) {
    return extreme_values<decltype(real)>(a, dims, keepdim, largest, op);
  });
}
std::tuple<Tensor, IndexTensor> extreme_dim_of(const Tensor& a, int64_t dim, bool keepdim,
                                               bool largest, const char* op) {
  return detail::by_dtype(
      a, op, [&](auto real) { return extreme_dim<decltype(real)>(a, dim, keepdim, largest, op); });
}

}  // namespace

// A bool tensor sums as 0/1, counting its trues (PyTorch's count is int64; this one float32).
Tensor sum(const Tensor& a) {
  if (a.dtype() == kBool) return sum(a.to(kFloat32));
  return detail::by_dtype(a, "sum",
                          [&](auto real) { return reduce_all<decltype(real)>(a, false, "sum"); });
}
Tensor sum(const Tensor& a, const Shape& dims, bool keepdim) {
  if (a.dtype() == kBool) return sum(a.to(kFloat32), dims, keepdim);
  return detail::by_dtype(a, "sum", [&](auto real) {
    return sum_impl<decltype(real)>(a, dims, keepdim, false, "sum");
  });
}
namespace {
void check_not_bool(const Tensor& a, const char* op) {
  EMBER_CHECK_DTYPE(a.dtype() != kBool, op, ": a bool tensor has no ", op, " (as in PyTorch); ",
                    "`.to(kFloat32).", op, "()` gives the fraction of trues");
}
}  // namespace
Tensor mean(const Tensor& a) {
  check_not_bool(a, "mean");
  return detail::by_dtype(a, "mean",
                          [&](auto real) { return reduce_all<decltype(real)>(a, true, "mean"); });
}
Tensor mean(const Tensor& a, const Shape& dims, bool keepdim) {
  check_not_bool(a, "mean");
  return detail::by_dtype(a, "mean", [&](auto real) {
    return sum_impl<decltype(real)>(a, dims, keepdim, true, "mean");
  });
}

Tensor max(const Tensor& a) { return extreme_values_of(a, {}, false, true, "max"); }
Tensor min(const Tensor& a) { return extreme_values_of(a, {}, false, false, "min"); }
Tensor amax(const Tensor& a, const Shape& dims, bool keepdim) {
  return extreme_values_of(a, dims, keepdim, true, "amax");
}
Tensor amin(const Tensor& a, const Shape& dims, bool keepdim) {
  return extreme_values_of(a, dims, keepdim, false, "amin");
}

std::tuple<Tensor, IndexTensor> max(const Tensor& a, int64_t dim, bool keepdim) {
  return extreme_dim_of(a, dim, keepdim, true, "max");
}
std::tuple<Tensor, IndexTensor> min(const Tensor& a, int64_t dim, bool keepdim) {
  return extreme_dim_of(a, dim, keepdim, false, "min");
}

IndexTensor argmax(const Tensor& a, int64_t dim, bool keepdim) {
  return arg_extreme(a, dim, keepdim, true, "argmax");
}
IndexTensor argmin(const Tensor& a, int64_t dim, bool keepdim) {
  return arg_extreme(a, dim, keepdim, false, "argmin");
}
IndexTensor argmax(const Tensor& a) { return arg_extreme_all(a, true, "argmax"); }
IndexTensor argmin(const Tensor& a) { return arg_extreme_all(a, false, "argmin"); }

}  // namespace ember
