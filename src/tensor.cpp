// Tensor handle: inspection, storage and version access, autograd accessors. (Reading it as
// an array is src/dense.cpp; what backward keeps of it, src/saved_values.cpp.)
#include "ember/tensor.hpp"

#include <mutex>
#include <numeric>
#include <optional>
#include <utility>
#include <xtensor/xmanipulation.hpp>

#include "dense.hpp"
#include "ember/autograd.hpp"
#include "ops/kernels.hpp"
#include "ops/op_helpers.hpp"

namespace ember {

namespace detail {

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ",";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

int64_t wrap_dim(int64_t dim, int64_t rank, const char* op) {
  int64_t lo = rank == 0 ? -1 : -rank;
  int64_t hi = rank == 0 ? 0 : rank - 1;
  EMBER_CHECK_INDEX(dim >= lo && dim <= hi, op, ": dim ", dim, " out of range for a tensor of ",
                    rank, " dims (expected in [", lo, ", ", hi, "])");
  return dim < 0 ? dim + std::max<int64_t>(rank, 1) : dim;
}

Shape to_shape(const Array& a) { return Shape(a.shape().begin(), a.shape().end()); }

Shape contiguous_strides(const Shape& shape) {
  Shape strides(shape.size());
  int64_t stride = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = stride;
    stride *= shape[i];
  }
  return strides;
}

int64_t checked_numel(const Shape& shape, const char* op, int64_t element_size) {
  // `reach` counts a size 0 as 1: strides are products of the trailing sizes, and xtensor
  // computes them for an empty shape too ([0, 2^62, 2^62] has no elements but a stride 2^124).
  int64_t numel = 1, reach = element_size;
  for (int64_t d : shape) {
    EMBER_CHECK_SHAPE(d >= 0, op, ": negative size ", d, " in shape ", shape_str(shape));
    EMBER_CHECK_SHAPE(!__builtin_mul_overflow(reach, std::max<int64_t>(d, 1), &reach), op,
                      ": shape ", shape_str(shape), " is too large: its ",
                      element_size == 1 ? "element count" : "size in bytes", " overflows int64");
    numel *= d;  // at most reach / element_size: no overflow
  }
  return numel;
}

const Array::shape_type& checked_alloc(const Array::shape_type& shape, const char* op) {
  Shape s;
  for (size_t d : shape) s.push_back(d > size_t(INT64_MAX) ? -1 : static_cast<int64_t>(d));
  checked_numel(s, op, sizeof(float));
  return shape;
}

std::vector<size_t> to_xshape(const Shape& shape, const char* op) {
  checked_numel(shape, op, sizeof(float));
  return std::vector<size_t>(shape.begin(), shape.end());
}

}  // namespace detail

namespace {
// The row-major layout of `shape`, from offset 0.
template <class S>
Layout contiguous_layout(const S& shape) {
  Layout l;
  l.shape.assign(shape.begin(), shape.end());
  l.strides.resize(l.shape.size());
  int64_t stride = 1;
  for (size_t i = l.shape.size(); i-- > 0;) {
    l.strides[i] = stride;
    stride *= l.shape[i];
  }
  return l;
}
}  // namespace

Tensor::Tensor(Array data, bool requires_grad) : impl_(std::make_shared<TensorImpl>()) {
  impl_->layout = contiguous_layout(data.shape());
  impl_->storage = std::make_shared<Storage>(std::move(data));
  impl_->requires_grad = requires_grad;
}

Tensor::Tensor(std::shared_ptr<Storage> storage, const Shape& shape, bool requires_grad)
    : impl_(std::make_shared<TensorImpl>()) {
  EMBER_CHECK_SHAPE(detail::checked_numel(shape, "tensor") == storage->numel(), "tensor: shape ",
                    detail::shape_str(shape), " does not fit a storage of ", storage->numel(),
                    " elements");
  impl_->layout = contiguous_layout(shape);
  impl_->storage = std::move(storage);
  impl_->requires_grad = requires_grad;
}

const TensorImpl& Tensor::checked() const {
  EMBER_CHECK(impl_ != nullptr, "tensor: use of an undefined Tensor");
  return *impl_;
}

Dtype Tensor::dtype() const { return checked().storage->dtype(); }

