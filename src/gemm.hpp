// Ember's single entry to single-precision matrix products (private). Row-major, BLAS
// semantics: C[m,n] = alpha * op(A)[m,k] * op(B)[k,n] + beta * C, op = transpose when asked.
#pragma once

#include <cstdint>
#include <string>

namespace ember::detail {

void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
           int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

// The engine sgemm runs on this CPU and why, e.g. "oneDNN 2.6.3 (64x64x128: 9.1 µs vs
// OpenBLAS Haswell 13 µs; ...)". Measures the engines if sgemm has not yet (a few ms).
std::string gemm_engine();

}  // namespace ember::detail
