// In-place ops. Each computes its result with the out-of-place op (so its backward is that op's,
// recorded on the tape when grad is needed), writes it into this tensor's storage through the
// tensor's strides, bumps the storage's version and, when recording, makes the op's node this
// tensor's grad_fn: PyTorch's semantics for `x.mul_(y)`. On a view, the view's base gets a
// node that splices the result into its old values (PyTorch's CopySlices, src/views.cpp).
#include <cmath>

#include "ember/autograd.hpp"
#include "ember/ops.hpp"
#include "op_helpers.hpp"

namespace ember {

namespace {

// An in-place op that records gradients on a view rewrites its base's history, as PyTorch does;
// these are the views where that cannot be done.
void check_view_target(const Tensor& self, const char* op) {
  const TensorImpl& impl = *self.impl();
  EMBER_CHECK(impl.base != nullptr, op, ": an in-place op that needs grad on a view of a ",
              "detached view (shape ", detail::shape_str(self.shape()), ") has no base to update; ",
              "compute the result out of place instead");
  const Tensor base(impl.base);
  EMBER_CHECK(!(base.is_leaf() && base.requires_grad()), op, ": a view of a leaf tensor that ",
              "requires grad is being used in an in-place operation (base shape ",
              detail::shape_str(base.shape()), ", view shape ", detail::shape_str(self.shape()),
              "); do it under NoGradGuard, or on a non-leaf tensor");
  if (!impl.view) return;
  for (size_t d = 0; d < impl.layout.shape.size(); ++d)
    EMBER_CHECK(impl.layout.strides[d] != 0 || impl.layout.shape[d] <= 1, op,
                ": more than one element of the written-to tensor refers to a single memory ",
                "location (an expanded view, shape ", detail::shape_str(self.shape()),
                "); clone it first");
}

// What an in-place op does to a row-sparse gradient whose dense copy (grad()) it writes to. As
// PyTorch's sparse gradients, they take mul_/div_ by a number and zero_; any other write would
// be lost, so it is refused.
struct SparseWrite {
  enum Kind { kRefuse, kScale, kClear } kind = kRefuse;
  float factor = 1.0f;
};

void write_sparse_source(const Tensor& self, const char* op, SparseWrite write) {
  const TensorImpl& impl = *self.impl();
  const bool of_view = impl.base && impl.base->densified_from;
  if (!impl.densified_from && !of_view) return;
  EMBER_CHECK(write.kind != SparseWrite::kRefuse && !of_view, op,
              ": this tensor is the dense copy ", "grad() made of a row-sparse gradient (shape ",
              detail::shape_str(self.shape()),
              ", from Embedding(sparse=true)), so the write would be lost. In place, a row-sparse ",
              "gradient takes only mul_/div_ by a number and zero_ on the whole of grad(); ",
              "otherwise compute the new gradient and give it to set_grad()");
  RowSparseGrad& sparse = *impl.densified_from;
  sparse.dispatch([&](auto real) {
    using T = decltype(real);
    if (write.kind == SparseWrite::kClear) {
      sparse.rows.clear();
      sparse.allocate<T>(0);
    } else {
      sparse.values_of<T>() *= static_cast<T>(write.factor);
    }
  });
}

// `compute` gets the tensor's current values (a clone when the op's backward needs the old
// values, so the write below cannot change what it saved) and returns the new ones.
template <class Compute>
const Tensor& apply_inplace(const Tensor& self, const char* op, TensorList others, bool saves_self,
                            Compute compute, SparseWrite sparse_write = {}) {
  write_sparse_source(self, op, sparse_write);
  // A view's base that needs grad makes the view need it too (PyTorch's requires_grad of a view);
  // checked before the view's own requires_grad(), which would remake its history.
  const std::shared_ptr<TensorImpl>& base = self.impl()->base;
  const bool base_needs_grad = base && Tensor(base).requires_grad();
  const bool recording =
      is_grad_enabled() && (base_needs_grad || needs_grad(others) || self.requires_grad());
  if (recording) {
    EMBER_CHECK(!self.impl()->made_in_no_grad, op, ": a view was created in no_grad mode and is ",
                "being modified inplace with grad mode enabled (view shape ",
                detail::shape_str(self.shape()), "). Given that this use case is ambiguous and ",
                "error-prone, it is forbidden: make the view and the inplace either both under ",
                "NoGradGuard (if the inplace should not be tracked) or both outside it");
    EMBER_CHECK(!(self.is_leaf() && self.requires_grad()), op,
                ": a leaf tensor that requires grad is used in an in-place operation; do it under "
                "NoGradGuard, or on a non-leaf tensor");
    if (self.is_view() || self.impl()->base) check_view_target(self, op);
  }
  Tensor input = recording && saves_self ? self.clone() : self;
  Tensor result;
  if (recording) {
    result = compute(input);
  } else {
    NoGradGuard no_grad;
    result = compute(input);
  }
  EMBER_CHECK_SHAPE(result.shape() == self.shape(), op, ": output with shape ",
                    detail::shape_str(self.shape()), " doesn't match the broadcast shape ",
                    detail::shape_str(result.shape()));
  // A float32 tensor updated by a float64 operand keeps its dtype (PyTorch casts the result
  // back; the conversion is recorded, so the gradient flows through it).
  if (result.dtype() != self.dtype()) result = result.to(self.dtype());
  TensorImpl& impl = *self.impl();
  detail::by_dtype(self, op, [&](auto real) {
    using T = decltype(real);
    // Packed before writing: result may be a view (copy_), even one overlapping self.
    const detail::DenseOf<T> packed(result);
    const ArrayOf<T>& values = *packed;
    T* storage = impl.storage->data_as<T>();
    if (impl.view) {
      const ViewLayout layout = detail::layout_of(self);
      detail::write_strided(values.data(), layout.shape, layout.strides, layout.offset, storage);
    } else {
      std::copy(values.begin(), values.end(), storage);
    }
  });
  self.bump_version();
  if (recording && impl.base) {
    detail::rebase_view_history(self, result);
  } else if (recording) {
    impl.grad_fn = result.grad_fn();
    impl.requires_grad = true;
  }
  return self;
}

// The result of fill_/zero_/copy_ in T: the overwritten values get a zero gradient, as in
// PyTorch. src (copy_'s) has T's dtype.
template <class T>
Tensor overwrite(const Tensor& self, ArrayOf<T> values, const char* op, const Tensor& src) {
  const bool has_src = src.defined();
  Shape src_shape = has_src ? src.shape() : Shape{};
  return make_output(std::move(values), op, {self, src}, [has_src, src_shape](const ArrayOf<T>& g) {
    return gradients(ArrayOf<T>(xt::zeros<T>(g.shape())),
                     has_src ? Gradient(sum_to(g, src_shape)) : Gradient());
  });
}

template <class T>
ArrayOf<T> broadcast_to(const Tensor& src, const Shape& shape, const char* op) {
  detail::broadcast_shapes(shape, src.shape(), op);
  return detail::with_values_of<T>(src, [&](const auto& values) {
    return ArrayOf<T>(xt::broadcast(values, detail::to_xshape(shape)));  // through its strides
  });
}

// fill_ and zero_; fill_(0) on grad() empties a row-sparse gradient, as zero_() of a PyTorch
// sparse tensor.
const Tensor& fill(const Tensor& self, double value, const char* op) {
  const SparseWrite sparse{value == 0.0 ? SparseWrite::kClear : SparseWrite::kRefuse};
  return apply_inplace(
      self, op, {}, false,
      [&](const Tensor& t) {
        return detail::by_dtype(t, op, [&](auto real) {
          using T = decltype(real);
          return overwrite(t, ArrayOf<T>(detail::to_xshape(t.shape()), static_cast<T>(value)), op,
                           Tensor());
        });
      },
      sparse);
}

// self + alpha * other, the value of add_ (and sub_) with an alpha. float32 rounds alpha *
// other first (its bits as ever); float64 rounds once, in an fma, as PyTorch's add kernel does.
Tensor add_scaled(const Tensor& self, const Tensor& other, double alpha) {
  if (alpha == 1.0) return ember::add(self, other);
  if (self.dtype() != kFloat64 && other.dtype() != kFloat64)
    return ember::add(self, ember::mul(other, alpha));
  const auto [x, y] = detail::promoted(self, other);
  const Shape sx = x.shape(), sy = y.shape();
  const auto shape = detail::to_xshape(detail::broadcast_shapes(sx, sy, "add_"));
  ArrayOf<double> out = xt::broadcast(detail::pack<double>(x), shape);
  const ArrayOf<double> scaled = xt::broadcast(detail::pack<double>(y), shape);
  for (size_t i = 0; i < out.size(); ++i)
    out.data()[i] = std::fma(alpha, scaled.data()[i], out.data()[i]);
  return make_output(std::move(out), "add", {x, y}, [sx, sy, alpha](const ArrayOf<double>& g) {
    return gradients(sum_to(g, sx), sum_to(g * alpha, sy));
  });
}

}  // namespace

const Tensor& Tensor::add_(const Tensor& other, double alpha) const {
  return apply_inplace(*this, "add_", {other}, false,
                       [&](const Tensor& self) { return add_scaled(self, other, alpha); });
}
const Tensor& Tensor::add_(double value) const {
  return apply_inplace(*this, "add_", {}, false,
                       [&](const Tensor& self) { return ember::add(self, value); });
}
const Tensor& Tensor::sub_(const Tensor& other, double alpha) const { return add_(other, -alpha); }
const Tensor& Tensor::sub_(double value) const { return add_(-value); }
const Tensor& Tensor::mul_(const Tensor& other) const {
  return apply_inplace(*this, "mul_", {other}, other.requires_grad(),
                       [&](const Tensor& self) { return ember::mul(self, other); });
}
const Tensor& Tensor::mul_(double value) const {
  return apply_inplace(*this, "mul_", {}, false,
                       [&](const Tensor& self) { return ember::mul(self, value); },
                       {SparseWrite::kScale, static_cast<float>(value)});
}
const Tensor& Tensor::div_(const Tensor& other) const {
  return apply_inplace(*this, "div_", {other}, other.requires_grad(),
                       [&](const Tensor& self) { return ember::div(self, other); });
}
const Tensor& Tensor::div_(double value) const {
  return apply_inplace(*this, "div_", {}, false,
                       [&](const Tensor& self) { return ember::div(self, value); },
                       {SparseWrite::kScale, 1.0f / static_cast<float>(value)});
}
const Tensor& Tensor::zero_() const { return fill(*this, 0.0f, "zero_"); }
const Tensor& Tensor::fill_(double value) const { return fill(*this, value, "fill_"); }
const Tensor& Tensor::copy_(const Tensor& src) const {
  return apply_inplace(*this, "copy_", {src}, false, [&](const Tensor& self) {
    // src in self's dtype (a recorded conversion: its gradient comes back in src's dtype)
    const Tensor from = src.dtype() == self.dtype() ? src : src.to(self.dtype());
    return detail::by_dtype(self, "copy_", [&](auto real) {
      using T = decltype(real);
      return overwrite(self, broadcast_to<T>(from, self.shape(), "copy_"), "copy_", from);
    });
  });
}
const Tensor& Tensor::clamp_(double min, double max) const {
  return apply_inplace(*this, "clamp_", {}, true,
                       [&](const Tensor& self) { return ember::clamp(self, min, max); });
}
const Tensor& Tensor::masked_fill_(const Tensor& mask, double value) const {
  return apply_inplace(*this, "masked_fill_", {}, false,
                       [&](const Tensor& self) { return ember::masked_fill(self, mask, value); });
}

}  // namespace ember
