// LibTorch's side of bench/view_ops_bench.cpp: the same ops, names, seeds and view
// (x[1024, 1025].narrow(1, 1, 1024).t(), made inside the timed loop). Built only with
// -DEMBER_BENCH_LIBTORCH=ON.
#include <torch/torch.h>

#include <string>

#include "../bench_common.hpp"
#include "../bench_main.hpp"

namespace {

constexpr int64_t kN = 1024;

torch::Tensor float_tensor(std::vector<int64_t> shape, uint64_t seed) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return torch::tensor(bench::normal(n, seed)).reshape(shape);
}

// Made once, after main() has set the thread count; the same seeds as Ember's side.
struct Inputs {
  torch::Tensor base = float_tensor({kN, kN + 1}, 1);  // the view's storage
  torch::Tensor dense = float_tensor({kN, kN}, 2);     // the contiguous input
  torch::Tensor other = float_tensor({kN, kN}, 3);     // add's and matmul's contiguous operand
  torch::Tensor weight = float_tensor({kN, kN}, 4), bias = float_tensor({kN}, 5);
};
const Inputs& inputs() {
  static const Inputs in;
  return in;
}

// Registers "<name>/contiguous" and "<name>/view", with the same counters as Ember's side.
template <class Op>
void register_op(const std::string& name, int64_t bytes, int64_t flops, Op op) {
  auto counters = [=](benchmark::State& state) {
    if (bytes > 0) state.SetBytesProcessed(state.iterations() * bytes);
    if (flops > 0) state.SetItemsProcessed(state.iterations() * flops);
  };
  benchmark::RegisterBenchmark((name + "/contiguous").c_str(), [=](benchmark::State& state) {
    const Inputs& in = inputs();
    auto run = [&] {
      torch::Tensor y = op(in.dense, in);
      benchmark::DoNotOptimize(y.data_ptr());
    };
    run();  // warm-up: the first touch of fresh memory is not the steady state
    for (auto _ : state) run();
    counters(state);
  })->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark((name + "/view").c_str(), [=](benchmark::State& state) {
    const Inputs& in = inputs();
    auto run = [&] {
      torch::Tensor y = op(in.base.narrow(1, 1, kN).t(), in);
      benchmark::DoNotOptimize(y.data_ptr());
    };
    run();  // warm-up: the first touch of fresh memory is not the steady state
    for (auto _ : state) run();
    counters(state);
  })->Unit(benchmark::kMicrosecond);
}

using In = const Inputs&;
void register_ops() {
  const int64_t matrix = kN * kN * 4, gemm = 2 * kN * kN * kN;
  register_op("relu", 2 * matrix, 0, [](const torch::Tensor& x, In) { return torch::relu(x); });
  register_op("exp", 2 * matrix, 0, [](const torch::Tensor& x, In) { return torch::exp(x); });
  register_op("add", 3 * matrix, 0, [](const torch::Tensor& x, In in) { return x + in.other; });
  register_op("sum_dim1", matrix + kN * 4, 0, [](const torch::Tensor& x, In) { return x.sum(1); });
  register_op("sum_all", matrix, 0, [](const torch::Tensor& x, In) { return x.sum(); });
  register_op("matmul", 0, gemm,
              [](const torch::Tensor& x, In in) { return torch::matmul(x, in.other); });
  register_op("linear", 0, gemm, [](const torch::Tensor& x, In in) {
    return torch::nn::functional::linear(x, in.weight, in.bias);
  });
  register_op("softmax", 2 * matrix, 0,
              [](const torch::Tensor& x, In) { return torch::softmax(x, 1); });
}

}  // namespace

int main(int argc, char** argv) {
  register_ops();
  return bench::run_benchmarks(argc, argv, "libtorch",
                               [](int threads) { torch::set_num_threads(threads); });
}
