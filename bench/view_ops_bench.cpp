// An op on a fresh narrowed + transposed 1024x1024 view against the same op on a contiguous
// 1024x1024 input (issue #20, "Core 3"). The view is made inside the timed loop, as a model makes
// it: x[1024, 1025].narrow(1, 1, 1024).t(), whose rows are columns of x (strides 1 and 1025).
// Each op has two benchmarks, "<op>/contiguous" and "<op>/view", named as in the LibTorch twin
// (bench/libtorch/view_ops_bench.cpp); bench/view_ops_compare.sh runs both and prints the table.
#include <ember/ember.hpp>
#include <string>

#include "bench_common.hpp"
#include "bench_main.hpp"

using namespace ember;

namespace {

constexpr int64_t kN = 1024;

Tensor float_tensor(const Shape& shape, uint64_t seed) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return tensor(bench::normal(n, seed), shape, false);
}

// Made once, after main() has set the thread count; the same seeds as the twin.
struct Inputs {
  Tensor base = float_tensor({kN, kN + 1}, 1);  // the view's storage
  Tensor dense = float_tensor({kN, kN}, 2);     // the contiguous input
  Tensor other = float_tensor({kN, kN}, 3);     // add's and matmul's contiguous operand
  Tensor weight = float_tensor({kN, kN}, 4), bias = float_tensor({kN}, 5);
};
const Inputs& inputs() {
  static const Inputs in;
  return in;
}

// Registers "<name>/contiguous" and "<name>/view". bytes: the least memory the op must move
// (inputs read once, result written once), reported as bytes_per_second; flops: for the GEMMs,
// reported as items_per_second.
template <class Op>
void register_op(const std::string& name, int64_t bytes, int64_t flops, Op op) {
  auto counters = [=](benchmark::State& state) {
    if (bytes > 0) state.SetBytesProcessed(state.iterations() * bytes);
    if (flops > 0) state.SetItemsProcessed(state.iterations() * flops);
  };
  benchmark::RegisterBenchmark((name + "/contiguous").c_str(), [=](benchmark::State& state) {
    const Inputs& in = inputs();
    auto run = [&] {
      Tensor y = op(in.dense, in);
      benchmark::DoNotOptimize(y.data_ptr());
    };
    run();  // warm-up: the first touch of fresh memory is not the steady state
    for (auto _ : state) run();
    counters(state);
  })->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark((name + "/view").c_str(), [=](benchmark::State& state) {
    const Inputs& in = inputs();
    auto run = [&] {
      Tensor y = op(in.base.narrow(1, 1, kN).t(), in);
      benchmark::DoNotOptimize(y.data_ptr());
    };
    run();  // warm-up: the first touch of fresh memory is not the steady state
    for (auto _ : state) run();
    counters(state);
  })->Unit(benchmark::kMicrosecond);
}

void register_ops() {
  const int64_t matrix = kN * kN * 4, gemm = 2 * kN * kN * kN;
  register_op("relu", 2 * matrix, 0, [](const Tensor& x, const Inputs&) { return relu(x); });
  register_op("exp", 2 * matrix, 0, [](const Tensor& x, const Inputs&) { return exp(x); });
  // The view's layout differs from the contiguous operand's.
  register_op("add", 3 * matrix, 0, [](const Tensor& x, const Inputs& in) { return x + in.other; });
  register_op("sum_dim1", matrix + kN * 4, 0,
              [](const Tensor& x, const Inputs&) { return sum(x, {1}); });
  register_op("sum_all", matrix, 0, [](const Tensor& x, const Inputs&) { return sum(x); });
  register_op("matmul", 0, gemm,
              [](const Tensor& x, const Inputs& in) { return matmul(x, in.other); });
  register_op("linear", 0, gemm,
              [](const Tensor& x, const Inputs& in) { return linear(x, in.weight, in.bias); });
  register_op("softmax", 2 * matrix, 0,
              [](const Tensor& x, const Inputs&) { return softmax(x, 1); });
}

}  // namespace

int main(int argc, char** argv) {
  register_ops();
  return bench::run_benchmarks(argc, argv, "ember", [](int threads) { set_num_threads(threads); });
}
