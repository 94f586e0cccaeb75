// Shape ops as views: each is a transform of a layout (shape, strides, offset). Applied to the
// input's real layout it gives the view, which shares the input's storage; applied to the
// input's contiguous layout it says where each output element came from, which is all the
// backward needs: one strided scatter-add serves every view op.
#include <numeric>

#include "ember/autograd.hpp"
#include "ops/op_helpers.hpp"

namespace ember {

namespace detail {

// The target of view/reshape with one -1 inferred; throws naming `op` and both shapes.
Shape infer_shape(const Shape& requested, int64_t numel, const Shape& from, const char* op) {
  Shape target = requested;
  int64_t infer = -1;
  for (size_t i = 0; i < target.size(); ++i) {
    if (target[i] == -1) {
      EMBER_CHECK_SHAPE(infer < 0, op, ": only one dimension can be -1, got ",
                        shape_str(requested));
      infer = static_cast<int64_t>(i);
    } else {
      EMBER_CHECK_SHAPE(target[i] >= 0, op, ": invalid size ", target[i], " in shape ",
                        shape_str(requested));
    }
  }
  Shape sizes = target;  // the -1 counted as 1
  if (infer >= 0) sizes[infer] = 1;
  const int64_t known = checked_numel(sizes, op);
  const bool inferred = infer < 0 || (known > 0 && numel % known == 0);
  if (infer >= 0 && inferred) target[infer] = numel / known;
  EMBER_CHECK_SHAPE(inferred && checked_numel(target, op) == numel, op, ": shape ",
                    shape_str(requested), " is invalid for input of size ", numel, " (shape ",
                    shape_str(from), ")");
  return target;
}

}  // namespace detail

namespace {

using detail::layout_of;
using detail::shape_str;

int64_t count(const Shape& shape) {
  return std::accumulate(shape.begin(), shape.end(), int64_t{1}, std::multiplies<>());
}

ViewLayout contiguous_layout(const Shape& shape) {
  return {shape, detail::contiguous_strides(shape), 0};
}

// A view that reads its whole input in order, in another shape.
bool is_pure_reshape(const ViewLayout& from, const Shape& input_shape) {
  return from.offset == 0 && count(from.shape) == count(input_shape) &&
         from.strides == detail::contiguous_strides(from.shape);
}

// The gradient of a view's input: the output gradient put back where each element came from.
template <class T>
ArrayOf<T> scatter_back(const ArrayOf<T>& grad, const ViewLayout& from, const Shape& input_shape) {
  if (is_pure_reshape(from, input_shape)) {
    ArrayOf<T> same = grad;  // a pure reshape: same order, new shape
    same.reshape(detail::to_xshape(input_shape));
    return same;
  }
  ArrayOf<T> out = xt::zeros<T>(detail::to_xshape(input_shape));
  detail::scatter_add_strided(grad.data(), from.shape, from.strides, from.offset, out.data());
  return out;
}

// Records the backward of a view of a base of `base_shape` made at `region` (a storage
// layout), in the gradient's element type: double for a float64 view, float otherwise.
Tensor attach_view_backward(Tensor view, const char* name, const Tensor& base,
                            const ViewLayout& region, const Shape& base_shape) {
  Tensor out =
      view.dtype() == kFloat64
          ? attach_grad_fn_of<double>(std::move(view), name, {base},
                                      [region, base_shape](const ArrayOf<double>& g) {
                                        return gradients(scatter_back(g, region, base_shape));
                                      })
          : attach_grad_fn(std::move(view), name, {base}, [region, base_shape](const Array& g) {
              return gradients(scatter_back(g, region, base_shape));
            });
  // The engine then moves the gradient on instead of calling the backward above, which copies.
  if (out.grad_fn() && is_pure_reshape(region, base_shape)) out.grad_fn()->reshapes_gradient = true;
  return out;
}

// A view of `t` through `transform`, recorded as op `name` when t needs grad.
template <class Transform>
Tensor make_view(const Tensor& t, const char* name, Transform transform) {
  ViewLayout actual = transform(layout_of(t));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = t.impl()->storage;
  const auto& source = t.impl();
  impl->base = source->base ? source->base : source->view ? nullptr : source;
  // A layout that covers the whole storage contiguously from its start (a reshape of a tensor
  // that is its storage) is not a view: kernels take their contiguous fast path on it.
  const bool is_whole_storage = actual.offset == 0 &&
                                actual.strides == detail::contiguous_strides(actual.shape) &&
                                detail::checked_numel(actual.shape, name) == impl->storage->numel();
  impl->layout.shape.assign(actual.shape.begin(), actual.shape.end());
  impl->layout.strides.assign(actual.strides.begin(), actual.strides.end());
  impl->layout.offset = actual.offset;
  impl->view = !is_whole_storage;
  impl->history_version = impl->storage->version.load(std::memory_order_relaxed);
  impl->made_in_no_grad = impl->base && (source->made_in_no_grad || !is_grad_enabled());
  Tensor out(std::move(impl));
  if (!needs_grad({t})) return out;
  Shape input_shape = t.shape();
  return attach_view_backward(std::move(out), name, t, transform(contiguous_layout(input_shape)),
                              input_shape);
}

// Strides that let `layout` be read in `target` shape without a copy, or false (PyTorch's
// computeStride: each run of dims that is contiguous in memory may be regrouped freely).
bool view_strides(const ViewLayout& layout, const Shape& target, Shape& strides) {
  const Shape& shape = layout.shape;
  strides.assign(target.size(), 1);
  if (count(shape) == 0 || shape.empty()) {
    strides = detail::contiguous_strides(target);
    return true;
  }
  int64_t view_d = static_cast<int64_t>(target.size()) - 1;
  int64_t chunk_base_stride = shape.empty() ? 1 : layout.strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    tensor_numel *= shape[d];
    if (d == 0 ||
        (shape[d - 1] != 1 && layout.strides[d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || target[view_d] == 1)) {
        strides[view_d] = view_numel * chunk_base_stride;
        view_numel *= target[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return false;
      if (d > 0) {
        chunk_base_stride = layout.strides[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  return view_d == -1;
}

ViewLayout narrowed(ViewLayout l, int64_t dim, int64_t start, int64_t length) {
  l.offset += start * l.strides[dim];
  l.shape[dim] = length;
  return l;
}

}  // namespace

void detail::rebase_view_history(const Tensor& view, const Tensor& result) {
  TensorImpl& v = *view.impl();
  Tensor base(v.base);
  const Shape base_shape = base.shape();
  const ViewLayout region =
      layout_of(view);  // the base is its whole storage: storage = base layout
  // base_new = base_old with the region replaced by result: the region's gradient goes to
  // result (whose history reaches base_old through the view's old node), the rest to base_old.
  auto copy_slices = [region](const auto& g) {
    using T = typename std::decay_t<decltype(g)>::value_type;
    ArrayOf<T> rest = g;
    ArrayOf<T> zeros = xt::zeros<T>(detail::to_xshape(region.shape));
    detail::write_strided(zeros.data(), region.shape, region.strides, region.offset, rest.data());
    ArrayOf<T> part = ArrayOf<T>::from_shape(detail::to_xshape(region.shape));
    detail::gather_strided(g.data(), region.shape, region.strides, region.offset, part.data());
    return gradients(std::move(rest), std::move(part));
  };
  if (base.dtype() == kFloat64)
    attach_grad_fn_of<double>(base, "copy_slices", {base, result}, copy_slices);
  else
    attach_grad_fn(base, "copy_slices", {base, result}, copy_slices);
  v.history_version = v.storage->version.load(std::memory_order_relaxed);
  attach_view_backward(view, "as_strided", base, region, base_shape);
}

void detail::refresh_view_history(const Tensor& view) {
  TensorImpl& v = *view.impl();
  const uint64_t now = v.storage->version.load(std::memory_order_relaxed);
  if (v.history_version == now) return;
  const Tensor base(v.base);
  // Remade only while recording: a view used under NoGradGuard is remade at its next use
  // with grad. (Not thread-safe for one stale view used by two threads at once.)
  if (!is_grad_enabled() || !base.requires_grad()) return;
  EMBER_CHECK(!v.made_in_no_grad, "a view (shape ", shape_str(view.shape()), ") was created in ",
              "no_grad mode and its base or another view of its base has been modified inplace ",
              "since (base shape ", shape_str(base.shape()),
              "); it is used with grad mode enabled. ",
              "Given that this use case is ambiguous and error-prone, it is forbidden: make the ",
              "view and the inplace either both under NoGradGuard or both outside it");
  v.history_version = now;
  attach_view_backward(view, "as_strided", base, layout_of(view), base.shape());
}

Tensor Tensor::view(const Shape& requested) const {
  Shape target = detail::infer_shape(requested, numel(), shape(), "view");
  Shape strides;
  EMBER_CHECK_SHAPE(view_strides(layout_of(*this), target, strides), "view: size ",
                    shape_str(target), " is not compatible with input of shape ",
                    shape_str(shape()), " and strides ", shape_str(this->strides()),
                    " (at least one dimension spans two contiguous subspaces); use reshape()");
  return make_view(*this, "view", [target](const ViewLayout& l) {
    Shape s;
    view_strides(l, target, s);
    return ViewLayout{target, s, l.offset};
  });
}

Tensor Tensor::reshape(const Shape& requested) const {
  Shape target = detail::infer_shape(requested, numel(), shape(), "reshape");
  Shape strides;
  if (view_strides(layout_of(*this), target, strides)) return view(target);
  return contiguous().view(target);
}

Tensor Tensor::flatten(int64_t start_dim, int64_t end_dim) const {
  int64_t rank = std::max<int64_t>(dim(), 1);
  start_dim = detail::wrap_dim(start_dim, rank, "flatten");
  end_dim = detail::wrap_dim(end_dim, rank, "flatten");
  EMBER_CHECK_INDEX(start_dim <= end_dim, "flatten: start_dim ", start_dim, " is after end_dim ",
                    end_dim);
  Shape s = shape(), out;
  if (s.empty()) return reshape({1});
  for (int64_t i = 0; i < start_dim; ++i) out.push_back(s[i]);
  int64_t merged = 1;
  for (int64_t i = start_dim; i <= end_dim; ++i) merged *= s[i];
  out.push_back(merged);
  for (int64_t i = end_dim + 1; i < static_cast<int64_t>(s.size()); ++i) out.push_back(s[i]);
  return reshape(out);
}

Tensor Tensor::permute(const Shape& dims) const {
  int64_t rank = dim();
  EMBER_CHECK_SHAPE(static_cast<int64_t>(dims.size()) == rank, "permute: ", dims.size(),
                    " dims given for a tensor of ", rank, " dims");
  Shape perm(dims.size());
  std::vector<bool> seen(dims.size(), false);
  for (size_t i = 0; i < dims.size(); ++i) {
    int64_t d = detail::wrap_dim(dims[i], rank, "permute");
    EMBER_CHECK_INDEX(!seen[d], "permute: dim ", dims[i], " repeated in ", shape_str(dims));
    seen[d] = true;
    perm[i] = d;
  }
  return make_view(*this, "permute", [perm](const ViewLayout& l) {
    ViewLayout out{Shape(perm.size()), Shape(perm.size()), l.offset};
    for (size_t i = 0; i < perm.size(); ++i) {
      out.shape[i] = l.shape[perm[i]];
      out.strides[i] = l.strides[perm[i]];
    }
    return out;
  });
}

Tensor Tensor::transpose(int64_t dim0, int64_t dim1) const {
  int64_t rank = dim();
  if (rank == 0) {  // PyTorch allows transpose(0, 0) and (-1, -1) on a 0-d tensor
    detail::wrap_dim(dim0, rank, "transpose");
    detail::wrap_dim(dim1, rank, "transpose");
    return view({});
  }
  dim0 = detail::wrap_dim(dim0, rank, "transpose");
  dim1 = detail::wrap_dim(dim1, rank, "transpose");
  Shape perm(static_cast<size_t>(rank));
  std::iota(perm.begin(), perm.end(), 0);
  std::swap(perm[dim0], perm[dim1]);
  return permute(perm);
}

Tensor Tensor::t() const {
  EMBER_CHECK_SHAPE(dim() <= 2, "t: expects a tensor with <= 2 dims, got ", dim(), " (shape ",
                    shape_str(shape()), "); use transpose(dim0, dim1)");
  return dim() < 2 ? view(shape()) : transpose(0, 1);
}

Tensor Tensor::expand(const Shape& sizes) const {
  Shape from = shape();
  EMBER_CHECK_SHAPE(sizes.size() >= from.size(), "expand: the number of sizes provided (",
                    sizes.size(), ") must be greater or equal to the number of dimensions in the ",
                    "tensor (", from.size(), ")");
  const size_t lead = sizes.size() - from.size();
  Shape target = sizes;
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (i < lead) {
      EMBER_CHECK_SHAPE(sizes[i] >= 0, "expand: size ", sizes[i], " not allowed for the new ",
                        "leading dimension ", i, " of ", shape_str(sizes));
      continue;
    }
    int64_t have = from[i - lead];
    if (sizes[i] == -1) target[i] = have;
    EMBER_CHECK_SHAPE(target[i] >= 0, "expand: invalid size ", sizes[i], " at dim ", i, " of ",
                      shape_str(sizes), " (shape ", shape_str(from), "); only -1, which keeps ",
                      "the size, may be negative");
    EMBER_CHECK_SHAPE(target[i] == have || have == 1, "expand: the expanded size ", sizes[i],
                      " must match the existing size ", have, " at non-singleton dimension ", i,
                      " (shape ", shape_str(from), " to ", shape_str(sizes), ")");
  }
  detail::checked_numel(target, "expand");  // a view allocates nothing, but numel must fit
  return make_view(*this, "expand", [target, lead](const ViewLayout& l) {
    ViewLayout out{target, Shape(target.size(), 0), l.offset};
    for (size_t i = lead; i < target.size(); ++i)
      out.strides[i] = l.shape[i - lead] == target[i] ? l.strides[i - lead] : 0;
    return out;
  });
}

Tensor Tensor::narrow(int64_t d, int64_t start, int64_t length) const {
  EMBER_CHECK_INDEX(dim() > 0, "narrow: cannot be applied to a 0-dim tensor");
  d = detail::wrap_dim(d, dim(), "narrow");
  const int64_t size = shape()[d];
  if (start < 0 && start >= -size) start += size;
  EMBER_CHECK_INDEX(start >= 0 && start <= size, "narrow: start ", start,
                    " out of range for dimension ", d, " of size ", size);
  EMBER_CHECK_INDEX(length >= 0 && length <= size - start, "narrow: start (", start, ") + length (",
                    length, ") exceeds dimension size (", size, ") of dim ", d);
  return make_view(*this, "narrow",
                   [=](const ViewLayout& l) { return narrowed(l, d, start, length); });
}

Tensor Tensor::select(int64_t d, int64_t index) const {
  EMBER_CHECK_INDEX(dim() > 0, "select: cannot be applied to a 0-dim tensor");
  d = detail::wrap_dim(d, dim(), "select");
  const int64_t size = shape()[d];
  EMBER_CHECK_INDEX(index >= -size && index < size, "select: index ", index,
                    " out of range for dimension ", d, " of size ", size);
  if (index < 0) index += size;
  return make_view(*this, "select", [=](const ViewLayout& l) {
    ViewLayout out = narrowed(l, d, index, 1);
    out.shape.erase(out.shape.begin() + d);
    out.strides.erase(out.strides.begin() + d);
    return out;
  });
}

Tensor Tensor::slice(int64_t d, int64_t start, int64_t end, int64_t step) const {
  EMBER_CHECK_INDEX(dim() > 0, "slice: cannot be applied to a 0-dim tensor");
  d = detail::wrap_dim(d, dim(), "slice");
  EMBER_CHECK_VALUE(step > 0, "slice: step must be positive, got ", step);
  const int64_t size = shape()[d];
  auto clip = [size](int64_t i) {  // Python's slice rule: negative counts from the end, clamp
    if (i < 0) i += size;
    return std::min(std::max<int64_t>(i, 0), size);
  };
  start = clip(start);
  end = std::max(clip(end), start);
  const int64_t length = end == start ? 0 : (end - start - 1) / step + 1;  // no overflow
  return make_view(*this, "slice", [=](const ViewLayout& l) {
    ViewLayout out = narrowed(l, d, start, length);
    // With one element the stride is never used, and stride * step may not fit (step is huge).
    if (length > 1) out.strides[d] *= step;
    return out;
  });
}

std::vector<Tensor> Tensor::split(int64_t split_size, int64_t d) const {
  EMBER_CHECK_INDEX(dim() > 0, "split: cannot be applied to a 0-dim tensor");
  d = detail::wrap_dim(d, dim(), "split");
  const int64_t size = shape()[d];
  EMBER_CHECK_VALUE(split_size > 0 || (split_size == 0 && size == 0), "split: split_size ",
                    split_size, " must be positive for a dimension of size ", size);
  std::vector<Tensor> parts;
  for (int64_t start = 0; start < size || parts.empty(); start += split_size)
    parts.push_back(narrow(d, start, std::min(split_size, size - start)));
  return parts;
}

std::vector<Tensor> Tensor::split(const Shape& sizes, int64_t d) const {
  EMBER_CHECK_INDEX(dim() > 0, "split: cannot be applied to a 0-dim tensor");
  d = detail::wrap_dim(d, dim(), "split");
  const int64_t size = shape()[d];
  int64_t total = 0;
  for (int64_t s : sizes) {
    EMBER_CHECK_VALUE(s >= 0, "split: sizes ", shape_str(sizes), " contain a negative size");
    total += s;
  }
  EMBER_CHECK_VALUE(total == size, "split: sizes ", shape_str(sizes), " sum to ", total,
                    " but dimension ", d, " has size ", size);
  std::vector<Tensor> parts;
  int64_t start = 0;
  for (int64_t s : sizes) {
    parts.push_back(narrow(d, start, s));
    start += s;
  }
  return parts;
}

std::vector<Tensor> Tensor::chunk(int64_t chunks, int64_t d) const {
  EMBER_CHECK_VALUE(chunks > 0, "chunk: number of chunks must be positive, got ", chunks);
  EMBER_CHECK_INDEX(dim() > 0, "chunk: cannot be applied to a 0-dim tensor");
  const int64_t size = shape()[detail::wrap_dim(d, dim(), "chunk")];
  return split(std::max<int64_t>((size + chunks - 1) / chunks, size == 0 ? 0 : 1), d);
}

std::vector<Tensor> Tensor::unbind(int64_t d) const {
  EMBER_CHECK_INDEX(dim() > 0, "unbind: cannot be applied to a 0-dim tensor");
  d = detail::wrap_dim(d, dim(), "unbind");
  std::vector<Tensor> parts;
  for (int64_t i = 0; i < shape()[d]; ++i) parts.push_back(select(d, i));
  return parts;
}

Tensor Tensor::unsqueeze(int64_t d) const {
  d = detail::wrap_dim(d, dim() + 1, "unsqueeze");
  return make_view(*this, "unsqueeze", [d](ViewLayout l) {
    int64_t stride = d < static_cast<int64_t>(l.shape.size()) ? l.shape[d] * l.strides[d] : 1;
    l.shape.insert(l.shape.begin() + d, 1);
    l.strides.insert(l.strides.begin() + d, stride);
    return l;
  });
}

Tensor Tensor::squeeze() const {
  return make_view(*this, "squeeze", [](const ViewLayout& l) {
    ViewLayout out{{}, {}, l.offset};
    for (size_t i = 0; i < l.shape.size(); ++i) {
      if (l.shape[i] == 1) continue;
      out.shape.push_back(l.shape[i]);
      out.strides.push_back(l.strides[i]);
    }
    return out;
  });
}

Tensor Tensor::squeeze(int64_t d) const {
  d = detail::wrap_dim(d, dim(), "squeeze");
  return make_view(*this, "squeeze", [d](ViewLayout l) {
    if (!l.shape.empty() && l.shape[d] == 1) {
      l.shape.erase(l.shape.begin() + d);
      l.strides.erase(l.strides.begin() + d);
    }
    return l;
  });
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  if (dtype() != kFloat32) return detail::copy_as(*this, dtype(), "contiguous");
  return make_output(detail::pack(*this), "contiguous", {*this},
                     [](const Array& g) { return gradients(g); });
}

}  // namespace ember
