// Ember's GEMM engines: OpenBLAS (through cblas) and, when found at configure time, oneDNN's
// dnnl_sgemm, which JIT-compiles for the CPU it finds. The two round differently, so the engine
// is chosen by a rule fixed for the machine and never by timing (a timing race in each process
// let two runs of one model differ in their bits). The rule takes oneDNN whenever it is there and
// the CPU has AVX2: measured faster at every size and transpose a Linear makes on both machine
// kinds of DESIGN.md section 7 (the Intel Xeon, where Debian's OpenBLAS falls back to SSE3
// Prescott kernels, 23 GFLOPS vs 122-143; the AMD EPYC with OPENBLAS_CORETYPE=Haswell, figures in
// docs/performance.md). Without AVX2 oneDNN's JIT has only its SSE4.1 kernels, measured nowhere,
// so OpenBLAS keeps those CPUs. EMBER_GEMM or set_gemm_engine pins either engine.
#include "gemm.hpp"

#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>

#include "ember/error.hpp"
#include "ember/parallel.hpp"

#ifdef EMBER_HAVE_DNNL
#include <dnnl.h>
#include <omp.h>
#endif

extern "C" char* openblas_get_corename(void);  // NOLINT: OpenBLAS-specific

namespace ember {

namespace {

void openblas_sgemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                    int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  // OpenBLAS threads itself with the thread count its user gave it (OPENBLAS_NUM_THREADS or
  // openblas_set_num_threads): a library cannot change that process-wide setting.
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
              static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), alpha, a,
              static_cast<int>(lda), b, static_cast<int>(ldb), beta, c, static_cast<int>(ldc));
}

#ifdef EMBER_HAVE_DNNL
void onednn_serial(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                   int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  // oneDNN threads with OpenMP, whose thread count is per calling thread: one thread per call
  // (restored afterwards, the caller's OpenMP setting is its own), Ember's pool does the rest.
  // OpenMP teams on two busy cores also stalled for milliseconds in a barrier.
  int saved = omp_get_max_threads();
  if (saved != 1) omp_set_num_threads(1);
  dnnl_status_t status =
      dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  if (saved != 1) omp_set_num_threads(saved);
  EMBER_CHECK(status == dnnl_success, "sgemm: oneDNN failed with status ", static_cast<int>(status),
              " for m=", m, " n=", n, " k=", k);
}

void onednn_sgemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                  int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  detail::split_product(m, n, k, [&](int64_t lo, int64_t hi, bool rows) {
    if (rows)  // rows of C: rows of op(A)
      onednn_serial(ta, tb, hi - lo, n, k, alpha, ta ? a + lo : a + lo * lda, lda, b, ldb, beta,
                    c + lo * ldc, ldc);
    else  // columns of C: columns of op(B)
      onednn_serial(ta, tb, m, hi - lo, k, alpha, a, lda, tb ? b + lo * ldb : b + lo, ldb, beta,
                    c + lo, ldc);
  });
}
#endif

const char* key(GemmEngine e) { return e == GemmEngine::onednn ? "onednn" : "openblas"; }

void check_available(GemmEngine e, const char* who) {
  EMBER_CHECK_VALUE(gemm_engine_available(e), who, ": the GEMM engine '", key(e),
                    "' is not in this build of Ember (oneDNN joins when libdnnl-dev is found at "
                    "configure time)");
}

// The rule, read once: the environment cannot change the engine halfway through a process.
GemmEngine from_environment() {
  static const GemmEngine chosen = [] {
    const char* env = std::getenv("EMBER_GEMM");
    if (env == nullptr || *env == '\0') {
      bool avx2 = false;
#if defined(__x86_64__) || defined(__i386__)
      avx2 = __builtin_cpu_supports("avx2");
#endif
      return gemm_engine_available(GemmEngine::onednn) && avx2 ? GemmEngine::onednn
                                                               : GemmEngine::openblas;
    }
    const std::string value = env;
    EMBER_CHECK_VALUE(value == "openblas" || value == "onednn", "EMBER_GEMM: '", value,
                      "' is not a GEMM engine; expected 'openblas' or 'onednn' (or unset)");
    GemmEngine e = value == "onednn" ? GemmEngine::onednn : GemmEngine::openblas;
    check_available(e, "EMBER_GEMM");
    return e;
  }();  // a throw leaves it unset: every later product throws the same error
  return chosen;
}

constexpr int kUnpinned = -1;
std::atomic<int> pinned{kUnpinned};  // set by set_gemm_engine

}  // namespace

GemmEngine get_gemm_engine() {
  int p = pinned.load(std::memory_order_relaxed);
  return p == kUnpinned ? from_environment() : static_cast<GemmEngine>(p);
}

void set_gemm_engine(GemmEngine engine) {
  check_available(engine, "set_gemm_engine");
  pinned.store(static_cast<int>(engine), std::memory_order_relaxed);
}

bool gemm_engine_available(GemmEngine engine) {
#ifdef EMBER_HAVE_DNNL
  (void)engine;
  return true;
#else
  return engine == GemmEngine::openblas;
#endif
}

std::string gemm_engine_name(GemmEngine engine) {
#ifdef EMBER_HAVE_DNNL
  if (engine == GemmEngine::onednn) {
    const dnnl_version_t* v = dnnl_version();
    return "oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
           std::to_string(v->patch);
  }
#endif
  check_available(engine, "gemm_engine_name");
  return std::string("OpenBLAS ") + openblas_get_corename();
}

namespace detail {

void split_product(int64_t m, int64_t n, int64_t k,
                   const std::function<void(int64_t lo, int64_t hi, bool rows)>& piece) {
  // Below 2^21 multiply-adds one thread is faster than waking the pool (measured: 64x64x128 and
  // 256x10x128 ran slower on 2 threads than on 1).
  static const int64_t cores = std::max(1u, std::thread::hardware_concurrency());
  const int64_t pieces = std::min<int64_t>(cores, m * n * k / (int64_t{1} << 21));
  if (pieces <= 1) return piece(0, m, true);
  const bool rows = m >= n;
  const int64_t size = rows ? m : n, step = (size / pieces + 15) / 16 * 16;
  parallel_for(pieces, [&](int64_t p) {
    const int64_t lo = std::min(size, p * step);
    const int64_t hi = p + 1 == pieces ? size : std::min(size, lo + step);
    if (lo < hi) piece(lo, hi, rows);
  });
}

}  // namespace detail

void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
           int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {  // BLAS leaves C untouched for k = 0; the product is zero
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == 0.f ? 0.f : c[i * ldc + j] * beta;
    return;
  }
#ifdef EMBER_HAVE_DNNL
  if (get_gemm_engine() == GemmEngine::onednn)
    return onednn_sgemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#else
  get_gemm_engine();  // EMBER_GEMM is checked here too: a wrong value never passes silently
#endif
  openblas_sgemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace ember

namespace ember {

// float64 products run on OpenBLAS's dgemm whatever the engine (oneDNN has no double GEMM):
// float64 is for checking gradients, and has no speed target.
void dgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha,
           const double* a, int64_t lda, const double* b, int64_t ldb, double beta, double* c,
           int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == 0. ? 0. : c[i * ldc + j] * beta;
    return;
  }
  cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, static_cast<int>(m), static_cast<int>(n),
              static_cast<int>(k), alpha, a, static_cast<int>(lda), b, static_cast<int>(ldb), beta,
              c, static_cast<int>(ldc));
}

}  // namespace ember
