// View ops cost no copy of data: their time does not grow with the tensor, while contiguous()
// of the same view (a real copy) does. Run: build-bench/bench/ember_view_bench
#include <benchmark/benchmark.h>

#include <ember/ember.hpp>

using namespace ember;

namespace {

// narrow, transpose, unsqueeze, expand and select on a [n, 256] tensor: five views.
void view_chain(benchmark::State& state) {
  const int64_t rows = state.range(0);
  Tensor x = zeros({rows, 256});
  const float* base = x.data_ptr();
  bool shared = true;
  for (auto _ : state) {
    Tensor v = x.narrow(0, 1, rows - 1).transpose(0, 1).unsqueeze(0).expand({2, 256, rows - 1});
    Tensor row = v.select(0, 1);
    shared = shared && row.data_ptr() == base + 256;
    benchmark::DoNotOptimize(row.impl().get());
  }
  state.counters["elements"] = static_cast<double>(rows * 256);
  state.counters["shares_storage"] = shared ? 1 : 0;
}
BENCHMARK(view_chain)->Arg(4)->Arg(4096)->Arg(65536);

// The same view made contiguous: a copy, for scale.
void view_then_contiguous(benchmark::State& state) {
  const int64_t rows = state.range(0);
  Tensor x = zeros({rows, 256});
  for (auto _ : state) {
    Tensor c = x.narrow(0, 1, rows - 1).transpose(0, 1).contiguous();
    benchmark::DoNotOptimize(c.data_ptr());
  }
  state.counters["elements"] = static_cast<double>(rows * 256);
}
BENCHMARK(view_then_contiguous)->Arg(4)->Arg(4096)->Arg(65536)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
