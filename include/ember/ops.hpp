// Differentiable ops on Tensors. Binary ops broadcast as NumPy does. Each op's forward and
// backward live side by side in src/ops/<family>.cpp.
#pragma once

#include <vector>

#include "ember/index_tensor.hpp"
#include "ember/tensor.hpp"

namespace ember {

// Elementwise (src/ops/elementwise.cpp).
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, float b);
Tensor mul(const Tensor& a, float b);
Tensor rsub(float a, const Tensor& b);  // a - b
Tensor rdiv(float a, const Tensor& b);  // a / b
Tensor neg(const Tensor& a);
Tensor pow(const Tensor& a, float exponent);
Tensor exp(const Tensor& a);
Tensor log(const Tensor& a);
Tensor sqrt(const Tensor& a);
Tensor abs(const Tensor& a);
Tensor clamp(const Tensor& a, float min, float max);

Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a);
Tensor operator+(const Tensor& a, float b);
Tensor operator+(float a, const Tensor& b);
Tensor operator-(const Tensor& a, float b);
Tensor operator-(float a, const Tensor& b);
Tensor operator*(const Tensor& a, float b);
Tensor operator*(float a, const Tensor& b);
Tensor operator/(const Tensor& a, float b);
Tensor operator/(float a, const Tensor& b);

// Activations (src/ops/activation.cpp).
Tensor relu(const Tensor& a);
Tensor leaky_relu(const Tensor& a, float negative_slope = 0.01f);
Tensor sigmoid(const Tensor& a);
Tensor tanh(const Tensor& a);
Tensor gelu(const Tensor& a);  // exact (erf) form, as PyTorch's default
Tensor softmax(const Tensor& a, int64_t dim);
Tensor log_softmax(const Tensor& a, int64_t dim);

// Matrix products (src/ops/linalg.cpp). matmul as PyTorch's: 1-D operands are a row (left) or
// a column (right), batch dims broadcast ([2,1,M,K] x [3,K,N] -> [2,3,M,N]). bmm: [B,M,K]x[B,K,N].
Tensor matmul(const Tensor& a, const Tensor& b);
Tensor bmm(const Tensor& a, const Tensor& b);
// x [.., in] times weight [out, in] transposed, plus bias [out]: Linear's fused op.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

// Reductions (src/ops/reduce.cpp). Negative dims count from the end.
Tensor sum(const Tensor& a);
Tensor sum(const Tensor& a, const Shape& dims, bool keepdim = false);
Tensor mean(const Tensor& a);
Tensor mean(const Tensor& a, const Shape& dims, bool keepdim = false);
Tensor max(const Tensor& a);
Tensor max(const Tensor& a, int64_t dim, bool keepdim = false);
IndexTensor argmax(const Tensor& a, int64_t dim, bool keepdim = false);

// Indexing and joining (src/ops/indexing.cpp).
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim = 0);
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim = 0);
Tensor index_select(const Tensor& a, int64_t dim, const IndexTensor& index);
Tensor gather(const Tensor& a, int64_t dim, const IndexTensor& index);
// mask is a 0/1 float tensor broadcastable to a and b; not differentiated.
Tensor where(const Tensor& mask, const Tensor& a, const Tensor& b);
Tensor masked_fill(const Tensor& a, const Tensor& mask, float value);

}  // namespace ember
