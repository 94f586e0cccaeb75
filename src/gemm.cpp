// Picks the fastest sgemm engine on the CPU at hand by measuring, once per process. Candidates:
// OpenBLAS (through cblas) and, when found at configure time, oneDNN's dnnl_sgemm, which JIT-
// compiles for the CPU it finds. Measured (DESIGN.md section 7): on the Intel AVX-512 machines
// Debian's OpenBLAS runs its SSE3 Prescott kernels (23 GFLOPS) where oneDNN gives 122-143; on
// the AMD EPYC both are close and which one wins depends on the shape. A rule on CPU names
// would go stale, a measurement does not. EMBER_GEMM=openblas|onednn skips the measurement.
#include "gemm.hpp"

#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <thread>
#include <vector>

#include "ember/error.hpp"
#include "ember/parallel.hpp"

#ifdef EMBER_HAVE_DNNL
#include <dnnl.h>
#include <omp.h>
#endif

extern "C" char* openblas_get_corename(void);  // NOLINT: OpenBLAS-specific

namespace ember::detail {

namespace {

enum class Engine { openblas, onednn };

struct Shape3 {
  int64_t m, n, k;
};

void openblas_sgemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                    int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  // OpenBLAS threads itself with the thread count its user gave it (OPENBLAS_NUM_THREADS or
  // openblas_set_num_threads): a library cannot change that process-wide setting.
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
              static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), alpha, a,
              static_cast<int>(lda), b, static_cast<int>(ldb), beta, c, static_cast<int>(ldc));
}

#ifdef EMBER_HAVE_DNNL
// Below this many multiply-adds one thread is faster than waking the pool (measured: 64x64x128
// and 256x10x128 ran slower on 2 threads than on 1).
constexpr int64_t kMinParallelGemm = 1 << 21;

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

// Set while the engines are measured: the pieces run one after the other, so the measurement
// is of the engine's kernels and not of whether the other core is free at that moment.
thread_local bool pieces_in_turn = false;

