// A Transformer encoder training step (B=32, T=128, d=256, 4 heads, 2 layers, feed-forward
// 1024, dropout 0; forward, backward, Adam), Ember's side; bench/libtorch/transformer_bench.cpp
// is the twin with the same name, sizes, data and thread count. Run: bench/compare_transformer.sh
#include <benchmark/benchmark.h>

#include <ember/ember.hpp>

#include "bench_main.hpp"
#include "transformer_common.hpp"

using namespace ember;

namespace {

void transformer_encoder_step(benchmark::State& state) {
  using namespace bench::transformer;
  manual_seed(0);
  // LibTorch's C++ TransformerEncoderLayer is sequence-first only: both sides use [T, B, d].
  nn::TransformerEncoder enc(
      nn::TransformerEncoderLayerOptions(kDim, kHeads).dim_feedforward(kFeedForward).dropout(0.0),
      kLayers);
  optim::Adam opt(enc.parameters(), optim::AdamOptions(1e-4));
  Tensor x = tensor(bench::normal(kLength * kBatch * kDim, 1), {kLength, kBatch, kDim});
  Tensor target = tensor(bench::normal(kLength * kBatch * kDim, 2), {kLength, kBatch, kDim});
  auto step = [&] {
    opt.zero_grad();
    Tensor loss = nn::functional::mse_loss(enc(x), target);
    loss.backward();
    opt.step();
    benchmark::DoNotOptimize(loss.data().data());
  };
  step();  // warm-up
  for (auto _ : state) step();
}
BENCHMARK(transformer_encoder_step)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime();

}  // namespace

int main(int argc, char** argv) {
  return bench::run_benchmarks(argc, argv, "ember", [](int t) { ember::set_num_threads(t); });
}
