// In-place ops. Each computes its result with the out-of-place op (so its backward is that op's,
// recorded on the tape when grad is needed), writes it into this tensor's storage through the
// tensor's strides, bumps the storage's version and, when recording, makes the op's node this
// tensor's grad_fn: PyTorch's semantics for `x.mul_(y)`. On a view, the view's base gets a
// node that splices the result into its old values (PyTorch's CopySlices, src/views.cpp).
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
  for (size_t d = 0; d < impl.view->shape.size(); ++d)
    EMBER_CHECK(impl.view->strides[d] != 0 || impl.view->shape[d] <= 1, op,
                ": more than one element of the written-to tensor refers to a single memory ",
                "location (an expanded view, shape ", detail::shape_str(self.shape()),
                "); clone it first");
}

// `compute` gets the tensor's current values (a clone when the op's backward needs the old
// values, so the write below cannot change what it saved) and returns the new ones.
template <class Compute>
const Tensor& apply_inplace(const Tensor& self, const char* op, TensorList others, bool saves_self,
                            Compute compute) {
  const bool recording = is_grad_enabled() && (self.requires_grad() || needs_grad(others));
  if (recording) {
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
  TensorImpl& impl = *self.impl();
  const Array& values = std::as_const(result).data();  // result may be a view (copy_)
  if (impl.view) {
    detail::write_strided(values.data(), impl.view->shape, impl.view->strides, impl.view->offset,
                          impl.storage->values.data());
  } else {
    std::copy(values.begin(), values.end(), impl.storage->values.begin());
  }
  self.bump_version();
  if (recording && impl.base) {
    detail::rebase_view_history(self, result);
  } else if (recording) {
    impl.grad_fn = result.grad_fn();
    impl.requires_grad = true;
  }
  return self;
}

// The result of fill_/zero_/copy_: the overwritten values get a zero gradient, as in PyTorch.
Tensor overwrite(const Tensor& self, Array values, const char* op, const Tensor& src) {
  const bool has_src = src.defined();
  Shape src_shape = has_src ? src.shape() : Shape{};
  return make_output(std::move(values), op, {self, src}, [has_src, src_shape](const Array& g) {
    return gradients(Array(xt::zeros<float>(g.shape())),
                     has_src ? Gradient(sum_to(g, src_shape)) : Gradient());
  });
}

Array broadcast_to(const Tensor& src, const Shape& shape, const char* op) {
  detail::broadcast_shapes(shape, src.shape(), op);
  Array out = xt::broadcast(src.data(), detail::to_xshape(shape));
  return out;
}

}  // namespace

const Tensor& Tensor::add_(const Tensor& other, float alpha) const {
  return apply_inplace(*this, "add_", {other}, false, [&](const Tensor& self) {
    return alpha == 1.0f ? ember::add(self, other) : ember::add(self, ember::mul(other, alpha));
  });
}
const Tensor& Tensor::add_(float value) const {
  return apply_inplace(*this, "add_", {}, false,
                       [&](const Tensor& self) { return ember::add(self, value); });
}
const Tensor& Tensor::sub_(const Tensor& other, float alpha) const { return add_(other, -alpha); }
const Tensor& Tensor::sub_(float value) const { return add_(-value); }
const Tensor& Tensor::mul_(const Tensor& other) const {
  return apply_inplace(*this, "mul_", {other}, other.requires_grad(),
                       [&](const Tensor& self) { return ember::mul(self, other); });
}
const Tensor& Tensor::mul_(float value) const {
  return apply_inplace(*this, "mul_", {}, false,
                       [&](const Tensor& self) { return ember::mul(self, value); });
}
const Tensor& Tensor::div_(const Tensor& other) const {
  return apply_inplace(*this, "div_", {other}, other.requires_grad(),
                       [&](const Tensor& self) { return ember::div(self, other); });
}
const Tensor& Tensor::div_(float value) const { return mul_(1.0f / value); }
const Tensor& Tensor::zero_() const { return fill_(0.0f); }
const Tensor& Tensor::fill_(float value) const {
  return apply_inplace(*this, "fill_", {}, false, [&](const Tensor& self) {
    return overwrite(self, Array(detail::to_xshape(self.shape()), value), "fill_", Tensor());
  });
}
const Tensor& Tensor::copy_(const Tensor& src) const {
  return apply_inplace(*this, "copy_", {src}, false, [&](const Tensor& self) {
    return overwrite(self, broadcast_to(src, self.shape(), "copy_"), "copy_", src);
  });
}
const Tensor& Tensor::clamp_(float min, float max) const {
  return apply_inplace(*this, "clamp_", {}, true,
                       [&](const Tensor& self) { return ember::clamp(self, min, max); });
}
const Tensor& Tensor::masked_fill_(const Tensor& mask, float value) const {
  return apply_inplace(*this, "masked_fill_", {}, false,
                       [&](const Tensor& self) { return ember::masked_fill(self, mask, value); });
}

}  // namespace ember