// Splits C into pieces fixed by the shape and the machine, never by the thread count, so one
// and two threads compute every element with the same calls: results are bit-identical.
void onednn_sgemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                  int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  static const int64_t cores = std::max(1u, std::thread::hardware_concurrency());
  int64_t pieces = std::min<int64_t>(cores, m * n * k / kMinParallelGemm);
  if (pieces <= 1) {
    onednn_serial(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  auto for_pieces = [&](const std::function<void(int64_t)>& fn) {
    if (pieces_in_turn)
      for (int64_t p = 0; p < pieces; ++p) fn(p);
    else
      parallel_for(pieces, fn);
  };
  if (m >= n) {  // rows of C: rows of op(A)
    int64_t step = (m / pieces + 15) / 16 * 16;
    for_pieces([&](int64_t p) {
      int64_t lo = std::min(m, p * step), hi = p + 1 == pieces ? m : std::min(m, lo + step);
      if (lo < hi)
        onednn_serial(ta, tb, hi - lo, n, k, alpha, ta ? a + lo : a + lo * lda, lda, b, ldb, beta,
                      c + lo * ldc, ldc);
    });
  } else {  // columns of C: columns of op(B)
    int64_t step = (n / pieces + 15) / 16 * 16;
    for_pieces([&](int64_t p) {
      int64_t lo = std::min(n, p * step), hi = p + 1 == pieces ? n : std::min(n, lo + step);
      if (lo < hi)
        onednn_serial(ta, tb, m, hi - lo, k, alpha, a, lda, tb ? b + lo * ldb : b + lo, ldb, beta,
                      c + lo, ldc);
    });
  }
}
#endif

void run(Engine e, bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
         int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
#ifdef EMBER_HAVE_DNNL
  if (e == Engine::onednn)
    return onednn_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#endif
  (void)e;
  openblas_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

// Best of several runs of the three products a Linear layer makes (NT, NN, TN) at one shape, for
// each engine, the engines taking turns so that a burst of other load hits them alike. The
// minimum is what an engine can do: the other developers' load only adds to it. oneDNN is timed
// on one thread and OpenBLAS on as many as its user gave it, so a close call goes to OpenBLAS
// only where its kernels are clearly better.
std::vector<double> time_engines(const std::vector<Engine>& engines, Shape3 s) {
  std::vector<float> a(static_cast<size_t>(std::max(s.m, s.n) * s.k), 0.5f),
      b(static_cast<size_t>(std::max(s.m, s.n) * s.k), 0.25f),
      c(static_cast<size_t>(std::max(s.m, s.k) * std::max(s.n, s.k)));
  std::vector<double> best(engines.size(), 1e30);
#ifdef EMBER_HAVE_DNNL
  pieces_in_turn = true;
#endif
  for (int rep = 0; rep < 6; ++rep) {
    for (size_t i = 0; i < engines.size(); ++i) {
      Engine e = engines[i];
      auto start = std::chrono::steady_clock::now();
      run(e, false, true, s.m, s.n, s.k, 1.f, a.data(), s.k, b.data(), s.k, 0.f, c.data(), s.n);
      run(e, false, false, s.m, s.k, s.n, 1.f, c.data(), s.n, b.data(), s.k, 0.f, a.data(), s.k);
      run(e, true, false, s.n, s.k, s.m, 1.f, c.data(), s.n, a.data(), s.k, 0.f, b.data(), s.k);
      double us =
          std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
              .count();
      if (rep > 0) best[i] = std::min(best[i], us);  // the first run includes oneDNN's JIT
    }
  }
#ifdef EMBER_HAVE_DNNL
  pieces_in_turn = false;
#endif
  return best;
}

// Two size classes: the small products of embedding classifiers (64x64x128) and large layers.
constexpr int64_t kLargeGemm = 1 << 22;
const Shape3 kProbe[2] = {{64, 64, 128}, {128, 256, 256}};

std::string engine_name(Engine e) {
  if (e == Engine::onednn) {
#ifdef EMBER_HAVE_DNNL
    const dnnl_version_t* v = dnnl_version();
    return "oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
           std::to_string(v->patch);
#endif
  }
  return std::string("OpenBLAS ") + openblas_get_corename();
}

struct Choice {
  Engine engine = Engine::openblas;
  std::string report;
};

// Measured the first time a product of the class runs, so a program without large products
// never pays for measuring them.
Choice choose(int cls) {
  Choice ch;
  // In order of preference: oneDNN compiles for the CPU it finds, OpenBLAS uses kernels chosen
  // when Debian built it. Another engine must be 20% faster to be taken (noise on a shared
  // machine must not flip the choice).
  std::vector<Engine> engines;
#ifdef EMBER_HAVE_DNNL
  engines.push_back(Engine::onednn);
#endif
  engines.push_back(Engine::openblas);
  const char* forced = std::getenv("EMBER_GEMM");
  if (forced && std::strcmp(forced, "openblas") == 0) engines = {Engine::openblas};
#ifdef EMBER_HAVE_DNNL
  if (forced && std::strcmp(forced, "onednn") == 0) engines = {Engine::onednn};
#endif
  ch.engine = engines[0];
  std::string line;
  if (engines.size() > 1) {
    std::vector<double> us = time_engines(engines, kProbe[cls]);
    double best = us[0];
    for (size_t i = 0; i < engines.size(); ++i) {
      if (us[i] < 0.8 * best) best = us[i], ch.engine = engines[i];
      line += (i ? " vs " : "") + engine_name(engines[i]) + " " +
              std::to_string(static_cast<int>(us[i])) + " µs";
    }
  }
  const Shape3& s = kProbe[cls];
  ch.report = std::to_string(s.m) + "x" + std::to_string(s.n) + "x" + std::to_string(s.k) +
              " NT+NN+TN: " + engine_name(ch.engine) +
              (line.empty() ? " (EMBER_GEMM)" : " (" + line + ")");
  return ch;
}

const Choice& choice(int cls) {
  static const Choice small = choose(0);
  if (cls == 0) return small;
  static const Choice large = choose(1);
  return large;
}

}  // namespace

void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
           int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {  // BLAS leaves C untouched for k = 0; the product is zero
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == 0.f ? 0.f : c[i * ldc + j] * beta;
    return;
  }
  Engine e = choice(m * n * k >= kLargeGemm ? 1 : 0).engine;
  run(e, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

std::string gemm_engine() { return choice(0).report + "; " + choice(1).report; }

}  // namespace ember::detail
