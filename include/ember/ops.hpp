// Differentiable ops on Tensors. Binary ops broadcast as NumPy does. Each op's forward and
// backward live side by side in src/ops/<family>.cpp.
#pragma once

#include <string>
#include <tuple>
#include <vector>

#include "ember/index_tensor.hpp"
#include "ember/tensor.hpp"

namespace ember {

// Scalar arguments are doubles, as PyTorch's Scalar: an op converts one to its tensor's dtype,
// so a float64 tensor gets the exact double (`x * 0.1`) and a float32 one the nearest float.

// Elementwise (src/ops/elementwise.cpp).
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, double b);
Tensor mul(const Tensor& a, double b);
Tensor div(const Tensor& a, double b);   // float32: times the float 1/b; float64: a / b
Tensor rsub(double a, const Tensor& b);  // a - b
Tensor rdiv(double a, const Tensor& b);  // a / b
Tensor neg(const Tensor& a);
Tensor pow(const Tensor& a, double exponent);
Tensor exp(const Tensor& a);
Tensor log(const Tensor& a);
Tensor sqrt(const Tensor& a);
Tensor abs(const Tensor& a);
Tensor clamp(const Tensor& a, double min, double max);
Tensor sin(const Tensor& a);
Tensor cos(const Tensor& a);
Tensor log1p(const Tensor& a);
// Elementwise max/min of two broadcast tensors; NaN propagates; ties share the gradient.
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);

Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a);
Tensor operator+(const Tensor& a, double b);
Tensor operator+(double a, const Tensor& b);
Tensor operator-(const Tensor& a, double b);
Tensor operator-(double a, const Tensor& b);
Tensor operator*(const Tensor& a, double b);
Tensor operator*(double a, const Tensor& b);
Tensor operator/(const Tensor& a, double b);
Tensor operator/(double a, const Tensor& b);

// Activations (src/ops/activation.cpp).
Tensor relu(const Tensor& a);
Tensor leaky_relu(const Tensor& a, double negative_slope = 0.01);  // float64 reads it exactly
Tensor sigmoid(const Tensor& a);
Tensor tanh(const Tensor& a);
// approximate: "none" (the exact erf form, PyTorch's default) or "tanh" (PyTorch's
// F.gelu(x, approximate="tanh"), the hub's gelu_new and gelu_pytorch_tanh).
Tensor gelu(const Tensor& a, const std::string& approximate = "none");
Tensor silu(const Tensor& a);
// log(1 + exp(beta x)) / beta, linear where beta x > threshold (as PyTorch).
Tensor softplus(const Tensor& a, double beta = 1.0, double threshold = 20.0);
Tensor softmax(const Tensor& a, int64_t dim);
Tensor log_softmax(const Tensor& a, int64_t dim);

// Matrix products (src/ops/linalg.cpp). matmul as PyTorch's: 1-D operands are a row (left) or
// a column (right), batch dims broadcast ([2,1,M,K] x [3,K,N] -> [2,3,M,N]). bmm: [B,M,K]x[B,K,N].
Tensor matmul(const Tensor& a, const Tensor& b);
Tensor bmm(const Tensor& a, const Tensor& b);
// x [.., in] times weight [out, in] transposed, plus bias [out]: Linear's fused op.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());
// input + mat1 · mat2 for [n, m] x [m, p], as PyTorch's addmm (beta = alpha = 1): a bias row [p]
// is added by the product itself (the hub's Conv1D: addmm(bias, x, W) with W [in, out]); any
// other input broadcasts to [n, p].
Tensor addmm(const Tensor& input, const Tensor& mat1, const Tensor& mat2);

// Reductions (src/ops/reduce.cpp). Negative dims count from the end; on a 0-d tensor dim 0
// (or -1) reduces its one element, as PyTorch. Sums accumulate in double.
Tensor sum(const Tensor& a);
Tensor sum(const Tensor& a, const Shape& dims, bool keepdim = false);
Tensor mean(const Tensor& a);
Tensor mean(const Tensor& a, const Shape& dims, bool keepdim = false);
// max/min of everything: NaN if any element is NaN; tied extrema share the gradient.
Tensor max(const Tensor& a);
Tensor min(const Tensor& a);
// Along one dim: (values, indices), as LibTorch; the first extremum wins, NaN counts as one.
std::tuple<Tensor, IndexTensor> max(const Tensor& a, int64_t dim, bool keepdim = false);
std::tuple<Tensor, IndexTensor> min(const Tensor& a, int64_t dim, bool keepdim = false);
// Values only, over several dims; tied extrema share the gradient evenly (as PyTorch), and a
// NaN extremum gives its gradient to the NaN elements (PyTorch's max(), where its amax gives NaN
// everywhere). Empty dims ({}) reduce every dim, as torch.amax(x, dim=()) in PyTorch 1.13.
Tensor amax(const Tensor& a, const Shape& dims, bool keepdim = false);
Tensor amin(const Tensor& a, const Shape& dims, bool keepdim = false);
IndexTensor argmax(const Tensor& a, int64_t dim, bool keepdim = false);
IndexTensor argmin(const Tensor& a, int64_t dim, bool keepdim = false);
IndexTensor argmax(const Tensor& a);  // index into the flattened tensor
IndexTensor argmin(const Tensor& a);

