// The physical limits bench/compare.sh divides Ember's times by, measured on the machine at
// hand in the same run: the best time of the Linear benchmark's three GEMMs among the engines
// available (OpenBLAS, oneDNN with its own threads, Ember's choice), and a STREAM-like triad
// bandwidth at the footprint of each memory-bound workload. Each is the best of several runs:
// what the machine can do (other load only slows it down). Output: "key value" lines; with
// --engines also each engine's GFLOPS at the sizes of DESIGN.md section 7; with --gpt2 the time
// of the GPT-2 124M step's products in float32 and bfloat16.
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ember/ember.hpp>
#include <ember/gemm.hpp>
#include <functional>
#include <string>
#include <vector>

#include "bench_common.hpp"

#ifdef EMBER_HAVE_DNNL
#include <dnnl.h>
#include <omp.h>
#endif

namespace {

double best_us(const std::function<void()>& f, int reps) {
  f();  // warm-up: JIT, first touch
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    auto start = std::chrono::steady_clock::now();
    f();
    best = std::min(
        best, std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
                  .count());
  }
  return best;
}

using Gemm = std::function<void(bool, bool, int, int, int, const float*, int, const float*, int,
                                float*, int)>;

// y = x Wᵀ, dx = g W, dW = gᵀ x: the calls of nn::Linear forward + backward.
double linear_gemms_us(const Gemm& gemm) {
  const int B = bench::kLinearBatch, I = bench::kLinearIn, O = bench::kLinearOut;
  std::vector<float> x = bench::normal(B * I, 5), w = bench::normal(O * I, 12),
                     g = bench::normal(B * O, 6), y(B * O), dx(B * I), dw(O * I);
  return best_us(
      [&] {
        gemm(false, true, B, O, I, x.data(), I, w.data(), I, y.data(), O);
        gemm(false, false, B, I, O, g.data(), O, w.data(), I, dx.data(), I);
        gemm(true, false, O, I, B, g.data(), O, x.data(), I, dw.data(), I);
      },
      7);
}

// GFLOPS of each engine at the sizes of DESIGN.md section 7 (y = x·Wᵀ, NT), best of runs.
void engine_table(int threads) {
  const int sizes[][3] = {{512, 1024, 1024}, {64, 64, 128}, {256, 10, 128}, {128, 256, 768}};
  for (auto& sz : sizes) {
    const int m = sz[0], n = sz[1], k = sz[2];
    std::vector<float> a = bench::normal(m * k, 1), b = bench::normal(n * k, 2), c(m * n);
    const double flop = 2. * m * n * k;
    const int reps = flop > 1e8 ? 7 : 200;
    double blas = best_us(
        [&] {
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.f, a.data(), k, b.data(),
                      k, 0.f, c.data(), n);
        },
        reps);
    double ours = best_us(
        [&] {
          ember::sgemm(false, true, m, n, k, 1.f, a.data(), k, b.data(), k, 0.f, c.data(), n);
        },
        reps);
    double dnnl = 0;
#ifdef EMBER_HAVE_DNNL
    omp_set_num_threads(threads);
    dnnl = best_us(
        [&] { dnnl_sgemm('N', 'T', m, n, k, 1.f, a.data(), k, b.data(), k, 0.f, c.data(), n); },
        reps);
#endif
    std::printf("gemm_gflops %dx%dx%d threads=%d openblas=%.1f onednn=%.1f ember=%.1f\n", m, n, k,
                threads, flop / blas / 1e3, dnnl > 0 ? flop / dnnl / 1e3 : 0., flop / ours / 1e3);
  }
}

// a = b + s·c over n floats, split in contiguous halves between the pool's threads; GB/s
// counting 3 arrays moved (STREAM's convention).
double triad_gbs(int64_t n) {
  std::vector<float> a(static_cast<size_t>(n)), b(static_cast<size_t>(n), 1.f),
      c(static_cast<size_t>(n), 2.f);
  int64_t pieces = ember::get_num_threads();
  double us = best_us(
      [&] {
        ember::detail::parallel_for(pieces, [&](int64_t p) {
          int64_t lo = n * p / pieces, hi = n * (p + 1) / pieces;
          float *pa = a.data(), *pb = b.data(), *pc = c.data();
          for (int64_t i = lo; i < hi; ++i) pa[i] = pb[i] + 3.f * pc[i];
        });
      },
      15);
  return 3. * 4. * static_cast<double>(n) / us / 1e3;
}

