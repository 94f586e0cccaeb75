// Ember's recurrent benchmark (bench/libtorch/libtorch_rnn_bench.cpp is the twin, same name,
// sizes, data and thread count): one LSTM training step, forward + backward + Adam.
#include <benchmark/benchmark.h>

#include <ember/ember.hpp>

#include "bench_main.hpp"

using namespace ember;

namespace {

constexpr int64_t kBatch = 32, kSteps = 64, kHidden = 256, kLayers = 2;

void lstm_step(benchmark::State& state) {
  manual_seed(0);
  nn::LSTM lstm(nn::LSTMOptions(kHidden, kHidden).num_layers(kLayers).batch_first(true));
  optim::Adam opt(lstm.parameters(), optim::AdamOptions(1e-3));
  const int64_t n = kBatch * kSteps * kHidden;
  Tensor x = tensor(bench::normal(n, 1), {kBatch, kSteps, kHidden});
  Tensor w = tensor(bench::normal(n, 2), {kBatch, kSteps, kHidden});
  auto step = [&] {
    opt.zero_grad();
    auto [out, hc] = lstm(x);
    Tensor loss = sum(out * w);
    loss.backward();
    opt.step();
    benchmark::DoNotOptimize(loss.data().data());
  };
  step();  // warm-up
  for (auto _ : state) step();
}
// Process CPU time as well as wall time: on a shared machine the first is the steadier one.
BENCHMARK(lstm_step)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime()->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  return bench::run_benchmarks(argc, argv, "ember", [](int t) { ember::set_num_threads(t); });
}
