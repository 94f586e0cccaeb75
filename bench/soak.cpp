// Soak: trains the benchmark classifier for many steps and prints peak and current RSS every
// 1,000 steps; the footprint must stay flat after warm-up (no graph kept alive, no leak).
// Usage: ember_soak [steps=20000]
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <ember/ember.hpp>
#include <fstream>

using namespace ember;
namespace F = ember::nn::functional;

namespace {
long current_rss_kib() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * (::sysconf(_SC_PAGESIZE) / 1024);
}

long peak_rss_kib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

struct Classifier : nn::Module {
  nn::Embedding emb{nn::EmbeddingOptions(20000, 64).padding_idx(1)};
  nn::Linear fc1{64, 128}, fc2{128, 4};
  Classifier() {
    register_module("emb", emb);
    register_module("fc1", fc1);
    register_module("fc2", fc2);
  }
  Tensor forward(const IndexTensor& ids) {
    return fc2(relu(fc1(F::masked_mean(emb(ids), ids != 1, 1))));
  }
};
}  // namespace

int main(int argc, char** argv) {
  const long steps = argc > 1 ? std::atol(argv[1]) : 20000;
  manual_seed(0);
  Classifier model;
  optim::Adam opt(model.parameters(), optim::AdamOptions(1e-3));
  std::printf("step,peak_rss_kib,current_rss_kib,loss\n");
  for (long step = 1; step <= steps; ++step) {
    // A fresh random batch each step, as real training has.
    std::vector<int64_t> ids(64 * 32), labels(64);
    for (auto& v : ids) v = static_cast<int64_t>(random_u64() % 20000);
    for (auto& v : labels) v = static_cast<int64_t>(random_u64() % 4);
    opt.zero_grad();
    Tensor loss = F::cross_entropy(model.forward(IndexTensor(ids, {64, 32})), IndexTensor(labels));
    loss.backward();
    opt.step();
    if (step % 1000 == 0)
      std::printf("%ld,%ld,%ld,%.4f\n", step, peak_rss_kib(), current_rss_kib(), loss.item());
  }
  return 0;
}
