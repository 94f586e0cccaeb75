// The public face of the GEMM engine (ember/gemm.hpp): the same calls as the private
// detail::sgemm and detail::gemm_engine that the ops use.
#include "ember/gemm.hpp"
#include "gemm.hpp"

namespace ember {

void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
           int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  detail::sgemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

std::string gemm_engine() { return detail::gemm_engine(); }

}  // namespace ember
