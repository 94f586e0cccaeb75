// The GEMM engine every matrix product of Ember runs on (matmul, Linear, conv, attention, the
// RNNs), and single-precision GEMM on it for code that wants the same engine (bench/, custom
// ops). oneDNN and OpenBLAS round differently, so the engine decides a model's bits: it is
// fixed per machine by a rule, never by timing (docs/guide.md, "Threads and reproducibility").
#pragma once

#include <cstdint>
#include <string>

#include "ember/dtype.hpp"

namespace ember {

enum class GemmEngine { openblas, onednn };

// The engine in use. Fixed at first use: EMBER_GEMM=openblas|onednn when set (any other value,
// or an engine this build lacks, throws ValueError naming it), else oneDNN when Ember was built
// with it and the CPU has AVX2, else OpenBLAS. set_gemm_engine overrides both.
GemmEngine get_gemm_engine();
// Pins the engine for the whole process from now on; ValueError if this build lacks it.
void set_gemm_engine(GemmEngine engine);
// OpenBLAS always; oneDNN when libdnnl-dev was found when Ember was configured.
bool gemm_engine_available(GemmEngine engine);
// For reports: "oneDNN 2.6.3", "OpenBLAS Haswell" (OpenBLAS names the kernels it runs).
std::string gemm_engine_name(GemmEngine engine);

// Row-major C[m,n] = alpha * op(A)[m,k] * op(B)[k,n] + beta * C (BLAS semantics; op = transpose
// when asked), on get_gemm_engine(). k = 0 gives beta * C, as the product is zero.
void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
           int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

// The same in float64 (OpenBLAS's dgemm on every engine): what float64 tensors' products run.
void dgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha,
           const double* a, int64_t lda, const double* b, int64_t ldb, double beta, double* c,
           int64_t ldc);
// gemm<T>: sgemm or dgemm, for code written once for both.
inline void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                 const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                 int64_t ldc) {
  sgemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
inline void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha,
                 const double* a, int64_t lda, const double* b, int64_t ldb, double beta, double* c,
                 int64_t ldc) {
  dgemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

// The same on bfloat16 operands with float32 accumulation and a float32 C (alpha = 1): what
// autocast runs (ember/autocast.hpp says where: oneDNN's bfloat16 matmul, or the operands
// widened to float32 for sgemm).
void gemm_bf16(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const BFloat16* a,
               int64_t lda, const BFloat16* b, int64_t ldb, float beta, float* c, int64_t ldc);

}  // namespace ember