Shape Tensor::shape() const {
  const Dims& shape = checked().layout.shape;
  return Shape(shape.begin(), shape.end());
}
int64_t Tensor::dim() const { return static_cast<int64_t>(checked().layout.shape.size()); }
int64_t Tensor::numel() const {
  const Dims& shape = checked().layout.shape;
  return std::accumulate(shape.begin(), shape.end(), int64_t{1}, std::multiplies<>());
}
int64_t Tensor::size(int64_t d) const {
  EMBER_CHECK_INDEX(dim() > 0, "size: dimension specified as ", d,
                    " but the tensor has no dimensions (a 0-dim tensor)");
  d = detail::wrap_dim(d, dim(), "size");
  return shape()[static_cast<size_t>(d)];
}

float Tensor::item() const { return static_cast<float>(item_double()); }

std::vector<float> Tensor::to_vector() const {
  const TensorImpl& impl = checked();
  if (impl.storage->dtype() != kFloat32) return to(kFloat32).to_vector();
  const float* base = impl.storage->data();
  if (!impl.view) return std::vector<float>(base, base + numel());
  std::vector<float> out(static_cast<size_t>(numel()));  // a view gathered straight in
  const ViewLayout layout = detail::layout_of(*this);
  detail::gather_strided(base, layout.shape, layout.strides, layout.offset, out.data());
  return out;
}

namespace detail {
ArrayViewShape adaptor_shape(const TensorImpl& impl) {
  return ArrayViewShape(impl.layout.shape.begin(), impl.layout.shape.end());
}
xt::svector<std::ptrdiff_t, 4> adaptor_strides(const TensorImpl& impl) {
  xt::svector<std::ptrdiff_t, 4> strides(impl.layout.strides.begin(), impl.layout.strides.end());
  // xtensor reads a stride of a size-1 dim as 0 (its broadcasting convention).
  for (size_t d = 0; d < strides.size(); ++d)
    if (impl.layout.shape[d] == 1) strides[d] = 0;
  return strides;
}
}  // namespace detail

ConstArrayView Tensor::data() const& {
  const TensorImpl& impl = checked();
  using Buffer = ConstArrayView::storage_type;
  // xtensor sizes the buffer by the shape (its size() is the element count), however strided.
  return ConstArrayView(Buffer(data_ptr(), static_cast<size_t>(numel())),
                        detail::adaptor_shape(impl), detail::adaptor_strides(impl));
}

ArrayView Tensor::data() & {
  TensorImpl& impl = const_cast<TensorImpl&>(checked());
  using Buffer = ArrayView::storage_type;
  return ArrayView(Buffer(const_cast<float*>(data_ptr()), size_t(numel())),
                   detail::adaptor_shape(impl), detail::adaptor_strides(impl));
}

Array Tensor::data() && {
  checked();
  return detail::pack(*this);
}

Tensor Tensor::from_doubles(ArrayOf<double>&& data, bool requires_grad) {
  Tensor out(std::make_shared<TensorImpl>());
  out.impl_->layout = contiguous_layout(data.shape());
  out.impl_->storage = std::make_shared<Storage>(std::move(data));
  out.impl_->requires_grad = requires_grad;
  return out;
}

template <class T>
bool ValuesForWriteOf<T>::writable(const Tensor& t) {
  const Shape shape = t.shape(), strides = t.strides();
  for (size_t d = 0; d < shape.size(); ++d)
    if (strides[d] == 0 && shape[d] > 1) return false;
  return true;
}

template <class T>
ValuesForWriteOf<T>::ValuesForWriteOf(const Tensor& t) : tensor_(t), size_(t.numel()) {
  EMBER_CHECK(writable(t), "in-place write: more than one element of the written-to tensor ",
              "refers to a single memory location (an expanded view, shape ",
              detail::shape_str(t.shape()), ", strides ", detail::shape_str(t.strides()),
              "); clone it first");
  T* base = t.impl()->storage->template data_as<T>();
  if (t.is_contiguous()) {
    values_ = base + t.storage_offset();
  } else {
    scratch_.resize(static_cast<size_t>(size_));
    const ViewLayout layout = detail::layout_of(t);
    detail::gather_strided(base, layout.shape, layout.strides, layout.offset, scratch_.data());
    values_ = scratch_.data();
  }
  t.bump_version();  // a saved copy of these values is stale from now on
}

