// Tensor: a cheap handle to values of one dtype (float32 by default) plus what autograd
// needs (requires_grad, grad, the node that made it). A tensor is a view: a shared Storage
// (a byte buffer, its dtype and its version) and one Layout (shape, strides in elements,
// offset; inline) saying where its elements sit in that storage.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>
#include <xtensor/xadapt.hpp>
#include <xtensor/xarray.hpp>

#include "ember/allocator.hpp"
#include "ember/buffer.hpp"
#include "ember/dtype.hpp"
#include "ember/error.hpp"

namespace ember {

// A contiguous row-major array of T: what kernels compute and backward closures exchange. Its
// elements live in a Buffer (ember/buffer.hpp) from Ember's buffer cache, or borrowed from a
// tensor's storage (SavedValues, detail::Dense): a tensor's storage is read as an array
// without a copy, and a new array becomes a tensor's storage without one. Ops compute in the
// two floating dtypes: Array (float32, nearly all code) and ArrayOf<double> (float64).
template <class T>
using ArrayOf =
    xt::xarray_container<Buffer<T>, xt::layout_type::row_major,
                         xt::svector<std::size_t, 4, std::allocator<std::size_t>, true>>;
using Array = ArrayOf<float>;
using Shape = std::vector<int64_t>;

// What Tensor::data() returns: the tensor's elements where they sit in its storage, as an
// xtensor expression of the tensor's shape read through its strides (a view's values are never
// copied). Valid while the storage lives: keep the Tensor (or a copy of the handle) alive.
using ArrayViewShape = xt::svector<size_t, 4>;
using ConstArrayView =
    xt::xarray_adaptor<xt::xbuffer_adaptor<const float*, xt::no_ownership, std::allocator<float>>,
                       xt::layout_type::dynamic, ArrayViewShape>;
using ArrayView = xt::xarray_adaptor<xt::xbuffer_adaptor<float*, xt::no_ownership>,
                                     xt::layout_type::dynamic, ArrayViewShape>;

struct Node;
struct RowSparseGrad;
class Tensor;
class IndexTensor;

namespace detail {
// The number of elements of `shape`, checked wherever a shape becomes a size: throws ShapeError
// naming `op` and the shape for a negative size, or when the count times `element_size` bytes
// does not fit int64 (views pass 1, since they allocate nothing; allocations their element size).
int64_t checked_numel(const Shape& shape, const char* op, int64_t element_size = 1);
// The same for an xtensor shape about to be allocated as floats; returns it unchanged.
const Array::shape_type& checked_alloc(const Array::shape_type& shape, const char* op);
}  // namespace detail

// The buffer a tensor and all its views share: an aligned block of bytes from the buffer cache
// (ember/allocator.hpp), its size, the dtype of its elements, and `version`, which counts
// in-place writes so that a backward that saved these values can tell they changed
// (SavedValues below). It knows nothing of shapes: each tensor's Layout does.
class Storage {
 public:
  // Uninitialised room for `numel` elements of `dtype` (throws for a negative or too large count).
  Storage(int64_t numel, Dtype dtype);
  // Takes over an array's block: no copy (an array that borrows is copied).
  explicit Storage(Array&& values);
  explicit Storage(ArrayOf<double>&& values);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* bytes() const { return bytes_; }
  int64_t nbytes() const { return nbytes_; }
  Dtype dtype() const { return dtype_; }
  int64_t numel() const { return nbytes_ / static_cast<int64_t>(element_size(dtype_)); }
  // The elements as floats, what every float32 kernel reads: throws DtypeError for a storage of
  // another dtype (an op that computes in float32 given a float64, bfloat16 or bool tensor).
  float* data() {
    if (dtype_ != kFloat32) throw_not_float32();
    return static_cast<float*>(bytes_);
  }
  const float* data() const { return const_cast<Storage*>(this)->data(); }
  // The elements as T, which must be this storage's dtype (throws DtypeError otherwise).
  template <class T>
  T* data_as() const {
    if (dtype_ != dtype_of<T>::value) throw_wrong_dtype(dtype_of<T>::value);
    return static_cast<T*>(bytes_);
  }

  std::atomic<uint64_t> version{0};

