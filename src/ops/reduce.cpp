// Reductions: sum, mean, max (values and argmax) over all or given dims, with keepdim.
#include <algorithm>
#include <cmath>
#include <xtensor/xbroadcast.hpp>
#include <xtensor/xreducer.hpp>

#include "ember/autograd.hpp"
#include "ember/ops.hpp"
#include "kernels.hpp"
#include "op_helpers.hpp"

namespace ember {

namespace {

// Sorted, unique, non-negative dims; an empty list means every dim.
std::vector<size_t> reduce_axes(const Shape& dims, int64_t rank, const char* op) {
  std::vector<size_t> axes;
  for (int64_t d : dims) axes.push_back(static_cast<size_t>(detail::wrap_dim(d, rank, op)));
  if (dims.empty())
    for (int64_t d = 0; d < rank; ++d) axes.push_back(static_cast<size_t>(d));
  std::sort(axes.begin(), axes.end());
  axes.erase(std::unique(axes.begin(), axes.end()), axes.end());
  return axes;
}

Shape keepdim_shape(const Shape& in, const std::vector<size_t>& axes) {
  Shape out = in;
  for (size_t ax : axes) out[ax] = 1;
  return out;
}

Shape reduced_shape(const Shape& in, const std::vector<size_t>& axes, bool keepdim) {
  if (keepdim) return keepdim_shape(in, axes);
  Shape out;
  for (size_t i = 0; i < in.size(); ++i)
    if (std::find(axes.begin(), axes.end(), i) == axes.end()) out.push_back(in[i]);
  return out;
}

// The gradient of a sum (divisor 1) or mean: g spread back over the reduced dims.
Array expand_back(const Array& g, const Shape& keep_shape, const Shape& in_shape, float divisor) {
  Array gk = g;
  gk.reshape(detail::to_xshape(keep_shape));
  Array out = xt::broadcast(gk, detail::to_xshape(in_shape));
  if (divisor != 1.f) out /= divisor;
  return out;
}

Tensor sum_impl(const Tensor& a, const Shape& dims, bool keepdim, bool mean, const char* op) {
  Shape in = a.shape();
  std::vector<size_t> axes = reduce_axes(dims, a.dim(), op);
  int64_t count = 1;
  for (size_t ax : axes) count *= in[ax];
  // As PyTorch, a mean divides by the count (forward and backward), for the same rounding.
  float divisor = mean ? static_cast<float>(count) : 1.f;
  Array out = xt::sum(a.data(), axes, xt::evaluation_strategy::immediate);
  if (mean) out /= divisor;
  out.reshape(detail::to_xshape(reduced_shape(in, axes, keepdim)));
  Shape keep = keepdim_shape(in, axes);
  return make_output(std::move(out), op, {a}, [keep, in, divisor](const Array& g) {
    return gradients(expand_back(g, keep, in, divisor));
  });
}

}  // namespace

namespace {
// The reduction of everything: one pass, and a backward that only fills.
Tensor reduce_all(const Tensor& a, bool mean, const char* op) {
  const Array& x = a.data();
  double total = detail::kernels::sum(x.data(), static_cast<int64_t>(x.size()));
  const float divisor = mean ? static_cast<float>(x.size()) : 1.f;
  auto shape = x.shape();
  float result = static_cast<float>(total);
  if (mean) result /= divisor;
  return make_output(Array(result), op, {a}, [shape, divisor](const Array& g) {
    return gradients(Array(shape, g.data()[0] / divisor));
  });
}
}  // namespace

Tensor sum(const Tensor& a) { return reduce_all(a, false, "sum"); }
Tensor sum(const Tensor& a, const Shape& dims, bool keepdim) {
  EMBER_CHECK_VALUE(!dims.empty(), "sum: dims must not be empty (use sum(a) for all dims)");
  return sum_impl(a, dims, keepdim, false, "sum");
}
Tensor mean(const Tensor& a) { return reduce_all(a, true, "mean"); }
Tensor mean(const Tensor& a, const Shape& dims, bool keepdim) {
  EMBER_CHECK_VALUE(!dims.empty(), "mean: dims must not be empty (use mean(a) for all dims)");
  return sum_impl(a, dims, keepdim, true, "mean");
}

Tensor max(const Tensor& a) {
  EMBER_CHECK_SHAPE(a.numel() > 0, "max: cannot reduce an empty tensor of shape ",
                    detail::shape_str(a.shape()));
  auto A = a.storage();
  float m = *std::max_element(A->begin(), A->end());
  return make_output(Array(m), "max", {a}, [A, m](const Array& g) {
    // As PyTorch: the gradient is shared evenly between tied maxima.
    float ties = 0.f;
    for (float v : *A) ties += v == m ? 1.f : 0.f;
    float share = g.data()[0] / ties;
    return gradients(Array(xt::where(xt::equal(*A, m), share, 0.f)));
  });
}

namespace {
// Values and argmax along `dim`; first maximum wins on ties, as PyTorch on CPU.
std::pair<Array, std::vector<int64_t>> max_along(const Array& x, detail::DimSplit s) {
  Array values = Array::from_shape({static_cast<size_t>(s.outer * s.inner)});
  std::vector<int64_t> idx(static_cast<size_t>(s.outer * s.inner));
  for (int64_t o = 0; o < s.outer; ++o)
    for (int64_t i = 0; i < s.inner; ++i) {
      const float* row = x.data() + o * s.n * s.inner + i;
      int64_t best = 0;
      for (int64_t k = 1; k < s.n; ++k)
        if (row[k * s.inner] > row[best * s.inner] || std::isnan(row[k * s.inner])) best = k;
      values.data()[o * s.inner + i] = row[best * s.inner];
      idx[static_cast<size_t>(o * s.inner + i)] = best;
    }
  return {std::move(values), std::move(idx)};
}
}  // namespace

Tensor max(const Tensor& a, int64_t dim, bool keepdim) {
  dim = detail::wrap_dim(dim, a.dim(), "max");
  Shape in = a.shape();
  EMBER_CHECK_SHAPE(in.empty() || in[dim] > 0, "max: cannot reduce dim ", dim,
                    " of size 0 in shape ", detail::shape_str(in));
  detail::DimSplit s = detail::split_at(in, dim);
  auto [values, idx] = max_along(a.data(), s);
  Shape out_shape = reduced_shape(in, {static_cast<size_t>(dim)}, keepdim);
  if (in.empty()) out_shape = {};
  values.reshape(detail::to_xshape(out_shape));
  return make_output(std::move(values), "max", {a}, [in, s, idx = std::move(idx)](const Array& g) {
    Array dx = xt::zeros<float>(detail::to_xshape(in));
    for (int64_t o = 0; o < s.outer; ++o)
      for (int64_t i = 0; i < s.inner; ++i) {
        int64_t j = o * s.inner + i;
        dx.data()[o * s.n * s.inner + idx[static_cast<size_t>(j)] * s.inner + i] += g.data()[j];
      }
    return gradients(std::move(dx));
  });
}

IndexTensor argmax(const Tensor& a, int64_t dim, bool keepdim) {
  dim = detail::wrap_dim(dim, a.dim(), "argmax");
  Shape in = a.shape();
  EMBER_CHECK_SHAPE(in.empty() || in[dim] > 0, "argmax: cannot reduce dim ", dim,
                    " of size 0 in shape ", detail::shape_str(in));
  auto result = max_along(a.data(), detail::split_at(in, dim));
  Shape out_shape = in.empty() ? Shape{} : reduced_shape(in, {static_cast<size_t>(dim)}, keepdim);
  return IndexTensor(std::move(result.second), out_shape);
}

}  // namespace ember
