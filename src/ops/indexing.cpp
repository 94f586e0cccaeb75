// Joining and indexing: cat, stack, index_select, gather, where, masked_fill.
#include <xtensor/xmath.hpp>
#include <xtensor/xoperation.hpp>

#include "../bool_values.hpp"
#include "ember/autograd.hpp"
#include "ember/ops.hpp"
#include "kernels.hpp"
#include "op_helpers.hpp"
#include "stack.hpp"

namespace ember {

namespace detail {
Joined join_shapes(const std::vector<Shape>& shapes, int64_t dim, const char* op) {
  EMBER_CHECK_VALUE(!shapes.empty(), op, ": expected a non-empty list of tensors");
  const Shape& first = shapes[0];
  for (size_t t = 0; t < shapes.size(); ++t)
    EMBER_CHECK_SHAPE(!shapes[t].empty(), op, ": tensor ", t,
                      " is 0-d, and only tensors with a dim can be joined along one (use stack)");
  Joined j{first, {}, wrap_dim(dim, static_cast<int64_t>(first.size()), op)};
  j.shape[j.dim] = 0;
  for (size_t t = 0; t < shapes.size(); ++t) {
    const Shape& s = shapes[t];
    bool ok = s.size() == first.size();
    for (size_t d = 0; ok && d < s.size(); ++d)
      ok = static_cast<int64_t>(d) == j.dim || s[d] == first[d];
    EMBER_CHECK_SHAPE(ok, op, ": tensor ", t, " has shape ", shape_str(s),
                      ", which does not match ", shape_str(first), " outside dim ", j.dim);
    j.sizes.push_back(s[j.dim]);
    j.shape[j.dim] += s[j.dim];
  }
  return j;
}
}  // namespace detail

namespace {
// Bool tensors (masks) join and gather as 0/1 floats, converted back: exact, and rare enough
// not to need kernels of their own. Mixed dtypes are refused, as Ember has no promotion here.
bool all_bool(const std::vector<Tensor>& tensors, const char* op) {
  size_t bools = 0;
  for (const Tensor& t : tensors) bools += t.dtype() == kBool ? 1 : 0;
  EMBER_CHECK_DTYPE(bools == 0 || bools == tensors.size(), op, ": ", bools, " of the ",
                    tensors.size(), " tensors are bool; join masks with masks");
  return bools > 0;
}
std::vector<Tensor> as_floats(const std::vector<Tensor>& tensors) {
  std::vector<Tensor> out;
  for (const Tensor& t : tensors) out.push_back(t.to(kFloat32));
  return out;
}
}  // namespace

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  if (all_bool(tensors, "cat")) return cat(as_floats(tensors), dim).to(kBool);
  std::vector<Shape> shapes;
  for (const Tensor& t : tensors) shapes.push_back(t.shape());
  detail::Joined joined = detail::join_shapes(shapes, dim, "cat");
  dim = joined.dim;
  const Shape& out_shape = joined.shape;
  const std::vector<int64_t>& sizes = joined.sizes;
  detail::DimSplit split = detail::split_at(out_shape, dim);
  const int64_t outer = split.outer, inner = split.inner, total = split.n;
  Array out = Array::from_shape(detail::to_xshape(out_shape));
  int64_t offset = 0;
  const Shape out_strides = detail::contiguous_strides(out_shape);
  for (size_t t = 0; t < tensors.size() && out.size() > 0; ++t) {  // no walk over empty rows
    const Tensor& in = tensors[t];
    if (in.is_view()) {  // read through its strides into its place in the result
      detail::copy_strided(in.impl()->storage->data(), shapes[t], in.strides(), in.storage_offset(),
                           out.data(), out_strides, offset * inner);
    } else {
      const float* src = in.impl()->storage->data();
      int64_t chunk = sizes[t] * inner;
      for (int64_t o = 0; o < outer; ++o)
        std::copy(src + o * chunk, src + (o + 1) * chunk,
                  out.data() + (o * total + offset) * inner);
    }
    offset += sizes[t];
  }
  return make_output(std::move(out), "cat", tensors, [=](const Array& g) {
    Gradients grads;
    int64_t at = 0;
    for (size_t t = 0; t < shapes.size(); ++t) {
      Array part = Array::from_shape(detail::to_xshape(shapes[t]));
      int64_t chunk = sizes[t] * inner;
      for (int64_t o = 0; o < outer && chunk > 0; ++o)
        std::copy(g.data() + (o * total + at) * inner, g.data() + (o * total + at) * inner + chunk,
                  part.data() + o * chunk);
      at += sizes[t];
      grads.emplace_back(std::move(part));
    }
    return grads;
  });
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  if (all_bool(tensors, "stack")) return stack(as_floats(tensors), dim).to(kBool);
  return detail::stack_by_cat(tensors, dim);
}