  // Autocast's bfloat16 copy of a parameter's values and the version it was rounded at, so a
  // training step rounds each weight once (src/ops/autocast_products.cpp). Read and replaced
  // with std::atomic_load / std::atomic_store: two threads may run one model.
  struct RoundedCopy {
    std::shared_ptr<const Storage> values;
    uint64_t version = 0;
  };
  mutable std::shared_ptr<const RoundedCopy> rounded_copy;

 private:
  [[noreturn]] void throw_not_float32() const;
  [[noreturn]] void throw_wrong_dtype(Dtype wanted) const;
  void* bytes_ = nullptr;
  int64_t nbytes_ = 0;
  Dtype dtype_ = kFloat32;
};

// Dims of a layout: inline up to 6, so a tensor's layout costs no heap allocation.
using Dims = xt::svector<int64_t, 6>;

// Where a tensor's elements sit in its storage: element (i0, i1, ...) is at
// offset + i0 * strides[0] + i1 * strides[1] + ..., in elements.
struct Layout {
  Dims shape, strides;
  int64_t offset = 0;
};

// The same as Shape vectors, for the strided helpers (src/strided.cpp) and saved views.
struct ViewLayout {
  Shape shape, strides;
  int64_t offset = 0;
};

// What a Tensor handle points at. Backward closures keep a Storage, never a TensorImpl (which
// holds the node: that would be a cycle).
struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Layout layout;
  // Made by a view op: it shares its storage and may be strided or offset. A tensor that is not
  // a view is contiguous and is its whole storage, the common case every kernel reads directly.
  bool view = false;
  bool requires_grad = false;
  bool retains_grad = false;                   // a non-leaf that keeps its grad (retain_grad())
  std::shared_ptr<TensorImpl> grad;            // dense gradient, created lazily
  std::shared_ptr<RowSparseGrad> sparse_grad;  // row-sparse gradient (Embedding sparse=true)
  std::shared_ptr<Node> grad_fn;               // null for leaves
  std::vector<std::function<Tensor(const Tensor&)>> hooks;  // a leaf's gradient hooks

  // A view's root base: the tensor whose storage it is (never itself a view). An in-place op on
  // the view that records gradients rewrites the base's history too (PyTorch's CopySlices).
  // Null for tensors that are their storage, and for views of a detached view.
  std::shared_ptr<TensorImpl> base;
  // A view's: the storage version its history was made at. An in-place write to the storage
  // since (through the base or another view) may have given the base a new history; the view's
  // is then remade from it when next asked for (PyTorch regenerates it the same way).
  uint64_t history_version = 0;
  // A view made under NoGradGuard (or a view of one): an in-place op on it that records
  // gradients, or its use with grad after its storage was written, is refused as in PyTorch
  // (whether the write should be tracked is ambiguous).
  bool made_in_no_grad = false;
  // grad() of a row-sparse gradient is a dense copy of it, linked here: an in-place op on the
  // copy acts on the row-sparse gradient too, or is refused (src/ops/inplace.cpp).
  std::shared_ptr<RowSparseGrad> densified_from;

  // User-provided, so make_shared does not zero the whole object before constructing it.
  TensorImpl() {}  // NOLINT(modernize-use-equals-default)
  TensorImpl(const TensorImpl&) = delete;
  TensorImpl& operator=(const TensorImpl&) = delete;
};

// An op's input (or output) values kept for its backward: `auto X = x.storage(); ... *X`.
// Reading them checks the storage's version, so a backward whose saved values were changed by
// an in-place op throws (naming the op and both versions) instead of computing a wrong gradient.
// T is the dtype ops compute in: float (SavedValues, x.storage()) or double
// (SavedValuesOf<double>, detail::saved<double>(x) for a float64 tensor).
template <class T>
class SavedValuesOf {
 public:
  SavedValuesOf();
  // A tensor that is its whole storage: *X is an array borrowing the storage (no copy).
  SavedValuesOf(std::shared_ptr<const Storage> storage, const Dims& shape);
  // A view's values: its storage and layout. Forward copies nothing; the first read (in
  // backward) packs the elements into a contiguous array that this object and its copies share.
  SavedValuesOf(std::shared_ptr<const Storage> storage, const ViewLayout& layout);
  // t's values rounded to bfloat16 (a copy of half the bytes), read back widened to float32:
  // the first read packs them into an array this object and its copies share. What autocast
  // keeps of an activation (ember/autocast.hpp). storage_data() throws for it. (float only)
  static SavedValuesOf rounded_to_bfloat16(const Tensor& t);
  SavedValuesOf(const SavedValuesOf& other);
  SavedValuesOf& operator=(const SavedValuesOf& other);
  SavedValuesOf(SavedValuesOf&&) noexcept = default;
  SavedValuesOf& operator=(SavedValuesOf&&) noexcept = default;
  const ArrayOf<T>& operator*() const {
    check();
    return view_ ? packed() : values_;
  }
  const ArrayOf<T>* operator->() const { return &**this; }
  explicit operator bool() const { return storage_ != nullptr; }
  // The storage's first element, version-checked and never packed: for kernels that read a
  // saved view through its layout (matmul's transposed operands).
  const T* storage_data() const {
    check();
    return storage_->template data_as<T>();
  }

