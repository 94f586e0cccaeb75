// LibTorch's side of the benchmarks: the same workloads, names, data and thread counts as
// bench/ember_bench.cpp. Built only with -DEMBER_BENCH_LIBTORCH=ON.
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include "../alloc_count.hpp"
#include "../bench_common.hpp"

namespace F = torch::nn::functional;

namespace {

torch::Tensor index_tensor(std::vector<int64_t> v, std::vector<int64_t> shape) {
  return torch::tensor(v, torch::kInt64).reshape(shape);
}
torch::Tensor float_tensor(std::vector<int64_t> shape, uint64_t seed, bool grad) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return torch::tensor(bench::normal(n, seed)).reshape(shape).set_requires_grad(grad);
}

// Three recorded ops (mul, add, sum) and their backward; heap allocations counted after the
// timed loop (bench/alloc_count.hpp).
void per_op_overhead(benchmark::State& state) {
  torch::Tensor a = float_tensor({4, 4}, 1, true), b = float_tensor({4, 4}, 2, true);
  auto forward = [&] { return (a * b + a).sum(); };
  auto backward = [](torch::Tensor& loss) {
    loss.backward();
    benchmark::DoNotOptimize(loss.data_ptr());
  };
  auto step = [&] {
    torch::Tensor loss = forward();
    backward(loss);
  };
  step();  // warm-up: the first touch of fresh memory is not the steady state
  for (auto _ : state) step();
  bench::count_allocations(state, 3, forward, backward);
}
BENCHMARK(per_op_overhead);

struct ClassifierImpl : torch::nn::Module {
  torch::nn::Embedding emb{nullptr};
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
  // Dense only: LibTorch's Adam refuses sparse gradients, so compare.sh pairs Ember's sparse
  // step with this dense one.
  ClassifierImpl() {
    emb = register_module(
        "emb", torch::nn::Embedding(
                   torch::nn::EmbeddingOptions(bench::kClassifierVocab, bench::kClassifierDim)
                       .padding_idx(1)));
    fc1 =
        register_module("fc1", torch::nn::Linear(bench::kClassifierDim, bench::kClassifierHidden));
    fc2 = register_module("fc2",
                          torch::nn::Linear(bench::kClassifierHidden, bench::kClassifierClasses));
  }
  torch::Tensor forward(const torch::Tensor& ids) {
    torch::Tensor mask = (ids != 1).to(torch::kFloat).unsqueeze(-1);
    torch::Tensor x = (emb(ids) * mask).sum(1) / mask.sum(1).clamp_min(1);
    return fc2(torch::relu(fc1(x)));
  }
};

// The classifier, its Adam and its fixed batch: shared by the timed step and the RSS run.
struct ClassifierTraining {
  ClassifierImpl model;
  torch::optim::Adam opt;
  torch::Tensor ids, labels;
  ClassifierTraining()
      : model((torch::manual_seed(0), ClassifierImpl())),
        opt(model.parameters(), torch::optim::AdamOptions(1e-3)),
        ids(index_tensor(bench::ids(bench::kClassifierBatch * bench::kClassifierLength,
                                    bench::kClassifierVocab, 3),
                         {bench::kClassifierBatch, bench::kClassifierLength})),
        labels(index_tensor(bench::ids(bench::kClassifierBatch, bench::kClassifierClasses, 4),
                            {bench::kClassifierBatch})) {}
  void step() {
    opt.zero_grad();
    torch::nn::functional::cross_entropy(model.forward(ids), labels).backward();
    opt.step();
  }
};

void classifier_step_dense(benchmark::State& state) {
  ClassifierTraining training;
  training.step();  // warm-up: the first touch of fresh memory is not the steady state
  for (auto _ : state) training.step();
}
BENCHMARK(classifier_step_dense)->Unit(benchmark::kMicrosecond);

// A layer's forward and backward, its gradients and x's cleared each time: the timed step.
template <class Layer>
void time_fwd_bwd(benchmark::State& state, Layer& layer, torch::Tensor x, const torch::Tensor& g) {
  auto step = [&] {
    layer->zero_grad();
    x.mutable_grad() = torch::Tensor();
    layer(x).backward(g);
  };
  step();  // warm-up: the first touch of fresh memory is not the steady state
  for (auto _ : state) step();
}