Tensor index_select(const Tensor& a, int64_t dim, const IndexTensor& index) {
  if (a.dtype() == kBool) return index_select(a.to(kFloat32), dim, index).to(kBool);
  dim = detail::wrap_dim(dim, a.dim(), "index_select");
  EMBER_CHECK_SHAPE(index.dim() <= 1, "index_select: index must be 0-d or 1-D, got shape ",
                    detail::shape_str(index.shape()));
  Shape in = a.shape();
  if (in.empty()) {  // as PyTorch: a 0-d input takes one index, 0, and stays 0-d
    EMBER_CHECK_INDEX(index.numel() == 1 && index[0] == 0, "index_select: a 0-d input takes ",
                      "exactly one index, 0; got ", index.numel(), " indices");
    return make_output(detail::pack(a), "index_select", {a},
                       [](const Array& g) { return gradients(g); });
  }
  detail::DimSplit s = detail::split_at(in, dim);
  std::vector<int64_t> idx = index.to_vector();
  for (int64_t i : idx)
    EMBER_CHECK_INDEX(i >= 0 && i < s.n, "index_select: index ", i, " out of range for dim ", dim,
                      " of size ", s.n);
  Shape out_shape = in;
  out_shape[dim] = static_cast<int64_t>(idx.size());
  const int64_t m = static_cast<int64_t>(idx.size());
  Array out = Array::from_shape(detail::to_xshape(out_shape));
  if (a.is_view()) {  // each selected slice read through the view's strides into its place
    Shape slice = in, a_strides = a.strides();
    slice[dim] = 1;
    const Shape out_strides = detail::contiguous_strides(out_shape);
    for (int64_t k = 0; k < m; ++k)
      detail::copy_strided(a.impl()->storage->data(), slice, a_strides,
                           a.storage_offset() + idx[k] * a_strides[dim], out.data(), out_strides,
                           k * out_strides[dim]);
  } else {
    const float* src = a.impl()->storage->data();
    for (int64_t o = 0; o < s.outer; ++o)
      for (int64_t k = 0; k < m; ++k)
        std::copy(src + (o * s.n + idx[k]) * s.inner, src + (o * s.n + idx[k] + 1) * s.inner,
                  out.data() + (o * m + k) * s.inner);
  }
  return make_output(std::move(out), "index_select", {a}, [=](const Array& g) {
    Array dx = xt::zeros<float>(detail::to_xshape(in));
    for (int64_t o = 0; o < s.outer; ++o)
      for (int64_t k = 0; k < m; ++k) {
        const float* from = g.data() + (o * m + k) * s.inner;
        float* to = dx.data() + (o * s.n + idx[k]) * s.inner;
        for (int64_t j = 0; j < s.inner; ++j) to[j] += from[j];
      }
    return gradients(std::move(dx));
  });
}

