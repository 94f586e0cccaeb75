// Private helpers shared by the op families.
#pragma once

#include <algorithm>
#include <functional>
#include <utility>
#include <vector>

#include "../dense.hpp"
#include "ember/autograd.hpp"
#include "ember/tensor.hpp"

namespace ember::detail {

// Calls f(T{}) with T the element type op computes in for x's dtype: float for float32, double
// for float64 (an op written once for both, `by_dtype(x, "exp", [&](auto real) { using T =
// decltype(real); ... })`). Throws DtypeError naming `op` for a bfloat16 or bool tensor. (The
// public ember::dispatch_floating, by the name Ember's own ops use.)
template <class F>
decltype(auto) by_dtype(const Tensor& x, const char* op, F&& f) {
  return dispatch_floating(x, op, std::forward<F>(f));
}
// An op's floating operands in their common dtype (promote_types: float64 wins over float32,
// a float over bfloat16 and bool), converted where they differ (a recorded, differentiable
// conversion), as PyTorch's binary ops do.
std::pair<Tensor, Tensor> promoted(const Tensor& a, const Tensor& b);

// The NumPy broadcast of two shapes; throws ShapeError naming `op` and both shapes.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

// A tensor seen as [outer, n, inner] around dimension `dim`: the layout every reduction and
// softmax loop walks.
struct DimSplit {
  int64_t outer = 1, n = 1, inner = 1;
};
DimSplit split_at(const Shape& shape, int64_t dim);

// A reduction over some dims seen as a [rows, n] matrix: the kept dims are the rows, the
// reduced dims the columns, each in input order. On a 0-d input any dim names its one element.
struct Reduction {
  Shape in;                  // input shape
  std::vector<size_t> axes;  // reduced dims, sorted
  std::vector<size_t> perm;  // kept dims then reduced dims
  bool in_place = true;      // the reduced dims are already the trailing ones: no copy
  int64_t rows = 1, n = 1;
  Shape out_shape;   // the result's shape (keepdim applied)
  Shape keep_shape;  // the result's shape with keepdim, for broadcasting back
};
// The shape of cat(tensors of `shapes`, dim) and each input's extent along dim (`sizes`); throws
// naming `op` for a 0-d input or shapes that differ outside dim. `dim` comes back wrapped.
struct Joined {
  Shape shape;
  std::vector<int64_t> sizes;
  int64_t dim = 0;
};
Joined join_shapes(const std::vector<Shape>& shapes, int64_t dim, const char* op);

// `dims` empty means every dim. Throws naming `op` for a dim out of range or repeated.
Reduction make_reduction(const Shape& in, const Shape& dims, bool keepdim, const char* op);
// A tensor read as the [rows, n] matrix of a Reduction, where its elements sit in the storage
// (a view through its strides, a contiguous tensor whose reduced dims lead as well): no copy
// of the input is made. row() points into the storage when a row's elements are adjacent there
// (the common case: reducing trailing dims of a contiguous tensor), else gathers that one row
// into the caller's row-sized buffer. Tables of row and element offsets make both cheap.
// T is the element type: float (RowReader) for a float32 tensor, double for a float64 one.
template <class T>
class RowReaderOf {
 public:
  RowReaderOf(const Tensor& t, const Reduction& r);
  // The same over saved values: `base` is the storage's first element (SavedValues::
  // storage_data(), version-checked) and `layout` the tensor's shape, strides and offset.
  RowReaderOf(const T* base, const ViewLayout& layout, const Reduction& r);
  // Rows over the dims before `first_element_dim` and elements over it and the dims after
  // (row-major over each): a [*, n] tensor's rows with first_element_dim = rank - 1.
  RowReaderOf(const Tensor& t, int64_t first_element_dim);
  const T* row(int64_t r, std::vector<T>& scratch) const;
  T at(int64_t r, int64_t k) const { return base_[row_start_[r] + element_[k]]; }
  int64_t rows() const { return static_cast<int64_t>(row_start_.size()); }
  int64_t n() const { return static_cast<int64_t>(element_.size()); }

 private:
  const T* base_;
  std::vector<int64_t> row_start_;  // offset of each row's first element in the storage
  std::vector<int64_t> element_;    // offset of each element from its row's first
  bool adjacent_ = true;            // element_[k] == k
  RowReaderOf(const T* base, const ViewLayout& layout, const std::vector<size_t>& row_dims,
              const std::vector<size_t>& element_dims);
};
using RowReader = RowReaderOf<float>;
extern template class RowReaderOf<float>;
extern template class RowReaderOf<double>;
// A tensor's shape, strides and offset, to keep in a backward closure beside its SavedValues.
ViewLayout layout_of(const Tensor& t);
// The inverse: a [rows, n] gradient back in the input's layout and shape (T float or double).
template <class T>
ArrayOf<T> from_rows(ArrayOf<T> rows, const Reduction& r);

}  // namespace ember::detail