void linear_fwd_bwd(benchmark::State& state) {
  torch::manual_seed(0);
  torch::nn::Linear layer(bench::kLinearIn, bench::kLinearOut);
  time_fwd_bwd(state, layer, float_tensor({bench::kLinearBatch, bench::kLinearIn}, 5, true),
               float_tensor({bench::kLinearBatch, bench::kLinearOut}, 6, false));
}
BENCHMARK(linear_fwd_bwd)->Unit(benchmark::kMicrosecond);

void layer_norm_fwd_bwd(benchmark::State& state) {
  torch::manual_seed(0);
  torch::nn::LayerNorm norm(torch::nn::LayerNormOptions({bench::kNormDim}));
  time_fwd_bwd(state, norm, float_tensor({bench::kNormRows, bench::kNormDim}, 12, true),
               float_tensor({bench::kNormRows, bench::kNormDim}, 13, false));
}
BENCHMARK(layer_norm_fwd_bwd)->Unit(benchmark::kMicrosecond);

void embedding_fwd_bwd(benchmark::State& state) {
  torch::manual_seed(0);
  torch::nn::Embedding emb(bench::kTableRows, bench::kTableDim);
  torch::Tensor ids =
      index_tensor(bench::ids(bench::kLookups, bench::kTableRows, 7), {bench::kLookups});
  torch::Tensor g = float_tensor({bench::kLookups, bench::kTableDim}, 8, false);
  auto step = [&] {
    emb->zero_grad();
    emb(ids).backward(g);
  };
  step();  // warm-up: the first touch of fresh memory is not the steady state
  for (auto _ : state) step();
}
BENCHMARK(embedding_fwd_bwd)->Unit(benchmark::kMicrosecond);

void embedding_bag_mean(benchmark::State& state) {
  torch::manual_seed(0);
  torch::nn::EmbeddingBag bag(
      torch::nn::EmbeddingBagOptions(bench::kTableRows, bench::kTableDim).mode(torch::kMean));
  torch::Tensor ids = index_tensor(bench::ids(bench::kLookups, bench::kTableRows, 7),
                                   {bench::kLookups / bench::kBagSize, bench::kBagSize});
  torch::Tensor g = float_tensor({bench::kLookups / bench::kBagSize, bench::kTableDim}, 9, false);
  auto step = [&] {
    bag->zero_grad();
    bag(ids).backward(g);
  };
  step();  // warm-up: the first touch of fresh memory is not the steady state
  for (auto _ : state) step();
}
BENCHMARK(embedding_bag_mean)->Unit(benchmark::kMicrosecond);

void log_softmax_cross_entropy(benchmark::State& state) {
  torch::Tensor logits = float_tensor({bench::kSoftmaxRows, bench::kSoftmaxClasses}, 10, true);
  torch::Tensor targets = index_tensor(bench::ids(bench::kSoftmaxRows, bench::kSoftmaxClasses, 11),
                                       {bench::kSoftmaxRows});
  auto step = [&] {
    logits.mutable_grad() = torch::Tensor();
    F::nll_loss(torch::log_softmax(logits, 1), targets).backward();
  };
  step();  // warm-up: the first touch of fresh memory is not the steady state
  for (auto _ : state) step();
}
BENCHMARK(log_softmax_cross_entropy)->Unit(benchmark::kMicrosecond);

int classifier_rss(int steps) {
  ClassifierTraining training;
  for (int i = 0; i < steps; ++i) training.step();
  std::printf("peak_rss_kib %ld\n", bench::peak_rss_kib());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  bench::Flags flags = bench::take_flags(argc, argv);
  torch::set_num_threads(flags.threads);
  openblas_set_num_threads(flags.threads);
  if (flags.rss_steps > 0) return classifier_rss(flags.rss_steps);
  bench::report_header("libtorch", flags.threads);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