 private:
  struct SavedView;
  void check() const {
    if (storage_ && storage_->version.load(std::memory_order_relaxed) != version_) throw_modified();
  }
  [[noreturn]] void throw_modified() const;
  const ArrayOf<T>& packed() const;
  std::shared_ptr<const Storage> storage_;
  std::shared_ptr<SavedView> view_;  // null unless the saved tensor is a view
  ArrayOf<T> values_;                // borrows the storage when it is not
  uint64_t version_ = 0;
};
using SavedValues = SavedValuesOf<float>;
extern template class SavedValuesOf<float>;
extern template class SavedValuesOf<double>;

class Tensor {
 public:
  Tensor() = default;  // undefined: defined() is false
  explicit Tensor(Array data, bool requires_grad = false);
  // A float64 tensor over a double array (no copy). A template so that an xtensor expression
  // still picks the float32 constructor above.
  template <class T, class = std::enable_if_t<std::is_same_v<T, double>>>
  explicit Tensor(ArrayOf<T> data, bool requires_grad = false)
      : Tensor(from_doubles(std::move(data), requires_grad)) {}
  // A tensor that is all of `storage`, contiguous, with `shape` (its element count must match).
  Tensor(std::shared_ptr<Storage> storage, const Shape& shape, bool requires_grad = false);
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  bool defined() const { return impl_ != nullptr; }
  Dtype dtype() const;  // its storage's element type (kFloat32 unless made otherwise)
  bool is_floating_point() const;
  // A copy in `dtype`, contiguous (the tensor itself when it already has that dtype, as
  // PyTorch's). Differentiable between floating dtypes; to(kBool) is not (nonzero is true).
  Tensor to(Dtype dtype) const;
  Shape shape() const;
  int64_t dim() const;
  int64_t numel() const;
  int64_t size(int64_t dim) const;
  float item() const;  // of any dtype, as float (item<double>() keeps a float64 exact)
  // The values in row-major order, as floats, of any dtype (bool as 0/1).
  std::vector<float> to_vector() const;
  // The values where they sit: an xtensor adaptor over the storage with this tensor's shape,
  // strides and offset, never a copy (a view's elements are read through its strides). It is
  // an expression like any xarray: index it, iterate it in row-major order, use it in xtensor
  // math, or assign it to an Array for a contiguous copy. Its .data() is the address of the
  // first element, which is row-major contiguous only when is_contiguous() holds.
  ConstArrayView data() const&;
  // The same, writable: writes go through the strides into the storage (a view's base sees
  // them). It bypasses autograd and the version counter: call bump_version() after writing.
  ArrayView data() &;
  // A temporary's values are a contiguous copy: an adaptor over a storage that dies with the
  // temporary would dangle (`for (float v : (a * b).data())` is safe).
  Array data() &&;
  // The values to keep in a backward closure: `auto X = x.storage(); ... *X`. Reading them in
  // backward throws if an in-place op changed the tensor in between.
  SavedValues storage() const;

  // Views and storage (a view shares its storage; see src/views.cpp).
  Shape strides() const;
  int64_t storage_offset() const;
  bool is_contiguous() const;
  // A strided or offset view, or one over part of its storage (a reshape of a contiguous
  // tensor is not: its layout is its whole storage, read contiguously).
  bool is_view() const;
  const float* data_ptr() const;  // address of the first element in the shared storage
  // The same for a tensor of dtype T (data_ptr<bool>() of a mask): throws DtypeError otherwise.
  template <class T>
  const T* data_ptr() const {
    return checked().storage->template data_as<T>() + checked().layout.offset;
  }
  uint64_t version() const;   // in-place writes to the storage so far
  void bump_version() const;  // after writing through data() yourself

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

