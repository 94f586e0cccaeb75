// Private: one sgemm call on raw row-major pointers with explicit leading dimensions, so that
// kernels (attention heads inside a packed projection, im2col columns) read strided operands
// in place: transposes are flags, heads and batches are pointer offsets, beta = 1 accumulates.
#pragma once

#include <cstdint>
#include <xtensor-blas/xblas.hpp>

namespace ember::detail {

// C[m,n] = alpha * op(A)[m,k] * op(B)[k,n] + beta * C with leading dims lda, ldb, ldc.
inline void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                 const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                 int64_t ldc) {
  using Index = xt::blas_index_t;
  if (m == 0 || n == 0) return;
  if (k == 0) {  // BLAS leaves C untouched for k = 0; the product is zero
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) C[i * ldc + j] = beta == 0.f ? 0.f : C[i * ldc + j] * beta;
    return;
  }
  cxxblas::gemm<Index>(cxxblas::StorageOrder::RowMajor,
                       trans_a ? cxxblas::Transpose::Trans : cxxblas::Transpose::NoTrans,
                       trans_b ? cxxblas::Transpose::Trans : cxxblas::Transpose::NoTrans,
                       static_cast<Index>(m), static_cast<Index>(n), static_cast<Index>(k), alpha,
                       A, static_cast<Index>(lda), B, static_cast<Index>(ldb), beta, C,
                       static_cast<Index>(ldc));
}

}  // namespace ember::detail
