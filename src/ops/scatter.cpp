// Scatter and triangle masks: index_add, scatter_add (the adjoints of index_select and
// gather), triu/tril and one_hot.
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "ember/autograd.hpp"
#include "ember/ops.hpp"
#include "op_helpers.hpp"

namespace ember {

namespace {
// As PyTorch's index_add_ and scatter_add_: the input and the added values share one dtype.
void check_same_dtype(const Tensor& a, const Tensor& added, const char* op, const char* what) {
  EMBER_CHECK_DTYPE(a.dtype() == added.dtype(), op, ": expected both to have the same dtype, ",
                    "but the input is ", dtype_name(a.dtype()), " and ", what, " is ",
                    dtype_name(added.dtype()));
}

template <class T>
Tensor index_add_of(const Tensor& a, int64_t dim, const std::vector<int64_t>& idx,
                    const Tensor& source, T alpha) {
  const Shape in = a.shape(), src_shape = source.shape();
  const int64_t m = static_cast<int64_t>(idx.size());
  const detail::DimSplit s = detail::split_at(in, dim);
  ArrayOf<T> out = detail::pack<T>(a);  // the result: a's values, gathered where a view's sit
  // The source read where it sits: its [outer * m, inner] rows (a 0-d source is one row).
  const detail::RowReaderOf<T> src(source, source.dim() == 0 ? 0 : dim + 1);
  std::vector<T> row_buffer;
  for (int64_t o = 0; o < s.outer; ++o)
    for (int64_t k = 0; k < m; ++k) {
      const T* from = src.row(o * m + k, row_buffer);
      T* to = out.data() + (o * s.n + idx[k]) * s.inner;
      if constexpr (std::is_same_v<T, float>) {
        for (int64_t j = 0; j < s.inner; ++j) to[j] += alpha * from[j];
      } else {  // one rounding, as PyTorch's index_add (an add_ with alpha: an fma)
        for (int64_t j = 0; j < s.inner; ++j) to[j] = std::fma(alpha, from[j], to[j]);
      }
    }
  auto src_xshape = detail::to_xshape(src_shape);
  return make_output(std::move(out), "index_add", {a, source}, [=](const ArrayOf<T>& g) {
    // d a = g; d source = alpha * g's slices at the indices (index_select's forward).
    ArrayOf<T> ds = ArrayOf<T>::from_shape(src_xshape);
    for (int64_t o = 0; o < s.outer; ++o)
      for (int64_t k = 0; k < m; ++k) {
        const T* from = g.data() + (o * s.n + idx[k]) * s.inner;
        T* to = ds.data() + (o * m + k) * s.inner;
        for (int64_t j = 0; j < s.inner; ++j) to[j] = alpha * from[j];
      }
    return gradients(g, std::move(ds));
  });
}
}  // namespace

Tensor index_add(const Tensor& a, int64_t dim, const IndexTensor& index, const Tensor& source,
                 double alpha) {
  dim = detail::wrap_dim(dim, a.dim(), "index_add");
  EMBER_CHECK_SHAPE(index.dim() <= 1, "index_add: index must be 0-d or 1-D, got shape ",
                    detail::shape_str(index.shape()));
  Shape in = a.shape(), src_shape = source.shape();
  const int64_t m = index.numel();
  // A 0-d input is treated as [1]; the source then has one element per index.
  Shape want = in.empty() ? Shape{} : in;
  if (!want.empty()) want[dim] = m;
  const bool ok = in.empty() ? source.numel() == m && m == 1 : src_shape == want;
  EMBER_CHECK_SHAPE(ok, "index_add: source shape ", detail::shape_str(src_shape),
                    " must be the input shape ", detail::shape_str(in), " with dim ", dim,
                    " of size ", m, " (the number of indices)");
  check_same_dtype(a, source, "index_add", "source");
  const detail::DimSplit s = detail::split_at(in, dim);
  std::vector<int64_t> idx = index.to_vector();
  for (int64_t i : idx)
    EMBER_CHECK_INDEX(i >= 0 && i < s.n, "index_add: index ", i, " out of range for dim ", dim,
                      " of size ", s.n);
  return detail::by_dtype(a, "index_add", [&](auto real) {
    using T = decltype(real);
    return index_add_of<T>(a, dim, idx, source, static_cast<T>(alpha));
  });
}

namespace {
// Adds src[from[i]] (read at read[i] through src's strides) into a's element to[i].
template <class T>
Tensor scatter_add_of(const Tensor& a, const Tensor& src, const std::vector<int64_t>& to,
                      const std::vector<int64_t>& from, const std::vector<int64_t>& read) {
  ArrayOf<T> out = detail::pack<T>(a);
  const T* src_values = src.data_ptr<T>();  // src read where it sits, through its strides
  for (size_t i = 0; i < to.size(); ++i) out.data()[to[i]] += src_values[read[i]];
  auto src_xshape = detail::to_xshape(src.shape());
  return make_output(std::move(out), "scatter_add", {a, src}, [=](const ArrayOf<T>& g) {
    ArrayOf<T> ds = xt::zeros<T>(src_xshape);  // src elements outside the index get nothing
    for (size_t i = 0; i < to.size(); ++i) ds.data()[from[i]] = g.data()[to[i]];
    return gradients(g, std::move(ds));
  });
}
}  // namespace

Tensor scatter_add(const Tensor& a, int64_t dim, const IndexTensor& index, const Tensor& src) {
  dim = detail::wrap_dim(dim, a.dim(), "scatter_add");
  Shape in = a.shape(), is = index.shape(), ss = src.shape();
  EMBER_CHECK_SHAPE(is.size() == in.size() && ss.size() == in.size(), "scatter_add: input ",
                    detail::shape_str(in), ", index ", detail::shape_str(is), " and src ",
                    detail::shape_str(ss), " must have the same number of dims");
  for (size_t d = 0; d < in.size(); ++d)
    EMBER_CHECK_SHAPE(is[d] <= ss[d] && (static_cast<int64_t>(d) == dim || is[d] <= in[d]),
                      "scatter_add: index shape ", detail::shape_str(is), " must be <= src shape ",
                      detail::shape_str(ss), " in every dim and <= input shape ",
                      detail::shape_str(in), " outside dim ", dim, " (fails at dim ", d, ")");
  check_same_dtype(a, src, "scatter_add", "src");
  // Flat target offset in the input and source offset in src of every index element.
  auto strides = [](const Shape& s) {
    std::vector<int64_t> st(s.size(), 1);
    for (int64_t d = static_cast<int64_t>(s.size()) - 2; d >= 0; --d) st[d] = st[d + 1] * s[d + 1];
    return st;
  };
  const std::vector<int64_t> in_st = strides(in), src_st = strides(ss);
  const int64_t extent = in.empty() ? 1 : in[dim];
  std::vector<int64_t> to(static_cast<size_t>(index.numel())), from(to.size()), read(to.size());
  const Shape src_strides = src.strides();
  std::vector<int64_t> coord(is.size(), 0);
  for (int64_t flat = 0; flat < index.numel(); ++flat) {
    const int64_t target = index[flat];
    EMBER_CHECK_INDEX(target >= 0 && target < extent, "scatter_add: index ", target,
                      " out of range for dim ", dim, " of size ", extent);
    int64_t t = 0, f = 0, r = 0;
    for (size_t d = 0; d < is.size(); ++d) {
      t += (static_cast<int64_t>(d) == dim ? target : coord[d]) * in_st[d];
      f += coord[d] * src_st[d];
      r += coord[d] * src_strides[d];
    }
    to[static_cast<size_t>(flat)] = t;
    from[static_cast<size_t>(flat)] = f;
    read[static_cast<size_t>(flat)] = r;
    for (int64_t d = static_cast<int64_t>(is.size()) - 1; d >= 0; --d) {
      if (++coord[d] < is[d]) break;
      coord[d] = 0;
    }
  }
  return detail::by_dtype(a, "scatter_add", [&](auto real) {
    return scatter_add_of<decltype(real)>(a, src, to, from, read);
  });
}

namespace {
// Keeps element (i, j) of every trailing matrix where keep(j - i) holds.
template <class Keep>
Tensor triangle(const Tensor& a, const char* op, Keep keep) {
  Shape s = a.shape();
  EMBER_CHECK_SHAPE(s.size() >= 2, op, ": input must have at least 2 dims (a matrix), got shape ",
                    detail::shape_str(s));
  if (a.dtype() == kBool) return triangle(a.to(kFloat32), op, keep).to(kBool);  // exact
  return detail::by_dtype(a, op, [&](auto real) {
    using T = decltype(real);
    const int64_t rows = s[s.size() - 2], cols = s.back();
    ArrayOf<T> mask = ArrayOf<T>::from_shape(detail::to_xshape(s));
    for (size_t k = 0; k < mask.size(); ++k) {
      const int64_t j = static_cast<int64_t>(k) % cols, i = (static_cast<int64_t>(k) / cols) % rows;
      mask.data()[k] = keep(j - i) ? T(1) : T(0);
    }
    // A view is read through its strides; where(), not a product: -inf * 0 would be NaN.
    ArrayOf<T> out = detail::with_values_of<T>(a, [&](const auto& x) {
      return ArrayOf<T>(xt::where(xt::not_equal(mask, T(0)), x, T(0)));
    });
    return make_output(std::move(out), op, {a}, [mask = std::move(mask)](const ArrayOf<T>& g) {
      return gradients(ArrayOf<T>(g * mask));
    });
  });
}
}  // namespace

Tensor triu(const Tensor& a, int64_t diagonal) {
  return triangle(a, "triu", [diagonal](int64_t off) { return off >= diagonal; });
}
Tensor tril(const Tensor& a, int64_t diagonal) {
  return triangle(a, "tril", [diagonal](int64_t off) { return off <= diagonal; });
}

Tensor one_hot(const IndexTensor& index, int64_t num_classes) {
  const std::vector<int64_t>& v = index.to_vector();
  if (num_classes == -1) {
    EMBER_CHECK_VALUE(!v.empty(), "one_hot: cannot infer num_classes from an empty index; pass ",
                      "it explicitly");
    num_classes = *std::max_element(v.begin(), v.end()) + 1;
  }
  EMBER_CHECK_VALUE(num_classes >= 0, "one_hot: num_classes must be -1 or >= 0, got ", num_classes);
  Shape shape = index.shape();
  shape.push_back(num_classes);
  Array out = xt::zeros<float>(detail::to_xshape(shape));
  for (size_t i = 0; i < v.size(); ++i) {
    EMBER_CHECK_INDEX(v[i] >= 0 && v[i] < num_classes, "one_hot: class ", v[i],
                      " out of range for num_classes ", num_classes);
    out.data()[static_cast<int64_t>(i) * num_classes + v[i]] = 1.f;
  }
  return Tensor(std::move(out));
}

}  // namespace ember
