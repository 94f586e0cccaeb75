// Tensor handle: inspection, autograd accessors and the shape ops.
#include "ember/tensor.hpp"

#include <malloc.h>

#include <cstdlib>
#include <numeric>
#include <xtensor/xmanipulation.hpp>

#include "ember/autograd.hpp"

namespace ember {

namespace {
// glibc serves large blocks with mmap and hands freed memory back to the kernel, so every op
// result of a few MB pays a page fault per 4 KiB page again (~10 µs each here: a 1 MB add took
// 2.0-2.6 ms instead of 36 µs). Keeping freed blocks in the heap makes the next op reuse them.
// Set EMBER_KEEP_MALLOC=1 to leave the process's malloc settings alone.
const bool malloc_tuned = [] {
  if (std::getenv("EMBER_KEEP_MALLOC")) return false;
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  return true;
}();
}  // namespace

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

std::vector<size_t> to_xshape(const Shape& shape) {
  std::vector<size_t> s;
  s.reserve(shape.size());
  for (int64_t d : shape) {
    EMBER_CHECK_SHAPE(d >= 0, "tensor: negative size ", d, " in shape ", shape_str(shape));
    s.push_back(static_cast<size_t>(d));
  }
  return s;
}

}  // namespace detail

Tensor::Tensor(Array data, bool requires_grad)
    : Tensor(std::make_shared<Array>(std::move(data)), requires_grad) {}

Tensor::Tensor(std::shared_ptr<Array> data, bool requires_grad)
    : impl_(std::make_shared<TensorImpl>()) {
  impl_->data = std::move(data);
  impl_->requires_grad = requires_grad;
}

const TensorImpl& Tensor::checked() const {
  EMBER_CHECK(impl_ != nullptr, "tensor: use of an undefined Tensor");
  return *impl_;
}

Shape Tensor::shape() const { return detail::to_shape(*checked().data); }
int64_t Tensor::dim() const { return static_cast<int64_t>(checked().data->dimension()); }
int64_t Tensor::numel() const { return static_cast<int64_t>(checked().data->size()); }
int64_t Tensor::size(int64_t d) const {
  d = detail::wrap_dim(d, dim(), "size");
  return static_cast<int64_t>(checked().data->shape()[static_cast<size_t>(d)]);
}

float Tensor::item() const {
  EMBER_CHECK_SHAPE(numel() == 1, "item: a Tensor with ", numel(),
                    " elements cannot be converted to a scalar (shape ", detail::shape_str(shape()),
                    "): only a one-element tensor can");
  return *checked().data->data();
}

std::vector<float> Tensor::to_vector() const {
  const Array& a = data();
  return std::vector<float>(a.data(), a.data() + a.size());
}

const Array& Tensor::data() const { return *checked().data; }
Array& Tensor::data() { return *checked().data; }
std::shared_ptr<Array> Tensor::storage() const { return checked().data; }

bool Tensor::requires_grad() const { return checked().requires_grad; }
Tensor& Tensor::requires_grad_(bool requires_grad) {
  EMBER_CHECK(is_leaf() || requires_grad, "requires_grad_: cannot turn off requires_grad on a ",
              "non-leaf tensor; use detach()");
  impl_->requires_grad = requires_grad;
  return *this;
}
bool Tensor::is_leaf() const { return checked().grad_fn == nullptr; }
const std::shared_ptr<Node>& Tensor::grad_fn() const { return checked().grad_fn; }

Tensor Tensor::grad() const {
  const TensorImpl& impl = checked();
  if (impl.sparse_grad) return impl.sparse_grad->to_dense();
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
  impl_->grad = grad.defined() ? grad.impl() : nullptr;
  impl_->sparse_grad = nullptr;
}
void Tensor::clear_grad() {
  checked();
  impl_->grad = nullptr;
  impl_->sparse_grad = nullptr;
}

Tensor Tensor::detach() const { return Tensor(checked().data, false); }

Tensor Tensor::reshape(const Shape& new_shape) const {
  Shape target = new_shape;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < target.size(); ++i) {
    if (target[i] == -1) {
      EMBER_CHECK_SHAPE(infer < 0, "reshape: only one dimension can be -1, got ",
                        detail::shape_str(new_shape));
      infer = static_cast<int64_t>(i);
    } else {
      EMBER_CHECK_SHAPE(target[i] >= 0, "reshape: invalid size ", target[i], " in shape ",
                        detail::shape_str(new_shape));
      known *= target[i];
    }
  }
  if (infer >= 0 && known > 0 && numel() % known == 0) target[infer] = numel() / known;
  int64_t total = std::accumulate(target.begin(), target.end(), int64_t{1}, std::multiplies<>());
  EMBER_CHECK_SHAPE(total == numel() && (infer < 0 || known > 0), "reshape: shape ",
                    detail::shape_str(new_shape), " is invalid for input of size ", numel(),
                    " (shape ", detail::shape_str(shape()), ")");
  Shape old_shape = shape();
  Array out = data();
  out.reshape(detail::to_xshape(target));
  return make_output(std::move(out), "reshape", {*this}, [old_shape](const Array& g) {
    Array r = g;
    r.reshape(detail::to_xshape(old_shape));
    return gradients(std::move(r));
  });
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
  std::vector<size_t> perm(dims.size()), inverse(dims.size());
  std::vector<bool> seen(dims.size(), false);
  for (size_t i = 0; i < dims.size(); ++i) {
    size_t d = static_cast<size_t>(detail::wrap_dim(dims[i], rank, "permute"));
    EMBER_CHECK_INDEX(!seen[d], "permute: dim ", dims[i], " repeated in ", detail::shape_str(dims));
    seen[d] = true;
    perm[i] = d;
    inverse[d] = i;
  }
  Array out = xt::transpose(data(), perm);
  return make_output(std::move(out), "permute", {*this}, [inverse](const Array& g) {
    return gradients(Array(xt::transpose(g, inverse)));
  });
}

Tensor Tensor::transpose(int64_t dim0, int64_t dim1) const {
  int64_t rank = dim();
  dim0 = detail::wrap_dim(dim0, rank, "transpose");
  dim1 = detail::wrap_dim(dim1, rank, "transpose");
  Shape perm(static_cast<size_t>(rank));
  std::iota(perm.begin(), perm.end(), 0);
  std::swap(perm[dim0], perm[dim1]);
  return permute(perm);
}

Tensor Tensor::unsqueeze(int64_t d) const {
  d = detail::wrap_dim(d, dim() + 1, "unsqueeze");
  Shape s = shape();
  s.insert(s.begin() + d, 1);
  return reshape(s);
}

Tensor Tensor::squeeze() const {
  Shape s;
  for (int64_t v : shape())
    if (v != 1) s.push_back(v);
  return reshape(s);
}

Tensor Tensor::squeeze(int64_t d) const {
  d = detail::wrap_dim(d, dim(), "squeeze");
  Shape s = shape();
  if (!s.empty() && s[d] == 1) s.erase(s.begin() + d);
  return reshape(s);
}

Tensor Tensor::clone() const {
  return make_output(Array(data()), "clone", {*this}, [](const Array& g) { return gradients(g); });
}

}  // namespace ember