// The GEMMs of the GPT-2 124M training step that bench/gpt2_bench.cpp times (B=4, T=64: 256
// rows): each layer's four linears (768->2304, 768->768, 768->3072, 3072->768) and the tied LM
// head (768->50257), forward, dx and dW each, in float32 (sgemm) and on bfloat16 operands
// (gemm_bf16, autocast's product), best of 3. What the step cannot go below on either path;
// the rest of a step is what is not a product.
void gpt2_step_gemms() {
  const int64_t N = 256, layers = 12;
  const int64_t shapes[][3] = {{768, 2304, layers},
                               {768, 768, layers},
                               {768, 3072, layers},
                               {3072, 768, layers},
                               {768, 50257, 1}};
  double f32_ms = 0, bf16_ms = 0;
  for (const auto& [in, out, count] : shapes) {
    std::vector<float> x = bench::normal(N * in, 1), w = bench::normal(out * in, 2),
                       g = bench::normal(N * out, 3), y(N * out), dx(N * in), dw(out * in);
    std::vector<ember::BFloat16> xb(x.begin(), x.end()), wb(w.begin(), w.end()),
        gb(g.begin(), g.end());
    const auto float32_products = [&] {
      ember::sgemm(false, true, N, out, in, 1.f, x.data(), in, w.data(), in, 0.f, y.data(), out);
      ember::sgemm(false, false, N, in, out, 1.f, g.data(), out, w.data(), in, 0.f, dx.data(), in);
      ember::sgemm(true, false, out, in, N, 1.f, g.data(), out, x.data(), in, 0.f, dw.data(), in);
    };
    const auto bf16_products = [&] {
      ember::gemm_bf16(false, true, N, out, in, xb.data(), in, wb.data(), in, 0.f, y.data(), out);
      ember::gemm_bf16(false, false, N, in, out, gb.data(), out, wb.data(), in, 0.f, dx.data(), in);
      ember::gemm_bf16(true, false, out, in, N, gb.data(), out, xb.data(), in, 0.f, dw.data(), in);
    };
    f32_ms += static_cast<double>(count) * best_us(float32_products, 3) / 1e3;
    bf16_ms += static_cast<double>(count) * best_us(bf16_products, 3) / 1e3;
  }
  std::printf("gpt2_step_gemms_ms_float32 %.1f\n", f32_ms);
  std::printf("gpt2_step_gemms_ms_bf16 %.1f\n", bf16_ms);
}

}  // namespace

int main(int argc, char** argv) {
  bench::Flags flags = bench::take_flags(argc, argv);
  ember::set_num_threads(flags.threads);
  openblas_set_num_threads(flags.threads);
  std::printf("gemm_engine %s\n", ember::gemm_engine_name(ember::get_gemm_engine()).c_str());
  std::printf("openblas_core %s\n", openblas_get_corename());
  std::printf("threads %d\n", flags.threads);
  double openblas = linear_gemms_us([](bool ta, bool tb, int m, int n, int k, const float* a,
                                       int lda, const float* b, int ldb, float* c, int ldc) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n,
                k, 1.f, a, lda, b, ldb, 0.f, c, ldc);
  });
  std::printf("linear_gemms_us_openblas %.1f\n", openblas);
  double best = openblas;
#ifdef EMBER_HAVE_DNNL
  omp_set_num_threads(flags.threads);
  double onednn = linear_gemms_us([](bool ta, bool tb, int m, int n, int k, const float* a, int lda,
                                     const float* b, int ldb, float* c, int ldc) {
    dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, 1.f, a, lda, b, ldb, 0.f, c, ldc);
  });
  std::printf("linear_gemms_us_onednn %.1f\n", onednn);
  best = std::min(best, onednn);
#endif
  double ours = linear_gemms_us(
      [](bool ta, bool tb, int m, int n, int k, const float* a, int lda, const float* b, int ldb,
         float* c, int ldc) { ember::sgemm(ta, tb, m, n, k, 1.f, a, lda, b, ldb, 0.f, c, ldc); });
  std::printf("linear_gemms_us_ember %.1f\n", ours);
  best = std::min(best, ours);
  const double flop = 3. * 2. * bench::kLinearBatch * bench::kLinearIn * bench::kLinearOut;
  std::printf("linear_gemms_us_best %.1f\n", best);
  std::printf("sgemm_gflops_best %.1f\n", flop / best / 1e3);
  // The same three products on bfloat16 operands (autocast's GEMM, ember/autocast.hpp), and
  // which path ran them: oneDNN's bfloat16 matmul ("native") or widened to sgemm.
  const auto to_bf16 = [](const std::vector<float>& v) {
    return std::vector<ember::BFloat16>(v.begin(), v.end());
  };
  const int B = bench::kLinearBatch, I = bench::kLinearIn, O = bench::kLinearOut;
  const auto x = to_bf16(bench::normal(B * I, 5)), w = to_bf16(bench::normal(O * I, 12)),
             g = to_bf16(bench::normal(B * O, 6));
  std::vector<float> y(B * O), dx(B * I), dw(O * I);
  const double bf16 = best_us(
      [&] {
        ember::gemm_bf16(false, true, B, O, I, x.data(), I, w.data(), I, 0.f, y.data(), O);
        ember::gemm_bf16(false, false, B, I, O, g.data(), O, w.data(), I, 0.f, dx.data(), I);
        ember::gemm_bf16(true, false, O, I, B, g.data(), O, x.data(), I, 0.f, dw.data(), I);
      },
      7);
  // gemm_bf16 runs on oneDNN on the bf16_native path, else widened to float32 for sgemm.
  std::printf("autocast_products %s\n",
              ember::autocast::products_name(ember::autocast::products()));
  std::printf("bf16_gemm_gflops %.1f\n", flop / bf16 / 1e3);
  // Footprints: the classifier's embedding table (V×D) and the large embedding's gradient.
  std::printf("triad_gbs_classifier %.2f\n",
              triad_gbs(bench::kClassifierVocab * bench::kClassifierDim));
  std::printf("triad_gbs_embedding %.2f\n", triad_gbs(bench::kTableRows * bench::kTableDim));
  std::printf("triad_gbs_dram %.2f\n", triad_gbs(int64_t(1) << 26));
  if (argc > 1 && std::strcmp(argv[1], "--engines") == 0) engine_table(flags.threads);
  if (argc > 1 && std::strcmp(argv[1], "--gpt2") == 0) gpt2_step_gemms();
  return 0;
}
