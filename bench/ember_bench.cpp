// Ember's side of the benchmarks (bench/libtorch/libtorch_bench.cpp is the twin). Each
// benchmark name is shared with the twin so that compare.sh can pair them.
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <ember/ember.hpp>

#include "alloc_count.hpp"
#include "bench_common.hpp"

using namespace ember;
namespace F = ember::nn::functional;

namespace {

IndexTensor index_tensor(std::vector<int64_t> v, Shape shape) {
  return IndexTensor(std::move(v), shape);
}
Tensor float_tensor(const Shape& shape, uint64_t seed, bool grad) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return tensor(bench::normal(n, seed), shape, grad);
}

// Three recorded ops (mul, add, sum) and their backward; heap allocations counted after the
// timed loop (bench/alloc_count.hpp).
void per_op_overhead(benchmark::State& state) {
  Tensor a = float_tensor({4, 4}, 1, true), b = float_tensor({4, 4}, 2, true);
  auto forward = [&] { return sum(a * b + a); };
  auto backward = [](Tensor& loss) {
    loss.backward();
    benchmark::DoNotOptimize(loss.data().data());
  };
  auto step = [&] {
    Tensor loss = forward();
    backward(loss);
  };
  step();  // warm-up: the first touch of fresh memory is not the steady state
  for (auto _ : state) step();
  bench::count_allocations(state, 3, forward, backward);
}
BENCHMARK(per_op_overhead);

struct Classifier : nn::Module {
  nn::Embedding emb;
  nn::Linear fc1, fc2;
  explicit Classifier(bool sparse)
      : emb(nn::EmbeddingOptions(bench::kClassifierVocab, bench::kClassifierDim)
                .padding_idx(1)
                .sparse(sparse)),
        fc1(bench::kClassifierDim, bench::kClassifierHidden),
        fc2(bench::kClassifierHidden, bench::kClassifierClasses) {
    register_module("emb", emb);
    register_module("fc1", fc1);
    register_module("fc2", fc2);
  }
  Tensor forward(const IndexTensor& ids) {
    return fc2(relu(fc1(F::masked_mean(emb(ids), ids != 1, 1))));
  }
};

// The classifier, its Adam and its fixed batch: shared by the timed step and the RSS run.
struct ClassifierTraining {
  Classifier model;
  optim::Adam opt;
  IndexTensor ids, labels;
  explicit ClassifierTraining(bool sparse)
      : model((manual_seed(0), sparse)),
        opt(model.parameters(), optim::AdamOptions(1e-3)),
        ids(index_tensor(bench::ids(bench::kClassifierBatch * bench::kClassifierLength,
                                    bench::kClassifierVocab, 3),
                         {bench::kClassifierBatch, bench::kClassifierLength})),
        labels(bench::ids(bench::kClassifierBatch, bench::kClassifierClasses, 4)) {}
  void step() {
    opt.zero_grad();
    F::cross_entropy(model.forward(ids), labels).backward();
    opt.step();
  }
};

void classifier_step(benchmark::State& state, bool sparse) {
  ClassifierTraining training(sparse);
  training.step();  // warm-up: the first touch of fresh memory is not the steady state
  for (auto _ : state) training.step();
}
void classifier_step_dense(benchmark::State& s) { classifier_step(s, false); }
void classifier_step_sparse(benchmark::State& s) { classifier_step(s, true); }
BENCHMARK(classifier_step_dense)->Unit(benchmark::kMicrosecond);
BENCHMARK(classifier_step_sparse)->Unit(benchmark::kMicrosecond);

// A layer's forward and backward, its gradients and x's cleared each time: the timed step.
template <class Layer>
void time_fwd_bwd(benchmark::State& state, Layer& layer, Tensor x, const Tensor& g) {
  auto step = [&] {
    layer.zero_grad();
    x.clear_grad();
    layer(x).backward(g);
  };
  step();  // warm-up: the first touch of fresh memory is not the steady state
  for (auto _ : state) step();
}

void linear_fwd_bwd(benchmark::State& state) {
  manual_seed(0);
  nn::Linear layer(bench::kLinearIn, bench::kLinearOut);
  time_fwd_bwd(state, layer, float_tensor({bench::kLinearBatch, bench::kLinearIn}, 5, true),
               float_tensor({bench::kLinearBatch, bench::kLinearOut}, 6, false));
}
BENCHMARK(linear_fwd_bwd)->Unit(benchmark::kMicrosecond);