Tensor gather(const Tensor& a, int64_t dim, const IndexTensor& index) {
  dim = detail::wrap_dim(dim, a.dim(), "gather");
  Shape in = a.shape(), is = index.shape();
  if (in.empty()) {  // as PyTorch: a 0-d input is read as [1]; the output has the index's shape
    EMBER_CHECK_SHAPE(is.size() <= 1, "gather: a 0-d input takes a 0-d or 1-D index, got shape ",
                      detail::shape_str(is));
    for (int64_t i : index.to_vector())
      EMBER_CHECK_INDEX(i == 0, "gather: index ", i, " out of range for a 0-d input (only 0)");
    const float v = a.item();
    return make_output(Array(detail::to_xshape(is), v), "gather", {a}, [](const Array& g) {
      return gradients(Array(xt::sum(g, xt::evaluation_strategy::immediate)));
    });
  }
  EMBER_CHECK_SHAPE(is.size() == in.size(), "gather: index has ", is.size(), " dims but input has ",
                    in.size(), "; they must match");
  for (size_t d = 0; d < in.size(); ++d)
    EMBER_CHECK_SHAPE(static_cast<int64_t>(d) == dim || is[d] <= in[d], "gather: index shape ",
                      detail::shape_str(is), " is larger than input shape ", detail::shape_str(in),
                      " at dim ", d);
  // Each index element's source: read from a where it sits (through a's strides), and its
  // offset in a contiguous gradient of a's shape, kept for backward.
  std::vector<int64_t> in_strides(in.size(), 1);
  for (int64_t d = static_cast<int64_t>(in.size()) - 2; d >= 0; --d)
    in_strides[d] = in_strides[d + 1] * in[d + 1];
  const Shape a_strides = a.strides();
  const float* base = a.data_ptr();
  Array out = Array::from_shape(detail::to_xshape(is));
  std::vector<int64_t> offsets(static_cast<size_t>(index.numel()));
  std::vector<int64_t> coord(is.size(), 0);
  for (int64_t flat = 0; flat < index.numel(); ++flat) {
    int64_t target = index[flat];
    EMBER_CHECK_INDEX(target >= 0 && target < in[dim], "gather: index ", target,
                      " out of range for dim ", dim, " of size ", in[dim]);
    int64_t off = 0, read = 0;
    for (size_t d = 0; d < is.size(); ++d) {
      const int64_t at = static_cast<int64_t>(d) == dim ? target : coord[d];
      off += at * in_strides[d];
      read += at * a_strides[d];
    }
    offsets[static_cast<size_t>(flat)] = off;
    out.data()[flat] = base[read];
    for (int64_t d = static_cast<int64_t>(is.size()) - 1; d >= 0; --d) {
      if (++coord[d] < is[d]) break;
      coord[d] = 0;
    }
  }
  return make_output(std::move(out), "gather", {a}, [in, offsets](const Array& g) {
    Array dx = xt::zeros<float>(detail::to_xshape(in));
    for (size_t i = 0; i < offsets.size(); ++i) dx.data()[offsets[i]] += g.data()[i];
    return gradients(std::move(dx));
  });
}

Tensor where(const Tensor& mask, const Tensor& a, const Tensor& b) {
  Shape sa = a.shape(), sb = b.shape();
  detail::broadcast_shapes(detail::broadcast_shapes(mask.shape(), sa, "where"), sb, "where");
  // Every operand read where it sits.
  Array out = xt::where(detail::bool_values(mask, "where", "condition"), a.data(), b.data());
  return make_output(std::move(out), "where", {a, b},
                     [M = detail::SavedMask(mask, "where"), sa, sb](const Array& g) {
                       const auto keep = *M;
                       return gradients(sum_to(Array(xt::where(keep, g, 0.f)), sa),
                                        sum_to(Array(xt::where(keep, 0.f, g)), sb));
                     });
}

// A scalar side is a 0-d tensor, broadcast like any operand.
Tensor where(const Tensor& mask, const Tensor& a, float b) {
  return where(mask, a, scalar_tensor(b));
}
Tensor where(const Tensor& mask, float a, const Tensor& b) {
  return where(mask, scalar_tensor(a), b);
}

Tensor masked_fill(const Tensor& a, const Tensor& mask, float value) {
  Shape sa = a.shape();
  EMBER_CHECK_SHAPE(detail::broadcast_shapes(sa, mask.shape(), "masked_fill") == sa,
                    "masked_fill: mask shape ", detail::shape_str(mask.shape()),
                    " is not broadcastable to input shape ", detail::shape_str(sa));
  Array out;
  if (!a.is_view() && !mask.is_view() && mask.shape() == sa && mask.dtype() == kBool) {
    // The common case, a mask of the input's shape: one plain pass.
    out = Array::from_shape(detail::to_xshape(sa));
    detail::kernels::fill_where(reinterpret_cast<const uint8_t*>(mask.data_ptr<bool>()), value,
                                a.data_ptr(), out.data(), a.numel());
  } else {  // both read where they sit, the mask broadcast
    out = xt::where(detail::bool_values(mask, "masked_fill", "mask"), value, a.data());
  }
  return make_output(std::move(out), "masked_fill", {a},
                     [M = detail::SavedMask(mask, "masked_fill")](const Array& g) {
                       return gradients(Array(xt::where(*M, 0.f, g)));
                     });
}

}  // namespace ember
