// Joining and indexing: cat, stack, index_select, gather, where, masked_fill, each written
// once for float32 and float64 (mixed float dtypes promote as in PyTorch).
#include <algorithm>
#include <type_traits>
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
// not to need kernels of their own. A mask joined with floats is promoted (below).
bool all_bool(const std::vector<Tensor>& tensors) {
  return !tensors.empty() && std::all_of(tensors.begin(), tensors.end(),
                                         [](const Tensor& t) { return t.dtype() == kBool; });
}
std::vector<Tensor> as_floats(const std::vector<Tensor>& tensors) {
  std::vector<Tensor> out;
  for (const Tensor& t : tensors) out.push_back(t.to(kFloat32));
  return out;
}
// Tensors of mixed dtypes in their common one, as PyTorch's cat: float32 and float64 join as
// float64, a bool with a float as that float (0/1), bfloat16 with float32 as float32. Each is
// converted where it differs (recorded and differentiable between floats; a bool gets no grad).
std::vector<Tensor> promoted_all(const std::vector<Tensor>& tensors) {
  Dtype common = tensors.empty() ? kFloat32 : tensors[0].dtype();
  for (const Tensor& t : tensors) common = promote_types(common, t.dtype());
  std::vector<Tensor> out;
  for (const Tensor& t : tensors) out.push_back(t.to(common));
  return out;
}

