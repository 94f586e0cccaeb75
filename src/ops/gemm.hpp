// Private: one sgemm call on raw row-major pointers with explicit leading dimensions, so that
// kernels (attention heads inside a packed projection, im2col columns) read strided operands
// in place: transposes are flags, heads and batches are pointer offsets, beta = 1 accumulates.
#pragma once

#include <cstdint>
#include <xtensor-blas/xblas.hpp>

#ifdef EMBER_HAVE_DNNL
#include <omp.h>
#include <oneapi/dnnl/dnnl.h>

#include "ember/parallel.hpp"
#endif

namespace ember::detail {

// True on the worker threads of a kernel that already splits its work between Ember's
// threads: the gemms it calls then run on one thread each.
inline thread_local bool gemm_single_threaded = false;

struct SingleThreadedGemm {
  bool previous = gemm_single_threaded;
  SingleThreadedGemm() { gemm_single_threaded = true; }
  ~SingleThreadedGemm() { gemm_single_threaded = previous; }
  SingleThreadedGemm(const SingleThreadedGemm&) = delete;
  SingleThreadedGemm& operator=(const SingleThreadedGemm&) = delete;
};

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
#ifdef EMBER_HAVE_DNNL
  // oneDNN's sgemm is JIT-compiled for the CPU it runs on (AVX-512 where there is one), where
  // Debian's OpenBLAS runs AVX2 or, on CPUs it does not know, SSE3 kernels: 1.4-2x the
  // OpenBLAS figures on the shapes of a Transformer layer here (docs/performance.md). It
  // threads with OpenMP, so it is told Ember's thread count on the calling thread.
  const int threads = gemm_single_threaded ? 1 : get_num_threads();
  if (omp_get_max_threads() != threads) omp_set_num_threads(threads);
  if (dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', m, n, k, alpha, A, lda, B, ldb, beta, C,
                 ldc) == dnnl_success)
    return;
#endif
  cxxblas::gemm<Index>(cxxblas::StorageOrder::RowMajor,
                       trans_a ? cxxblas::Transpose::Trans : cxxblas::Transpose::NoTrans,
                       trans_b ? cxxblas::Transpose::Trans : cxxblas::Transpose::NoTrans,
                       static_cast<Index>(m), static_cast<Index>(n), static_cast<Index>(k), alpha,
                       A, static_cast<Index>(lda), B, static_cast<Index>(ldb), beta, C,
                       static_cast<Index>(ldc));
}

}  // namespace ember::detail
