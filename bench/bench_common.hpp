// Shared by Ember's benchmarks and their LibTorch twins: sizes, seeded data, the thread flag
// and the report header. Public headers only.
#pragma once

#include <sys/resource.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

extern "C" char* openblas_get_corename(void);
extern "C" void openblas_set_num_threads(int);  // NOLINT: OpenBLAS-specific

namespace bench {

// The workloads of the speed issue.
constexpr int64_t kClassifierVocab = 20000, kClassifierDim = 64, kClassifierHidden = 128,
                  kClassifierClasses = 4, kClassifierBatch = 64, kClassifierLength = 32;
constexpr int64_t kLinearIn = 1024, kLinearOut = 1024, kLinearBatch = 512;
constexpr int64_t kTableRows = 100000, kTableDim = 128, kLookups = 65536, kBagSize = 16;
constexpr int64_t kSoftmaxRows = 512, kSoftmaxClasses = 10000;
constexpr int64_t kNormRows = 256, kNormDim = 768;  // GPT-2 124M's residual rows, B=4 T=64

// Deterministic data, identical on both sides.
// The middle of a set of timings (the upper middle for an even count).
inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

inline std::vector<int64_t> ids(int64_t n, int64_t vocab, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::vector<int64_t> out(static_cast<size_t>(n));
  for (auto& v : out) v = static_cast<int64_t>(gen() % static_cast<uint64_t>(vocab));
  return out;
}
inline std::vector<float> normal(int64_t n, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<float> dist(0.f, 1.f);
  std::vector<float> out(static_cast<size_t>(n));
  for (auto& v : out) v = dist(gen);
  return out;
}

// Reads and removes "--threads=N" (default 1) and "--rss-steps=N" (0: run the benchmarks).
struct Flags {
  int threads = 1;
  int rss_steps = 0;
};
inline Flags take_flags(int& argc, char** argv) {
  Flags f;
  int out = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--threads=", 10) == 0)
      f.threads = std::atoi(argv[i] + 10);
    else if (std::strncmp(argv[i], "--rss-steps=", 12) == 0)
      f.rss_steps = std::atoi(argv[i] + 12);
    else
      argv[out++] = argv[i];
  }
  argc = out;
  return f;
}

inline void report_header(const char* side, int threads) {
  std::fprintf(stderr, "%s: threads=%d openblas_core=%s OPENBLAS_CORETYPE=%s\n", side, threads,
               openblas_get_corename(),
               std::getenv("OPENBLAS_CORETYPE") ? std::getenv("OPENBLAS_CORETYPE") : "(unset)");
}

inline long peak_rss_kib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

}  // namespace bench