// The one kernel of cat and stack: input t, read through `walks[t]` (its shape as a part of
// the result, with stack's new dim of size 1 and its strides), is copied into its place along
// `joined.dim`; its gradient is g's slice in its own shape (`grad_shapes[t]`).
template <class T>
Tensor join_of(const std::vector<Tensor>& tensors, const std::vector<Shape>& walks,
               const std::vector<Shape>& walk_strides, const std::vector<Shape>& grad_shapes,
               const detail::Joined& joined, const char* op) {
  const Shape& out_shape = joined.shape;
  const std::vector<int64_t>& sizes = joined.sizes;
  const detail::DimSplit split = detail::split_at(out_shape, joined.dim);
  const int64_t outer = split.outer, inner = split.inner, total = split.n;
  ArrayOf<T> out = ArrayOf<T>::from_shape(detail::to_xshape(out_shape));
  int64_t offset = 0;
  const Shape out_strides = detail::contiguous_strides(out_shape);
  for (size_t t = 0; t < tensors.size() && out.size() > 0; ++t) {  // no walk over empty rows
    const Tensor& in = tensors[t];
    const T* src = in.impl()->storage->template data_as<T>();
    if (in.is_view()) {  // read through its strides into its place in the result
      detail::copy_strided(src, walks[t], walk_strides[t], in.storage_offset(), out.data(),
                           out_strides, offset * inner);
    } else {
      int64_t chunk = sizes[t] * inner;
      for (int64_t o = 0; o < outer; ++o)
        std::copy(src + o * chunk, src + (o + 1) * chunk,
                  out.data() + (o * total + offset) * inner);
    }
    offset += sizes[t];
  }
  return make_output(std::move(out), op, tensors, [=](const ArrayOf<T>& g) {
    Gradients grads;
    int64_t at = 0;
    for (size_t t = 0; t < grad_shapes.size(); ++t) {
      ArrayOf<T> part = ArrayOf<T>::from_shape(detail::to_xshape(grad_shapes[t]));
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

// cat, or stack when `stacked`: the inputs promoted to one dtype, then the kernel in it.
Tensor join(const std::vector<Tensor>& given, int64_t dim, bool stacked) {
  const char* op = stacked ? "stack" : "cat";
  EMBER_CHECK_VALUE(!given.empty(), op, ": expected a non-empty list of tensors");
  const std::vector<Tensor> tensors = promoted_all(given);
  std::vector<Shape> shapes, walks, walk_strides;
  for (const Tensor& t : tensors) {
    shapes.push_back(t.shape());
    walk_strides.push_back(t.strides());
  }
  walks = shapes;
  if (stacked) {  // stack as PyTorch defines it: cat of the inputs unsqueezed at dim
    dim = detail::stack_dim(tensors, dim);
    for (size_t t = 0; t < shapes.size(); ++t) {
      walks[t].insert(walks[t].begin() + dim, 1);
      walk_strides[t].insert(walk_strides[t].begin() + dim, 0);  // a size-1 dim: never stepped
    }
  }
  const detail::Joined joined = detail::join_shapes(walks, dim, op);
  return detail::by_dtype(tensors[0], op, [&](auto real) {
    return join_of<decltype(real)>(tensors, walks, walk_strides, shapes, joined, op);
  });
}
}  // namespace

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  if (all_bool(tensors)) return cat(as_floats(tensors), dim).to(kBool);
  return join(tensors, dim, false);
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  if (all_bool(tensors)) return stack(as_floats(tensors), dim).to(kBool);
  return join(tensors, dim, true);
}

namespace {
template <class T>
Tensor index_select_of(const Tensor& a, int64_t dim, const IndexTensor& index) {
  Shape in = a.shape();
  if (in.empty()) {  // as PyTorch: a 0-d input takes one index, 0, and stays 0-d
    EMBER_CHECK_INDEX(index.numel() == 1 && index[0] == 0, "index_select: a 0-d input takes ",
                      "exactly one index, 0; got ", index.numel(), " indices");
    return make_output(detail::pack<T>(a), "index_select", {a},
                       [](const ArrayOf<T>& g) { return gradients(g); });
  }
  detail::DimSplit s = detail::split_at(in, dim);
  std::vector<int64_t> idx = index.to_vector();
  for (int64_t i : idx)
    EMBER_CHECK_INDEX(i >= 0 && i < s.n, "index_select: index ", i, " out of range for dim ", dim,
                      " of size ", s.n);
  Shape out_shape = in;
  out_shape[dim] = static_cast<int64_t>(idx.size());
  const int64_t m = static_cast<int64_t>(idx.size());
  ArrayOf<T> out = ArrayOf<T>::from_shape(detail::to_xshape(out_shape));
  const T* storage = a.impl()->storage->template data_as<T>();
  if (a.is_view()) {  // each selected slice read through the view's strides into its place
    Shape slice = in, a_strides = a.strides();
    slice[dim] = 1;
    const Shape out_strides = detail::contiguous_strides(out_shape);
    for (int64_t k = 0; k < m; ++k)
      detail::copy_strided(storage, slice, a_strides, a.storage_offset() + idx[k] * a_strides[dim],
                           out.data(), out_strides, k * out_strides[dim]);
  } else {
    for (int64_t o = 0; o < s.outer; ++o)
      for (int64_t k = 0; k < m; ++k)
        std::copy(storage + (o * s.n + idx[k]) * s.inner,
                  storage + (o * s.n + idx[k] + 1) * s.inner, out.data() + (o * m + k) * s.inner);
  }
  return make_output(std::move(out), "index_select", {a}, [=](const ArrayOf<T>& g) {
    ArrayOf<T> dx = xt::zeros<T>(detail::to_xshape(in));
    for (int64_t o = 0; o < s.outer; ++o)
      for (int64_t k = 0; k < m; ++k) {
        const T* from = g.data() + (o * m + k) * s.inner;
        T* to = dx.data() + (o * s.n + idx[k]) * s.inner;
        for (int64_t j = 0; j < s.inner; ++j) to[j] += from[j];
      }
    return gradients(std::move(dx));
  });
}
}  // namespace

Tensor index_select(const Tensor& a, int64_t dim, const IndexTensor& index) {
  if (a.dtype() == kBool) return index_select(a.to(kFloat32), dim, index).to(kBool);
  dim = detail::wrap_dim(dim, a.dim(), "index_select");
  EMBER_CHECK_SHAPE(index.dim() <= 1, "index_select: index must be 0-d or 1-D, got shape ",
                    detail::shape_str(index.shape()));
  return detail::by_dtype(
      a, "index_select", [&](auto real) { return index_select_of<decltype(real)>(a, dim, index); });
}

namespace {
template <class T>
Tensor gather_of(const Tensor& a, int64_t dim, const IndexTensor& index) {
  Shape in = a.shape(), is = index.shape();
  if (in.empty()) {  // as PyTorch: a 0-d input is read as [1]; the output has the index's shape
    EMBER_CHECK_SHAPE(is.size() <= 1, "gather: a 0-d input takes a 0-d or 1-D index, got shape ",
                      detail::shape_str(is));
    for (int64_t i : index.to_vector())
      EMBER_CHECK_INDEX(i == 0, "gather: index ", i, " out of range for a 0-d input (only 0)");
    const T v = a.item<T>();
    return make_output(
        ArrayOf<T>(detail::to_xshape(is), v), "gather", {a}, [](const ArrayOf<T>& g) {
          return gradients(ArrayOf<T>(xt::sum(g, xt::evaluation_strategy::immediate)));
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
  const T* base = a.data_ptr<T>();
  ArrayOf<T> out = ArrayOf<T>::from_shape(detail::to_xshape(is));
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
  return make_output(std::move(out), "gather", {a}, [in, offsets](const ArrayOf<T>& g) {
    ArrayOf<T> dx = xt::zeros<T>(detail::to_xshape(in));
    for (size_t i = 0; i < offsets.size(); ++i) dx.data()[offsets[i]] += g.data()[i];
    return gradients(std::move(dx));
  });
}
}  // namespace

Tensor gather(const Tensor& a, int64_t dim, const IndexTensor& index) {
  dim = detail::wrap_dim(dim, a.dim(), "gather");
  return detail::by_dtype(a, "gather",
                          [&](auto real) { return gather_of<decltype(real)>(a, dim, index); });
}

namespace {
// Both sides read where they sit (a view packed in float64, which has no strided adaptor).
template <class T>
Tensor where_of(const Tensor& mask, const Tensor& a, const Tensor& b) {
  Shape sa = a.shape(), sb = b.shape();
  ArrayOf<T> out = detail::with_values_of<T>(a, [&](const auto& x) {
    return detail::with_values_of<T>(b, [&](const auto& y) {
      return ArrayOf<T>(xt::where(detail::bool_values(mask, "where", "condition"), x, y));
    });
  });
  return make_output(std::move(out), "where", {a, b},
                     [M = detail::SavedMask(mask, "where"), sa, sb](const ArrayOf<T>& g) {
                       const auto keep = *M;
                       return gradients(sum_to(ArrayOf<T>(xt::where(keep, g, T(0))), sa),
                                        sum_to(ArrayOf<T>(xt::where(keep, T(0), g)), sb));
                     });
}
}  // namespace

// As torch.where: a and b in their common dtype (a float32 and a float64 side give float64, a
// bool side counts as the other's float); two bool sides select bools.
Tensor where(const Tensor& mask, const Tensor& a, const Tensor& b) {
  detail::broadcast_shapes(detail::broadcast_shapes(mask.shape(), a.shape(), "where"), b.shape(),
                           "where");
  if (a.dtype() == kBool && b.dtype() == kBool)
    return where(mask, a.to(kFloat32), b.to(kFloat32)).to(kBool);  // exact
  if (a.dtype() != b.dtype()) {
    const auto [x, y] = detail::promoted(a, b);
    return where(mask, x, y);
  }
  return detail::by_dtype(a, "where",
                          [&](auto real) { return where_of<decltype(real)>(mask, a, b); });
}

// A scalar side is a 0-d tensor of the other side's dtype (a float scalar does not widen a
// tensor, as in PyTorch), broadcast like any operand.
namespace {
Tensor scalar_like(double value, const Tensor& other) {
  const Dtype dtype = other.dtype() == kBool ? kFloat32 : other.dtype();
  return full({}, value, dtype);
}
}  // namespace
Tensor where(const Tensor& mask, const Tensor& a, double b) {
  return where(mask, a, scalar_like(b, a));
}
Tensor where(const Tensor& mask, double a, const Tensor& b) {
  return where(mask, scalar_like(a, b), b);
}

Tensor masked_fill(const Tensor& a, const Tensor& mask, double value) {
  Shape sa = a.shape();
  EMBER_CHECK_SHAPE(detail::broadcast_shapes(sa, mask.shape(), "masked_fill") == sa,
                    "masked_fill: mask shape ", detail::shape_str(mask.shape()),
                    " is not broadcastable to input shape ", detail::shape_str(sa));
  return detail::by_dtype(a, "masked_fill", [&](auto real) {
    using T = decltype(real);
    const T fill = static_cast<T>(value);
    auto filled = [&]() -> ArrayOf<T> {
      if constexpr (std::is_same_v<T, float>) {
        if (!a.is_view() && !mask.is_view() && mask.shape() == sa && mask.dtype() == kBool) {
          // The common case, a mask of the input's shape: one plain pass.
          Array out = Array::from_shape(detail::to_xshape(sa));
          detail::kernels::fill_where(reinterpret_cast<const uint8_t*>(mask.data_ptr<bool>()), fill,
                                      a.data_ptr(), out.data(), a.numel());
          return out;
        }
      }
      // both read where they sit, the mask broadcast
      return detail::with_values_of<T>(a, [&](const auto& x) {
        return ArrayOf<T>(xt::where(detail::bool_values(mask, "masked_fill", "mask"), fill, x));
      });
    };
    return make_output(filled(), "masked_fill", {a},
                       [M = detail::SavedMask(mask, "masked_fill")](const ArrayOf<T>& g) {
                         return gradients(ArrayOf<T>(xt::where(*M, T(0), g)));
                       });
  });
}

}  // namespace ember