// Statistics (src/ops/statistics.cpp). `unbiased` divides by n - 1 (Bessel), else by n. Empty
// dims mean every dim, as PyTorch's dim=None. (No var(a, bool) overload: `var(x, {1})` would
// pick it, reading {1} as true.)
Tensor var(const Tensor& a, const Shape& dims = {}, bool unbiased = true, bool keepdim = false);
Tensor std(const Tensor& a, const Shape& dims = {}, bool unbiased = true, bool keepdim = false);
Tensor logsumexp(const Tensor& a, const Shape& dims, bool keepdim = false);
// The p-norm (p > 0, or INFINITY) of everything, or over `dims`.
Tensor norm(const Tensor& a, double p = 2.0);
Tensor norm(const Tensor& a, double p, const Shape& dims, bool keepdim = false);
Tensor cumsum(const Tensor& a, int64_t dim);
// The k largest (or smallest) along dim: (values, indices), sorted.
std::tuple<Tensor, IndexTensor> topk(const Tensor& a, int64_t k, int64_t dim = -1,
                                     bool largest = true);

// Comparisons (src/ops/compare.cpp): broadcasting, a bool result (as PyTorch's), never
// differentiated. A bool operand compares as 0/1. `(a == b).to(kFloat32).mean()` is an accuracy.
// A scalar compares in the tensor's dtype, as PyTorch (float32 `x == 0.1` compares with 0.1f).
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
Tensor eq(const Tensor& a, double b);
Tensor ne(const Tensor& a, double b);
Tensor lt(const Tensor& a, double b);
Tensor le(const Tensor& a, double b);
Tensor gt(const Tensor& a, double b);
Tensor ge(const Tensor& a, double b);
Tensor operator==(const Tensor& a, const Tensor& b);
Tensor operator!=(const Tensor& a, const Tensor& b);
Tensor operator<(const Tensor& a, const Tensor& b);
Tensor operator<=(const Tensor& a, const Tensor& b);
Tensor operator>(const Tensor& a, const Tensor& b);
Tensor operator>=(const Tensor& a, const Tensor& b);
Tensor operator==(const Tensor& a, double b);
Tensor operator!=(const Tensor& a, double b);
Tensor operator<(const Tensor& a, double b);
Tensor operator<=(const Tensor& a, double b);
Tensor operator>(const Tensor& a, double b);
Tensor operator>=(const Tensor& a, double b);
// Logical ops: any nonzero value (NaN too) is true; bool results, broadcasting.
Tensor logical_not(const Tensor& a);
Tensor logical_and(const Tensor& a, const Tensor& b);
Tensor logical_or(const Tensor& a, const Tensor& b);
Tensor logical_xor(const Tensor& a, const Tensor& b);
// Whether any (all) element is nonzero: a bool 0-d tensor, or reduced over dim.
Tensor any(const Tensor& a);
Tensor all(const Tensor& a);
Tensor any(const Tensor& a, int64_t dim, bool keepdim = false);
Tensor all(const Tensor& a, int64_t dim, bool keepdim = false);
// PyTorch's bitwise operators on bool masks (`~mask`, `a & b`); DtypeError for other dtypes.
Tensor operator~(const Tensor& a);
Tensor operator&(const Tensor& a, const Tensor& b);
Tensor operator|(const Tensor& a, const Tensor& b);
Tensor operator^(const Tensor& a, const Tensor& b);
// Whole-tensor equality: same shape, dtype and values (NaN equals nothing, as PyTorch).
bool equal(const Tensor& a, const Tensor& b);

// Indexing and joining (src/ops/indexing.cpp).
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim = 0);
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim = 0);
Tensor index_select(const Tensor& a, int64_t dim, const IndexTensor& index);
Tensor gather(const Tensor& a, int64_t dim, const IndexTensor& index);
// Masks are bool, as PyTorch's (a float mask throws DtypeError: `mask != 0` makes a bool one).
// where: a where mask is true, else b (all three broadcast); gradients flow to a and b.
Tensor where(const Tensor& mask, const Tensor& a, const Tensor& b);
Tensor where(const Tensor& mask, const Tensor& a, double b);  // torch.where(mask, x, 0.)
Tensor where(const Tensor& mask, double a, const Tensor& b);
// a with `value` where mask (broadcastable to a) is true: masked_fill(x, pad, -INFINITY).
Tensor masked_fill(const Tensor& a, const Tensor& mask, double value);

// Scatter and masks (src/ops/scatter.cpp).
// a with alpha * source's slices added at `index` along dim (index 1-D, repeats add up).
Tensor index_add(const Tensor& a, int64_t dim, const IndexTensor& index, const Tensor& source,
                 double alpha = 1.0);
// a with src[i][j] added at [index[i][j]][j] (dim 0), and so on: gather's adjoint.
Tensor scatter_add(const Tensor& a, int64_t dim, const IndexTensor& index, const Tensor& src);
// The upper / lower triangle of the last two dims, from `diagonal` (0 the main diagonal).
Tensor triu(const Tensor& a, int64_t diagonal = 0);
Tensor tril(const Tensor& a, int64_t diagonal = 0);
// index [*] -> [*, num_classes] 0/1 floats (PyTorch gives int64; a float is what a loss or a
// product needs here). num_classes -1 means max(index) + 1.
Tensor one_hot(const IndexTensor& index, int64_t num_classes = -1);

// Conversions (src/index_tensor.cpp): explicit, as DESIGN.md wants. to_index truncates toward
// zero, as PyTorch's .long(), and throws on NaN, Inf or values outside int64.
IndexTensor to_index(const Tensor& a);
Tensor to_float(const IndexTensor& a);

}  // namespace ember
