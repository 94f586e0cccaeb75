// Ember's GEMM engine, public for benchmarks and extensions: the single-precision product
// every op runs on, and which engine it chose on this CPU and why.
#pragma once

#include <cstdint>
#include <string>

namespace ember {

// Row-major BLAS semantics: C[m,n] = alpha * op(A)[m,k] * op(B)[k,n] + beta * C, op = the
// transpose when asked; lda / ldb / ldc are row strides. Runs on the engine gemm_engine names.
void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
           int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

// The engine sgemm runs on and why, e.g. "oneDNN 2.6.3 (64x64x128: 9.1 µs vs OpenBLAS
// Haswell 13 µs; ...)": measured at first use on this CPU (a few ms) unless EMBER_GEMM
// (openblas | onednn) pins it.
std::string gemm_engine();

}  // namespace ember