template <class T>
ValuesForWriteOf<T>::~ValuesForWriteOf() {
  if (scratch_.empty()) return;
  const ViewLayout layout = detail::layout_of(tensor_);
  detail::write_strided(scratch_.data(), layout.shape, layout.strides, layout.offset,
                        tensor_.impl()->storage->template data_as<T>());
}

template class ValuesForWriteOf<float>;
template class ValuesForWriteOf<double>;

SavedValues Tensor::storage() const {
  checked();
  return detail::saved<float>(*this);
}

Shape Tensor::strides() const {
  const Dims& strides = checked().layout.strides;
  return Shape(strides.begin(), strides.end());
}
int64_t Tensor::storage_offset() const { return checked().layout.offset; }
bool Tensor::is_contiguous() const {
  const TensorImpl& impl = checked();
  if (!impl.view) return true;
  const Dims& shape = impl.layout.shape;
  int64_t expected = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    if (shape[i] == 1) continue;  // a size-1 dim's stride never matters, as in PyTorch
    if (impl.layout.strides[i] != expected) return false;
    expected *= shape[i];
  }
  return true;
}
bool Tensor::is_view() const { return checked().view; }
const float* Tensor::data_ptr() const {
  const TensorImpl& impl = checked();
  const float* base = impl.storage->data();
  return base ? base + impl.layout.offset : base;  // an empty storage may have no buffer at all
}
uint64_t Tensor::version() const {
  return checked().storage->version.load(std::memory_order_relaxed);
}
void Tensor::bump_version() const {
  checked().storage->version.fetch_add(1, std::memory_order_relaxed);
}

bool Tensor::requires_grad() const {
  if (impl_ && impl_->base) detail::refresh_view_history(*this);
  return checked().requires_grad;
}
Tensor& Tensor::requires_grad_(bool requires_grad) {
  EMBER_CHECK(is_leaf() || requires_grad, "requires_grad_: cannot turn off requires_grad on a ",
              "non-leaf tensor; use detach()");
  EMBER_CHECK_DTYPE(!requires_grad || is_floating_point(), "requires_grad_: only tensors of a ",
                    "floating dtype can require gradients, and this one is ", dtype_name(dtype()));
  impl_->requires_grad = requires_grad;
  return *this;
}
bool Tensor::is_leaf() const { return grad_fn() == nullptr; }
const std::shared_ptr<Node>& Tensor::grad_fn() const {
  if (impl_ && impl_->base) detail::refresh_view_history(*this);
  return checked().grad_fn;
}

Tensor Tensor::grad() const {
  const TensorImpl& impl = checked();
  if (impl.sparse_grad) {
    Tensor dense = impl.sparse_grad->to_dense();
    dense.impl_->densified_from = impl.sparse_grad;
    return dense;
  }
  return impl.grad ? Tensor(impl.grad) : Tensor();
}
bool Tensor::has_grad() const { return checked().grad || checked().sparse_grad; }
bool Tensor::has_sparse_grad() const { return checked().sparse_grad != nullptr; }
RowSparseGrad& Tensor::sparse_grad() const {
  EMBER_CHECK(has_sparse_grad(), "sparse_grad: this tensor has no row-sparse gradient");
  return *impl_->sparse_grad;
}
void Tensor::set_grad(const Tensor& grad) {
  checked();
  if (grad.defined()) {
    EMBER_CHECK_SHAPE(grad.shape() == shape(), "set_grad: gradient shape ",
                      detail::shape_str(grad.shape()), " does not match tensor shape ",
                      detail::shape_str(shape()));
  }
  // Kept whole (never a view): optimizers and backward read and add into its storage.
  impl_->grad = !grad.defined()  ? nullptr
                : grad.is_view() ? Tensor(detail::pack(grad)).impl()
                                 : grad.detach().impl();
  impl_->sparse_grad = nullptr;
}
void Tensor::clear_grad() {
  checked();
  impl_->grad = nullptr;
  impl_->sparse_grad = nullptr;
}

Tensor Tensor::detach() const {
  const TensorImpl& impl = checked();
  Tensor out(std::make_shared<TensorImpl>());
  out.impl_->storage = impl.storage;
  out.impl_->layout = impl.layout;
  out.impl_->view = impl.view;
  return out;
}

Tensor Tensor::clone() const {
  if (dtype() != kFloat32) return detail::copy_as(*this, dtype(), "clone");  // float64 included
  return make_output(detail::pack(*this), "clone", {*this},
                     [](const Array& g) { return gradients(g); });
}

}  // namespace ember
