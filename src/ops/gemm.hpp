// Private: one sgemm call on raw row-major pointers with explicit leading dimensions, so that
// kernels (attention heads inside a packed projection, im2col columns) read strided operands
// in place: transposes are flags, heads and batches are pointer offsets, beta = 1 accumulates.
#pragma once

#include <cstdint>

#include "../gemm.hpp"

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

// C[m,n] = alpha * op(A)[m,k] * op(B)[k,n] + beta * C with leading dims lda, ldb, ldc, on the
// engine src/gemm.cpp measured fastest on this CPU. Inside a pool task its pieces already run
// on the calling thread alone, so gemm_single_threaded needs no further action here.
inline void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                 const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                 int64_t ldc) {
  sgemm(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}

}  // namespace ember::detail
