// LibTorch's side of the Transformer encoder step: the same sizes, data, loss, optimizer and
// thread count as bench/transformer_bench.cpp.
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include "../bench_main.hpp"
#include "../transformer_common.hpp"

namespace {

void transformer_encoder_step(benchmark::State& state) {
  using namespace bench::transformer;
  torch::manual_seed(0);
  torch::nn::TransformerEncoder enc(
      torch::nn::TransformerEncoderOptions(torch::nn::TransformerEncoderLayerOptions(kDim, kHeads)
                                               .dim_feedforward(kFeedForward)
                                               .dropout(0.0),
                                           kLayers));
  torch::optim::Adam opt(enc->parameters(), torch::optim::AdamOptions(1e-4));
  auto x =
      torch::tensor(bench::normal(kLength * kBatch * kDim, 1)).reshape({kLength, kBatch, kDim});
  auto target =
      torch::tensor(bench::normal(kLength * kBatch * kDim, 2)).reshape({kLength, kBatch, kDim});
  auto step = [&] {
    opt.zero_grad();
    auto loss = torch::mse_loss(enc(x), target);
    loss.backward();
    opt.step();
    benchmark::DoNotOptimize(loss.data_ptr());
  };
  step();  // warm-up
  for (auto _ : state) step();
}
BENCHMARK(transformer_encoder_step)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime();

}  // namespace

int main(int argc, char** argv) {
  return bench::run_benchmarks(argc, argv, "libtorch", [](int t) { torch::set_num_threads(t); });
}