  // Gradient hooks and retention (PyTorch's register_hook / retain_grad). A hook sees the
  // gradient flowing into this tensor and may return a replacement (or an undefined Tensor to
  // keep it).
  void register_hook(std::function<Tensor(const Tensor&)> hook) const;
  void retain_grad() const;
  bool retains_grad() const;

  // Shape ops. All but clone() and contiguous() (on a non-contiguous tensor) are views: they
  // share the storage and copy nothing; reshape copies only when the strides do not allow a view.
  Tensor view(const Shape& shape) const;  // throws when the strides do not allow it
  Tensor reshape(const Shape& shape) const;
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;
  Tensor transpose(int64_t dim0, int64_t dim1) const;
  Tensor t() const;  // transpose of a 2-D (or 1-D, unchanged) tensor
  Tensor permute(const Shape& dims) const;
  Tensor expand(const Shape& shape) const;  // -1 keeps a size; new leading dims allowed
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor select(int64_t dim, int64_t index) const;
  Tensor slice(int64_t dim, int64_t start, int64_t end, int64_t step = 1) const;
  std::vector<Tensor> chunk(int64_t chunks, int64_t dim = 0) const;
  std::vector<Tensor> split(int64_t split_size, int64_t dim = 0) const;
  std::vector<Tensor> split(const Shape& split_sizes, int64_t dim = 0) const;
  std::vector<Tensor> unbind(int64_t dim = 0) const;
  Tensor unsqueeze(int64_t dim) const;
  Tensor squeeze() const;
  Tensor squeeze(int64_t dim) const;
  Tensor contiguous() const;
  Tensor clone() const;

  // In-place ops (src/ops/inplace.cpp): each bumps the storage's version and, when it needs
  // grad, records itself on the tape as PyTorch does. `other` broadcasts to this tensor's shape.
  const Tensor& add_(const Tensor& other, double alpha = 1.0) const;
  const Tensor& add_(double value) const;
  const Tensor& sub_(const Tensor& other, double alpha = 1.0) const;
  const Tensor& sub_(double value) const;
  const Tensor& mul_(const Tensor& other) const;
  const Tensor& mul_(double value) const;
  const Tensor& div_(const Tensor& other) const;
  const Tensor& div_(double value) const;
  const Tensor& zero_() const;
  const Tensor& fill_(double value) const;
  const Tensor& copy_(const Tensor& src) const;
  const Tensor& clamp_(double min, double max) const;
  const Tensor& masked_fill_(const Tensor& mask, double value) const;

  const std::shared_ptr<TensorImpl>& impl() const { return impl_; }

  // ---- Member forms of the ops (src/tensor_methods.cpp), as LibTorch's. Each one forwards to
  // the free function of the same name in ops.hpp, the only implementation. ----
  template <class T>
  T item() const {
    return static_cast<T>(item_double());
  }
  Tensor neg() const;
  Tensor exp() const;
  Tensor log() const;
  Tensor log1p() const;
  Tensor sqrt() const;
  Tensor abs() const;
  Tensor sin() const;
  Tensor cos() const;
  Tensor pow(double exponent) const;
  Tensor clamp(double min, double max) const;
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
  Tensor norm(double p = 2.0) const;
  Tensor norm(double p, const Shape& dims, bool keepdim = false) const;
  Tensor logsumexp(const Shape& dims, bool keepdim = false) const;
  Tensor cumsum(int64_t dim) const;
  std::tuple<Tensor, IndexTensor> topk(int64_t k, int64_t dim = -1, bool largest = true) const;
  Tensor matmul(const Tensor& other) const;
  Tensor softmax(int64_t dim) const;
  Tensor log_softmax(int64_t dim) const;
  Tensor masked_fill(const Tensor& mask, double value) const;
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
  double item_double() const;
  static Tensor from_doubles(ArrayOf<double>&& data, bool requires_grad);
  std::shared_ptr<TensorImpl> impl_;
};