namespace ember::detail {

// Strided walks over a storage: element i of a view (row-major over `shape`) sits at
// base[offset + sum(index[d] * strides[d])].
void gather_strided(const float* base, const Shape& shape, const Shape& strides, int64_t offset,
                    float* out);  // out[i] = view[i]
// The same, calling done(first, count) on each band of `out` as soon as it is written (a strip
// of a transposed view's rows, still in cache; else all of out at the end): an elementwise op
// runs there in place without a second pass over memory.
void gather_strided_then(const float* base, const Shape& shape, const Shape& strides,
                         int64_t offset, float* out, const BandDone& done);
void write_strided(const float* values, const Shape& shape, const Shape& strides, int64_t offset,
                   float* base);  // view[i] = values[i]
void scatter_add_strided(const float* values, const Shape& shape, const Shape& strides,
                         int64_t offset, float* base);  // view[i] += values[i]
// The same walks over float64 elements.
void gather_strided(const double* base, const Shape& shape, const Shape& strides, int64_t offset,
                    double* out);
void write_strided(const double* values, const Shape& shape, const Shape& strides, int64_t offset,
                   double* base);
void scatter_add_strided(const double* values, const Shape& shape, const Shape& strides,
                         int64_t offset, double* base);

// dst[dst_offset + index·dst_strides] = src[src_offset + index·src_strides] for every index of
// `shape`: one strided layout copied into another (a view into its place in cat's result).
void copy_strided(const float* src, const Shape& shape, const Shape& src_strides,
                  int64_t src_offset, float* dst, const Shape& dst_strides, int64_t dst_offset);
void copy_strided(const double* src, const Shape& shape, const Shape& src_strides,
                  int64_t src_offset, double* dst, const Shape& dst_strides, int64_t dst_offset);

// acc[o] += every element of the view that reduces into output o, where out_strides gives each
// input dim's stride in the output (0 for a reduced dim); the walk follows the input's memory.
void sum_strided(const float* base, const Shape& shape, const Shape& strides, int64_t offset,
                 const Shape& out_strides, double* acc);
void sum_strided(const double* base, const Shape& shape, const Shape& strides, int64_t offset,
                 const Shape& out_strides, double* acc);

// After an in-place op wrote `result` into `view` (which has a base, and records gradients):
// the base becomes its old values with the view's region replaced by result (PyTorch's
// CopySlices), and the view becomes a view of that new base (src/views.cpp).
void rebase_view_history(const Tensor& view, const Tensor& result);
// Remakes a view's history from its base's current one when the storage was written in place
// since the view's was made (called by requires_grad() and grad_fn() of a view with a base).
void refresh_view_history(const Tensor& view);

// The target of view/reshape with one -1 inferred; throws ShapeError naming `op` and both shapes
// (also when a size is negative or the element count overflows).
Shape infer_shape(const Shape& requested, int64_t numel, const Shape& from, const char* op);

// Throws naming `op` and `where` at the first NaN or Inf of `a` (anomaly mode).
template <class T>
void check_finite(const ArrayOf<T>& a, const char* op, const char* where);

// The name of the op whose backward is running on this thread (null outside backward).
const char* current_backward_op();

// Whether autocast runs an op on these operands in bfloat16: a Guard is on for this thread and
// no operand is float64 (a float64 tensor is never autocast, as in PyTorch). Undefined tensors
// (no bias) are skipped.
bool autocasts(TensorList operands);
// Whether autocast is on for this thread and its products run on bfloat16 operands
// (autocast::products() is not float32): the fused attention, conv1d and the recurrent layers
// run their bfloat16 kernels then, and their float32 ones on the float32 path.
bool bf16_products_on();
// Whether the fused attention runs its autocast kernel: the bfloat16 products, or on the float32
// path float32's own products with q, k, v and the weights kept for backward in bfloat16 (only
// when a backward will read them: inference runs the float32 kernel).
bool attention_autocasts(TensorList inputs);
// Products (matmul, bmm, linear, conv1d) do not promote, as in PyTorch: throws DtypeError naming
// `op` and both dtypes unless a and b share one. `what` names the pair ("input and weight").
void check_same_dtype(const char* op, const Tensor& a, const Tensor& b,
                      const char* what = "both operands");

// linear's output before the product adds onto it (beta = 1): each of its `rows` rows of `cols`
// a copy of the bias b (b[j * step]). The first row gathered, the others copied from it.
template <class T>
void fill_bias_rows(const T* b, int64_t step, int64_t rows, int64_t cols, T* y) {
  if (rows == 0) return;
  for (int64_t j = 0; j < cols; ++j) y[j] = b[j * step];
  for (int64_t r = 1; r < rows; ++r) std::copy(y, y + cols, y + r * cols);
}

// A bias's gradient into a sink: db = (beta == 0 ? 0 : db) + the column sums of g [rows, cols].
template <class T>
void add_column_sums(const T* g, int64_t rows, int64_t cols, T beta, T* db) {
  if (beta == T(0)) std::fill(db, db + cols, T(0));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < cols; ++j) db[j] += g[r * cols + j];
}

// linear(x, weight, bias) under autocast (src/ops/autocast_products.cpp), weight [out, in]; or
// matmul(x, weight) with weight_in_out (weight [in, out], bias undefined). Shapes checked.
Tensor linear_autocast(const Tensor& x, const Tensor& weight, const Tensor& bias,
                       bool weight_in_out = false);
// Batched matmul under autocast: the batch entry i of each operand starts at `at[i]` in its
// contiguous row-major layout (broadcast entries repeat an offset: `shared`); out_shape is
// [batch..., M, N]. Shapes checked by matmul.
struct BatchEntries {
  std::vector<int64_t> at;
  bool shared = false;
};
Tensor matmul_batched_autocast(const Tensor& a, const Tensor& b, const char* name,
                               const Shape& out_shape, const BatchEntries& ea,
                               const BatchEntries& eb);

// n float32 values rounded to bfloat16, in a block from the buffer cache: what autocast's
// products read (an incoming gradient, a block of a weight).
std::shared_ptr<Storage> rounded(const float* values, int64_t n);

// What an op keeps of an activation for backward: its values as they are (no copy), or under
// autocast a bfloat16 copy, half the bytes (ember/autocast.hpp), read back widened. The copy is
// made only when a backward will read it (keeps_bf16: autocast on, grad mode on, t requires
// grad), so inference under autocast copies nothing.
bool keeps_bf16(const Tensor& t);
SavedValues saved_activation(const Tensor& t);

}  // namespace ember::detail
