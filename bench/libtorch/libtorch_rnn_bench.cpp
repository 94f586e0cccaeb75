// LibTorch's twin of bench/rnn_bench.cpp: the same LSTM training step, data and threads.
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include "../bench_main.hpp"

namespace {

constexpr int64_t kBatch = 32, kSteps = 64, kHidden = 256, kLayers = 2;

torch::Tensor float_tensor(std::vector<int64_t> shape, uint64_t seed) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return torch::tensor(bench::normal(n, seed)).reshape(shape);
}

void lstm_step(benchmark::State& state) {
  torch::manual_seed(0);
  torch::nn::LSTM lstm(
      torch::nn::LSTMOptions(kHidden, kHidden).num_layers(kLayers).batch_first(true));
  torch::optim::Adam opt(lstm->parameters(), torch::optim::AdamOptions(1e-3));
  torch::Tensor x = float_tensor({kBatch, kSteps, kHidden}, 1);
  torch::Tensor w = float_tensor({kBatch, kSteps, kHidden}, 2);
  auto step = [&] {
    opt.zero_grad();
    auto out = std::get<0>(lstm(x));
    torch::Tensor loss = (out * w).sum();
    loss.backward();
    opt.step();
    benchmark::DoNotOptimize(loss.data_ptr());
  };
  step();  // warm-up
  for (auto _ : state) step();
}
// Process CPU time as well as wall time: on a shared machine the first is the steadier one.
BENCHMARK(lstm_step)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime()->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  return bench::run_benchmarks(argc, argv, "libtorch", [](int t) { torch::set_num_threads(t); });
}