// A tensor's values as one writable contiguous buffer, for code that updates values in place
// outside the tape (optimizers, nn::init, load_state_dict, the embedding renorm), so that a
// parameter that is a view is updated like any other. A tensor whose elements are contiguous
// in its storage (every non-view, a narrow along dim 0) is written in place; a strided view is
// gathered into a scratch buffer that the destructor writes back through the view's strides.
// Constructing it counts as one in-place write (the storage's version moves). T is the
// tensor's element type: float (ValuesForWrite) or double for a float64 tensor (DtypeError
// for another).
template <class T>
class ValuesForWriteOf {
 public:
  explicit ValuesForWriteOf(const Tensor& t);
  ~ValuesForWriteOf();
  ValuesForWriteOf(const ValuesForWriteOf&) = delete;
  ValuesForWriteOf& operator=(const ValuesForWriteOf&) = delete;
  T* data() { return values_; }
  int64_t size() const { return size_; }
  T* begin() { return values_; }
  T* end() { return values_ + size_; }
  // False for an expanded view (a stride 0 over a size above 1: one element is several of the
  // view's), which cannot be written element by element; the constructor throws for it.
  static bool writable(const Tensor& t);

 private:
  Tensor tensor_;
  std::vector<T> scratch_;  // empty unless the view is strided
  T* values_ = nullptr;
  int64_t size_ = 0;
};
using ValuesForWrite = ValuesForWriteOf<float>;
extern template class ValuesForWriteOf<float>;
extern template class ValuesForWriteOf<double>;

// Factories. Random ones draw from a per-thread generator seeded by manual_seed.
Tensor tensor(std::vector<float> values, const Shape& shape, bool requires_grad = false);
Tensor tensor(std::vector<float> values, bool requires_grad = false);  // 1-D
Tensor scalar_tensor(double value, bool requires_grad = false);
Tensor zeros(const Shape& shape, bool requires_grad = false);
Tensor ones(const Shape& shape, bool requires_grad = false);
Tensor full(const Shape& shape, double value, bool requires_grad = false);
Tensor randn(const Shape& shape, bool requires_grad = false);
Tensor rand(const Shape& shape, bool requires_grad = false);
// As PyTorch: ceil((end - start) / step) elements, element i being start + i * step computed in
// double and then stored (float32 by default).
Tensor arange(double end);
Tensor arange(double start, double end, double step = 1.0);
Tensor eye(int64_t n);
Tensor zeros_like(const Tensor& t);  // of t's shape and dtype
Tensor ones_like(const Tensor& t);
// The same with a dtype (src/dtype.cpp): zeros({2, 3}, kFloat64), ones({T, T}, kBool).
Tensor zeros(const Shape& shape, Dtype dtype, bool requires_grad = false);
Tensor ones(const Shape& shape, Dtype dtype, bool requires_grad = false);
Tensor full(const Shape& shape, double value, Dtype dtype, bool requires_grad = false);
Tensor scalar_tensor(double value, Dtype dtype, bool requires_grad = false);
Tensor arange(double start, double end, double step, Dtype dtype);
// Values given as doubles, stored in `dtype` (a float64 tensor keeps them exact):
// tensor({0.1, 0.2}, {2}, kFloat64), tensor({1, 0}, {2}, kBool).
Tensor tensor(const std::vector<double>& values, const Shape& shape, Dtype dtype,
              bool requires_grad = false);
void manual_seed(uint64_t seed);
// The generator behind randn/rand/Dropout/shuffles, for code that draws its own numbers.
uint64_t random_u64();

std::ostream& operator<<(std::ostream& out, const Tensor& t);

namespace detail {
// Normalises a possibly negative dim for a tensor of rank `rank`; throws naming `op`.
int64_t wrap_dim(int64_t dim, int64_t rank, const char* op);
Shape to_shape(const Array& a);
Shape contiguous_strides(const Shape& shape);  // row-major strides, in elements
// `shape` for an allocation of floats, checked by checked_numel (errors name `op`).
std::vector<size_t> to_xshape(const Shape& shape, const char* op = "tensor");
// t's elements converted to `to`, in a fresh contiguous storage in row-major order.
std::shared_ptr<Storage> convert_storage(const Tensor& t, Dtype to);
// The same as a tensor; differentiable between floating dtypes (recorded as `op`).
Tensor copy_as(const Tensor& t, Dtype to, const char* op);
// t.storage() for an op computing in T (float for a float32 tensor, double for a float64 one).
template <class T>
SavedValuesOf<T> saved(const Tensor& t);
}  // namespace detail

}  // namespace ember