// The three sgemm calls Linear forward + backward makes, on preallocated buffers: the limit.
void linear_sgemm_only(benchmark::State& state) {
  const int B = bench::kLinearBatch, I = bench::kLinearIn, O = bench::kLinearOut;
  std::vector<float> x = bench::normal(B * I, 5), w = bench::normal(O * I, 12),
                     g = bench::normal(B * O, 6), y(B * O), dx(B * I), dw(O * I);
  auto step = [&] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, O, I, 1.f, x.data(), I, w.data(), I,
                0.f, y.data(), O);  // y = x Wᵀ
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, I, O, 1.f, g.data(), O, w.data(), I,
                0.f, dx.data(), I);  // dx = g W
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, O, I, B, 1.f, g.data(), O, x.data(), I,
                0.f, dw.data(), I);  // dW = gᵀ x
    benchmark::DoNotOptimize(dw.data());
  };
  step();  // warm-up: the first touch of fresh memory is not the steady state
  for (auto _ : state) step();
}
BENCHMARK(linear_sgemm_only)->Unit(benchmark::kMicrosecond);

void embedding_fwd_bwd(benchmark::State& state) {
  manual_seed(0);
  nn::Embedding emb(bench::kTableRows, bench::kTableDim);
  IndexTensor ids(bench::ids(bench::kLookups, bench::kTableRows, 7));
  Tensor g = float_tensor({bench::kLookups, bench::kTableDim}, 8, false);
  auto step = [&] {
    emb.zero_grad();
    emb(ids).backward(g);
  };
  step();  // warm-up: the first touch of fresh memory is not the steady state
  for (auto _ : state) step();
}
BENCHMARK(embedding_fwd_bwd)->Unit(benchmark::kMicrosecond);

void embedding_bag_mean(benchmark::State& state) {
  manual_seed(0);
  nn::EmbeddingBag bag(nn::EmbeddingBagOptions(bench::kTableRows, bench::kTableDim));
  IndexTensor ids = index_tensor(bench::ids(bench::kLookups, bench::kTableRows, 7),
                                 {bench::kLookups / bench::kBagSize, bench::kBagSize});
  Tensor g = float_tensor({bench::kLookups / bench::kBagSize, bench::kTableDim}, 9, false);
  auto step = [&] {
    bag.zero_grad();
    bag(ids).backward(g);
  };
  step();  // warm-up: the first touch of fresh memory is not the steady state
  for (auto _ : state) step();
}
BENCHMARK(embedding_bag_mean)->Unit(benchmark::kMicrosecond);

void log_softmax_cross_entropy(benchmark::State& state) {
  Tensor logits = float_tensor({bench::kSoftmaxRows, bench::kSoftmaxClasses}, 10, true);
  IndexTensor targets(bench::ids(bench::kSoftmaxRows, bench::kSoftmaxClasses, 11));
  auto step = [&] {
    logits.clear_grad();
    F::nll_loss(log_softmax(logits, 1), targets).backward();
  };
  step();  // warm-up: the first touch of fresh memory is not the steady state
  for (auto _ : state) step();
}
BENCHMARK(log_softmax_cross_entropy)->Unit(benchmark::kMicrosecond);

// Layer norm over GPT-2's residual rows ([256, 768], weight and bias), forward and backward.
void layer_norm_fwd_bwd(benchmark::State& state) {
  manual_seed(0);
  nn::LayerNorm norm({bench::kNormDim});
  time_fwd_bwd(state, norm, float_tensor({bench::kNormRows, bench::kNormDim}, 12, true),
               float_tensor({bench::kNormRows, bench::kNormDim}, 13, false));
}
BENCHMARK(layer_norm_fwd_bwd)->Unit(benchmark::kMicrosecond);

// Peak RSS of the dense classifier after `steps` training steps.
int classifier_rss(int steps) {
  ClassifierTraining training(false);
  for (int i = 0; i < steps; ++i) training.step();
  std::printf("peak_rss_kib %ld\n", bench::peak_rss_kib());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  bench::Flags flags = bench::take_flags(argc, argv);
  set_num_threads(flags.threads);
  openblas_set_num_threads(flags.threads);
  if (flags.rss_steps > 0) return classifier_rss(flags.rss_steps);
  bench::report_header("ember", flags.threads);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
