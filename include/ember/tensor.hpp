// Tensor: a cheap handle to float32 data plus what autograd needs (requires_grad, grad, the
// node that made it). Storage is a contiguous row-major xt::xarray<float>.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <tuple>
#include <vector>
#include <xtensor/xarray.hpp>

#include "ember/error.hpp"

namespace ember {

using Array = xt::xarray<float>;
using Shape = std::vector<int64_t>;

struct Node;
struct RowSparseGrad;
class Tensor;
class IndexTensor;

// What a Tensor handle points at. The data lives behind its own shared_ptr so that a backward
// closure can keep an op's output alive without holding the TensorImpl (which holds the node:
// that would be a cycle).
struct TensorImpl {
  std::shared_ptr<Array> data;
  bool requires_grad = false;
  std::shared_ptr<TensorImpl> grad;            // dense gradient, created lazily
  std::shared_ptr<RowSparseGrad> sparse_grad;  // row-sparse gradient (Embedding sparse=true)
  std::shared_ptr<Node> grad_fn;               // null for leaves
};

class Tensor {
 public:
  Tensor() = default;  // undefined: defined() is false
  explicit Tensor(Array data, bool requires_grad = false);
  explicit Tensor(std::shared_ptr<Array> data, bool requires_grad = false);
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  bool defined() const { return impl_ != nullptr; }
  Shape shape() const;
  int64_t dim() const;
  int64_t numel() const;
  int64_t size(int64_t dim) const;
  float item() const;
  std::vector<float> to_vector() const;
  const Array& data() const;
  // Mutable access is for optimizers and init under NoGradGuard; it bypasses autograd.
  Array& data();
  std::shared_ptr<Array> storage() const;

  // Autograd.
  bool requires_grad() const;
  Tensor& requires_grad_(bool requires_grad = true);
  bool is_leaf() const;
  Tensor grad()
      const;  // dense view of the gradient (a row-sparse one is densified); may be undefined
  bool has_grad() const;  // dense or row-sparse, without densifying
  bool has_sparse_grad() const;
  RowSparseGrad& sparse_grad() const;
  void set_grad(const Tensor& grad);
  void clear_grad();
  Tensor detach() const;
  void backward(bool retain_graph = false) const;
  void backward(const Tensor& grad, bool retain_graph = false) const;
  const std::shared_ptr<Node>& grad_fn() const;

  // Shape ops: each returns a fresh contiguous tensor.
  Tensor reshape(const Shape& shape) const;
  Tensor view(const Shape& shape) const { return reshape(shape); }
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;
  Tensor transpose(int64_t dim0, int64_t dim1) const;
  Tensor permute(const Shape& dims) const;
  Tensor unsqueeze(int64_t dim) const;
  Tensor squeeze() const;
  Tensor squeeze(int64_t dim) const;
  Tensor clone() const;

  const std::shared_ptr<TensorImpl>& impl() const { return impl_; }

  // ---- Member forms of the ops (src/tensor_methods.cpp), as LibTorch's. Each one forwards to
  // the free function of the same name in ops.hpp, the only implementation. ----
  template <class T>
  T item() const {
    return static_cast<T>(item());
  }
  Tensor neg() const;
  Tensor exp() const;
  Tensor log() const;
  Tensor log1p() const;
  Tensor sqrt() const;
  Tensor abs() const;
  Tensor sin() const;
  Tensor cos() const;
  Tensor pow(float exponent) const;
  Tensor clamp(float min, float max) const;
  Tensor relu() const;
  Tensor sigmoid() const;
  Tensor tanh() const;
  Tensor sum() const;
  Tensor sum(const Shape& dims, bool keepdim = false) const;
  Tensor mean() const;
  Tensor mean(const Shape& dims, bool keepdim = false) const;
  Tensor max() const;
  Tensor min() const;
  std::tuple<Tensor, IndexTensor> max(int64_t dim, bool keepdim = false) const;
  std::tuple<Tensor, IndexTensor> min(int64_t dim, bool keepdim = false) const;
  Tensor amax(const Shape& dims, bool keepdim = false) const;
  Tensor amin(const Shape& dims, bool keepdim = false) const;
  IndexTensor argmax() const;
  IndexTensor argmin() const;
  IndexTensor argmax(int64_t dim, bool keepdim = false) const;
  IndexTensor argmin(int64_t dim, bool keepdim = false) const;
  Tensor var(const Shape& dims = {}, bool unbiased = true, bool keepdim = false) const;
  Tensor std(const Shape& dims = {}, bool unbiased = true, bool keepdim = false) const;
  Tensor norm(float p = 2.f) const;
  Tensor norm(float p, const Shape& dims, bool keepdim = false) const;
  Tensor logsumexp(const Shape& dims, bool keepdim = false) const;
  Tensor cumsum(int64_t dim) const;
  std::tuple<Tensor, IndexTensor> topk(int64_t k, int64_t dim = -1, bool largest = true) const;
  Tensor matmul(const Tensor& other) const;
  Tensor softmax(int64_t dim) const;
  Tensor log_softmax(int64_t dim) const;
  Tensor masked_fill(const Tensor& mask, float value) const;
  Tensor index_select(int64_t dim, const IndexTensor& index) const;
  Tensor gather(int64_t dim, const IndexTensor& index) const;
  Tensor triu(int64_t diagonal = 0) const;
  Tensor tril(int64_t diagonal = 0) const;
  Tensor maximum(const Tensor& other) const;
  Tensor minimum(const Tensor& other) const;
  Tensor eq(const Tensor& other) const;
  Tensor ne(const Tensor& other) const;
  Tensor lt(const Tensor& other) const;
  Tensor le(const Tensor& other) const;
  Tensor gt(const Tensor& other) const;
  Tensor ge(const Tensor& other) const;
  bool equal(const Tensor& other) const;
  // ---- end of the member forms ----

 private:
  const TensorImpl& checked() const;
  std::shared_ptr<TensorImpl> impl_;
};

// Factories. Random ones draw from a per-thread generator seeded by manual_seed.
Tensor tensor(std::vector<float> values, const Shape& shape, bool requires_grad = false);
Tensor tensor(std::vector<float> values, bool requires_grad = false);  // 1-D
Tensor scalar_tensor(float value, bool requires_grad = false);
Tensor zeros(const Shape& shape, bool requires_grad = false);
Tensor ones(const Shape& shape, bool requires_grad = false);
Tensor full(const Shape& shape, float value, bool requires_grad = false);
Tensor randn(const Shape& shape, bool requires_grad = false);
Tensor rand(const Shape& shape, bool requires_grad = false);
Tensor arange(float end);
Tensor arange(float start, float end, float step = 1.0f);
Tensor eye(int64_t n);
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
void manual_seed(uint64_t seed);
// The generator behind randn/rand/Dropout/shuffles, for code that draws its own numbers.
uint64_t random_u64();

std::ostream& operator<<(std::ostream& out, const Tensor& t);

namespace detail {
// Normalises a possibly negative dim for a tensor of rank `rank`; throws naming `op`.
int64_t wrap_dim(int64_t dim, int64_t rank, const char* op);
Shape to_shape(const Array& a);
std::vector<size_t> to_xshape(const Shape& shape);
}  // namespace detail

}  // namespace ember
