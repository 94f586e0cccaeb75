// Data-parallel throughput and collective timings; run under mpirun (bench/dist_bench.sh runs it
// on simulated hosts over TCP). Plain timing loops, not Google Benchmark: every rank must run
// the same number of steps, and a collective is timed as its slowest rank sees it.
//
//   mpirun -np 2 build/bench/ember_dist_bench [--steps=N] [--solo] [--overlap=0|1]
//       [--bucket-kb=K] [--zero] [--only=classifier|mlp|collectives]
// --solo: every rank trains alone (no DataParallel): the baseline with the same cores busy.
// --zero: ShardedOptimizer around Adam, and the Adam state each rank holds.
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <ember/ember.hpp>
#include <string>

#include "bench_common.hpp"

using namespace ember;
namespace dist = ember::distributed;
namespace F = ember::nn::functional;
using Clock = std::chrono::steady_clock;

namespace {

struct Classifier : nn::Module {  // bench/ember_bench.cpp's classifier
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

// A dense model: a 1024-wide MLP (2.1 M parameters, 8.4 MB of gradient per step).
struct Mlp : nn::Module {
  nn::Linear fc1, fc2, fc3;
  Mlp() : fc1(bench::kLinearIn, 1024), fc2(1024, 1024), fc3(1024, 4) {
    register_module("fc1", fc1);
    register_module("fc2", fc2);
    register_module("fc3", fc3);
  }
  Tensor forward(const Tensor& x) { return fc3(relu(fc2(relu(fc1(x))))); }
};

// CPU seconds of this process: with other jobs on the machine, wall time measures the queue too.
double cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

double max_over_ranks(double seconds) { return dist::all_reduce(seconds, dist::ReduceOp::Max); }

struct Config {
  int steps = 100;
  bool solo = false, overlap = true, zero = false;
  int64_t bucket_bytes = int64_t{25} << 20;
  std::string only;
};
Config config;

std::unique_ptr<dist::DataParallel> make_dp(std::vector<Tensor> params) {
  if (config.solo) return nullptr;
  return std::make_unique<dist::DataParallel>(
      std::move(params), dist::DataParallelOptions()
                             .overlap(config.overlap)
                             .bucket_bytes(config.bucket_bytes)
                             .first_bucket_bytes(std::min<int64_t>(config.bucket_bytes, 1 << 20)));
}

std::unique_ptr<optim::Optimizer> make_adam(std::vector<Tensor> params) {
  auto adam = [](std::vector<Tensor> p) {
    return std::make_unique<optim::Adam>(std::move(p), optim::AdamOptions(1e-3));
  };
  if (config.zero) return std::make_unique<dist::ShardedOptimizer>(std::move(params), adam);
  return adam(std::move(params));
}

// The optimizer state this rank holds, the most over the ranks, against the unsharded size.
void report_state(const char* name, const optim::Optimizer& opt, const std::vector<Tensor>& ps) {
  int64_t floats = 0;
  for (const Tensor& p : ps) floats += p.numel();
  const double mine = max_over_ranks(static_cast<double>(dist::optimizer_state_bytes(opt)));
  if (dist::Environment::current().rank() == 0)
    std::printf("%-22s Adam state per rank (max) %.0f KB of %.0f KB unsharded: %.3f\n", name,
                mine / 1e3, 8e-3 * static_cast<double>(floats),
                mine / (8.0 * static_cast<double>(floats)));
}

// Times `steps` training steps after 3 warm-up ones; prints global throughput.
template <class Step>
void run(const char* name, int64_t local_batch, int steps, const dist::DataParallel* dp,
         Step step) {
  const dist::Environment& env = dist::Environment::current();
  for (int i = 0; i < 3; ++i) step(i);
  dist::barrier();
  double sync = 0;
  const double cpu_start = cpu_seconds();
  auto start = Clock::now();
  for (int i = 0; i < steps; ++i) {
    step(3 + i);
    if (dp) sync += dp->last_stats().seconds;
  }
  const double seconds =
      max_over_ranks(std::chrono::duration<double>(Clock::now() - start).count());
  sync = max_over_ranks(sync);
  const double cpu = max_over_ranks(cpu_seconds() - cpu_start);
  const dist::SyncStats s = dp ? dp->last_stats() : dist::SyncStats();
  if (env.rank() == 0)
    std::printf(
        "%-22s ranks=%d%s bucket=%ldKB local_batch=%ld  %8.1f samples/s  %7.2f ms/step (cpu %6.2f) "
        " sync "
        "%5.1f%%  "
        "sent/step: dense %.0f KB + sparse %.0f KB (received %.0f KB), %ld of %ld buckets "
        "overlapped\n",
        name, env.world_size(),
        config.solo ? " solo" : (config.overlap ? " overlap" : " no-overlap"),
        static_cast<long>(config.bucket_bytes / 1024), static_cast<long>(local_batch),
        static_cast<double>(local_batch * env.world_size() * steps) / seconds,
        1e3 * seconds / steps, 1e3 * cpu / steps, 100 * sync / seconds,
        static_cast<double>(s.dense_bytes) / 1e3, static_cast<double>(s.sparse_bytes) / 1e3,
        static_cast<double>(s.sparse_bytes_received) / 1e3, static_cast<long>(s.overlapped_buckets),
        static_cast<long>(s.allreduce_calls));
}

void classifier(bool sparse, int steps) {
  const int rank = dist::Environment::current().rank();
  manual_seed(0);
  Classifier model(sparse);
  auto opt = make_adam(model.parameters());
  auto dp = make_dp(model.parameters());
  const int64_t B = bench::kClassifierBatch, L = bench::kClassifierLength;
  const char* name = sparse ? "classifier (sparse)" : "classifier (dense emb)";
  run(name, B, steps, dp.get(), [&](int i) {
    // Each rank its own batch, as a sharded corpus gives.
    IndexTensor ids(bench::ids(B * L, bench::kClassifierVocab, 100 * i + rank), {B, L});
    IndexTensor labels(bench::ids(B, bench::kClassifierClasses, 100 * i + rank + 7));
    opt->zero_grad();
    F::cross_entropy(model.forward(ids), labels).backward();
    if (dp) dp->synchronize();
    opt->step();
  });
  if (config.zero) report_state(name, *opt, model.parameters());
}

void mlp(int steps) {
  const int rank = dist::Environment::current().rank();
  manual_seed(0);
  Mlp model;
  auto opt = make_adam(model.parameters());
  auto dp = make_dp(model.parameters());
  const int64_t B = 64;
  run("mlp 1024x1024 (dense)", B, steps, dp.get(), [&](int i) {
    Tensor x = tensor(bench::normal(B * bench::kLinearIn, 10 * i + rank), {B, bench::kLinearIn});
    IndexTensor labels(bench::ids(B, 4, 10 * i + rank + 3));
    opt->zero_grad();
    F::cross_entropy(model.forward(x), labels).backward();
    if (dp) dp->synchronize();
    opt->step();
  });
  if (config.zero) report_state("mlp 1024x1024 (dense)", *opt, model.parameters());
}

// Median time of a collective over `reps` runs, as the slowest rank sees it.
template <class F>
double median_seconds(int reps, F f) {
  std::vector<double> times;
  for (int i = 0; i < reps + 2; ++i) {
    dist::barrier();
    auto start = Clock::now();
    f();
    times.push_back(max_over_ranks(std::chrono::duration<double>(Clock::now() - start).count()));
  }
  times.erase(times.begin(), times.begin() + 2);  // warm-up
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

void collectives() {
  const dist::Environment& env = dist::Environment::current();
  if (env.world_size() < 2) return;
  struct Size {
    const char* what;
    int64_t floats;
  };
  const Size sizes[] = {
      {"1 float", 1},
      {"classifier fc1+fc2", 64 * 128 + 128 + 128 * 4 + 4},
      {"classifier emb table", bench::kClassifierVocab * bench::kClassifierDim},
      {"transformer 2x d256",
       2 * (4 * 256 * 256 + 4 * 256 + 2 * 256 * 1024 + 1024 + 256 + 4 * 256)},
      {"mlp 1024", 1024 * 1024 * 2 + 1024 * 4 + 2048 + 4},
  };
  for (const Size& s : sizes) {
    Tensor t = ones({s.floats});
    const int reps = s.floats > (1 << 20) ? 9 : 51;
    double sec = median_seconds(reps, [&] { dist::all_reduce(t, dist::ReduceOp::Sum); });
    // DataParallel's own sum in rank order (all-to-all, add, all-gather) of the same size.
    Tensor w = zeros({s.floats}, true);
    dist::DataParallel dp({w}, dist::DataParallelOptions().broadcast_parameters(false));
    Tensor g = ones({s.floats});
    double dp_sec = median_seconds(reps, [&] {
      w.set_grad(g);
      dp.synchronize();
    });
    if (env.rank() == 0)
      std::printf("all_reduce  %-22s %9.2f MB  %9.1f us  %7.2f GB/s  (DataParallel %9.1f us)\n",
                  s.what, 4e-6 * s.floats, 1e6 * sec, 4e-9 * s.floats / sec, 1e6 * dp_sec);
  }
  // The classifier's row-sparse exchange: the rows a batch touches, gathered from every rank.
  for (int64_t rows : {256, 2048, 16384}) {
    Tensor table = zeros({bench::kClassifierVocab, bench::kClassifierDim}, true);
    dist::DataParallel dp({table});
    auto fill = [&] {
      auto grad = std::make_shared<RowSparseGrad>();
      grad->dense_shape = table.shape();
      grad->rows = bench::ids(rows, bench::kClassifierVocab, 9 + env.rank());
      grad->values = Array::from_shape({static_cast<size_t>(rows), 64});
      grad->values.fill(1.0f);
      Tensor anchor = make_output(Array(xt::zeros<float>({1})), "bench_sparse", {table},
                                  [grad](const Array&) { return gradients(grad); });
      table.clear_grad();
      anchor.backward(ember::ones({1}));
    };
    double sec = median_seconds(21, [&] {
      fill();
      dp.synchronize();
    });
    fill();
    double fill_sec = median_seconds(21, fill);
    if (env.rank() == 0)
      std::printf(
          "all_gatherv %5ld rows x 64 per rank  %7.2f MB sent  %9.1f us (exchange + merge)\n",
          static_cast<long>(rows), 1e-6 * static_cast<double>(rows * (8 + 4 * 64)),
          1e6 * (sec - fill_sec));
  }
}

}  // namespace

int main(int argc, char** argv) {
  dist::Environment env(argc, argv);
  bench::Flags flags = bench::take_flags(argc, argv);
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--steps=", 0) == 0) config.steps = std::atoi(argv[i] + 8);
    if (a == "--solo") config.solo = true;
    if (a == "--zero") config.zero = true;
    if (a.rfind("--overlap=", 0) == 0) config.overlap = a.back() == '1';
    if (a.rfind("--bucket-kb=", 0) == 0) config.bucket_bytes = 1024 * std::atoll(argv[i] + 12);
    if (a.rfind("--only=", 0) == 0) config.only = a.substr(7);
  }
  const int steps = config.steps;
  auto wanted = [](const char* what) { return config.only.empty() || config.only == what; };
  set_num_threads(flags.threads);
  openblas_set_num_threads(flags.threads);
  if (env.rank() == 0) bench::report_header("ember_dist_bench", flags.threads);
  if (wanted("classifier")) classifier(true, steps);
  if (wanted("classifier-dense")) classifier(false, steps);
  if (wanted("mlp")) mlp(std::max(steps / 5, 5));
  if (wanted("collectives") && !config.solo) collectives();
  return 0;
}
