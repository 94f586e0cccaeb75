// Scatter and triangle masks: index_add, scatter_add (the adjoints of index_select and
// gather), triu/tril and one_hot.
#include <algorithm>

#include "ember/autograd.hpp"
#include "ember/ops.hpp"
#include "op_helpers.hpp"

namespace ember {

Tensor index_add(const Tensor& a, int64_t dim, const IndexTensor& index, const Tensor& source,
                 float alpha) {
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
  const detail::DimSplit s = detail::split_at(in, dim);
  std::vector<int64_t> idx = index.to_vector();
  for (int64_t i : idx)
    EMBER_CHECK_INDEX(i >= 0 && i < s.n, "index_add: index ", i, " out of range for dim ", dim,
                      " of size ", s.n);
  Array out = detail::pack(a);  // the result: a's values, gathered where a view's sit
  // The source read where it sits: its [outer * m, inner] rows (a 0-d source is one row).
  const detail::RowReader src(source, source.dim() == 0 ? 0 : dim + 1);
  std::vector<float> row_buffer;
  for (int64_t o = 0; o < s.outer; ++o)
    for (int64_t k = 0; k < m; ++k) {
      const float* from = src.row(o * m + k, row_buffer);
      float* to = out.data() + (o * s.n + idx[k]) * s.inner;
      for (int64_t j = 0; j < s.inner; ++j) to[j] += alpha * from[j];
    }
  auto src_xshape = detail::to_xshape(src_shape);
  return make_output(std::move(out), "index_add", {a, source}, [=](const Array& g) {
    // d a = g; d source = alpha * g's slices at the indices (index_select's forward).
    Array ds = Array::from_shape(src_xshape);
    for (int64_t o = 0; o < s.outer; ++o)
      for (int64_t k = 0; k < m; ++k) {
        const float* from = g.data() + (o * s.n + idx[k]) * s.inner;
        float* to = ds.data() + (o * m + k) * s.inner;
        for (int64_t j = 0; j < s.inner; ++j) to[j] = alpha * from[j];
      }
    return gradients(g, std::move(ds));
  });
}

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
  Array out = detail::pack(a);
  const float* src_values = src.data_ptr();  // src read where it sits, through its strides
  for (size_t i = 0; i < to.size(); ++i) out.data()[to[i]] += src_values[read[i]];
  auto src_xshape = detail::to_xshape(ss);
  return make_output(std::move(out), "scatter_add", {a, src}, [=](const Array& g) {
    Array ds = xt::zeros<float>(src_xshape);  // src elements outside the index get nothing
    for (size_t i = 0; i < to.size(); ++i) ds.data()[from[i]] = g.data()[to[i]];
    return gradients(g, std::move(ds));
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
  const int64_t rows = s[s.size() - 2], cols = s.back();
  Array mask = Array::from_shape(detail::to_xshape(s));
  for (size_t k = 0; k < mask.size(); ++k) {
    const int64_t j = static_cast<int64_t>(k) % cols, i = (static_cast<int64_t>(k) / cols) % rows;
    mask.data()[k] = keep(j - i) ? 1.f : 0.f;
  }
  // A view is read through its strides; where(), not a product: -inf * 0 would be NaN.
  Array out = xt::where(xt::not_equal(mask, 0.f), a.data(), 0.f);
  return make_output(std::move(out), op, {a}, [mask = std::move(mask)](const Array& g) {
    return gradients(Array(g * mask));
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
