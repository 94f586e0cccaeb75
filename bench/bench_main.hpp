// The main() of the Google Benchmark programs that need nothing else (Ember's and their LibTorch
// twins alike): the thread flag applied to the library under test and to OpenBLAS, the report
// header, then the benchmarks. Public headers only.
#pragma once

#include <benchmark/benchmark.h>

#include "bench_common.hpp"

namespace bench {

template <class SetThreads>
int run_benchmarks(int argc, char** argv, const char* side, SetThreads set_threads) {
  Flags flags = take_flags(argc, argv);
  set_threads(flags.threads);
  openblas_set_num_threads(flags.threads);
  report_header(side, flags.threads);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace bench
