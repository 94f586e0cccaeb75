// Small models and data for the distributed tests and the fault-test worker: an embedding bag
// classifier (dense or sparse table) whose global batch of step s is the same on every rank.
#pragma once

#include <ember/ember.hpp>
#include <string>
#include <vector>

namespace dist_test {

using namespace ember;

constexpr int64_t kVocab = 40, kDim = 8, kClasses = 3, kLen = 6, kPad = 1;

struct Net : nn::Module {
  nn::Embedding emb;
  nn::Linear fc1, fc2;
  explicit Net(bool sparse)
      : emb(nn::EmbeddingOptions(kVocab, kDim).padding_idx(kPad).sparse(sparse)),
        fc1(kDim, 16),
        fc2(16, kClasses) {
    register_module("emb", emb);
    register_module("fc1", fc1);
    register_module("fc2", fc2);
  }
  Tensor forward(const IndexTensor& ids) {
    Tensor x = nn::functional::masked_mean(emb(ids), ids != kPad, 1);
    return fc2(relu(fc1(x)));
  }
};

// Rows [first, first + count) of step `step`'s global batch: ids [count, kLen] and labels,
// from a hash of (step, row), so any rank can make any slice of it.
inline std::pair<IndexTensor, IndexTensor> batch(int64_t step, int64_t first, int64_t count) {
  std::vector<int64_t> ids, labels;
  for (int64_t r = first; r < first + count; ++r) {
    uint64_t h =
        static_cast<uint64_t>(step * 1000003 + r) * 6364136223846793005ull + 1442695040888963407ull;
    auto next = [&] {
      h ^= h >> 29;
      h *= 0xbf58476d1ce4e5b9ull;
      h ^= h >> 32;
      return h;
    };
    const int64_t length = 2 + static_cast<int64_t>(next() % (kLen - 1));
    int64_t sum = 0;
    for (int64_t t = 0; t < kLen; ++t) {
      // Ids skewed towards small ones, so ranks often touch the same rows.
      int64_t id = t < length ? 2 + static_cast<int64_t>((next() % 38) * (next() % 38) / 38) : kPad;
      ids.push_back(id);
      if (t < length) sum += id;
    }
    labels.push_back(sum % kClasses);
  }
  return {IndexTensor(ids, {count, kLen}), IndexTensor(labels)};
}

inline std::unique_ptr<optim::Optimizer> make_optimizer(const std::string& name, Net& net) {
  if (name == "adam")
    return std::make_unique<optim::Adam>(net.parameters(), optim::AdamOptions(0.05));
  return std::make_unique<optim::SGD>(net.parameters(), optim::SGDOptions(0.2).momentum(0.9));
}

// One step on rows [first, first + count) of the global batch; dp may be null (one process).
inline float train_step(Net& net, optim::Optimizer& opt, distributed::DataParallel* dp,
                        int64_t step, int64_t first, int64_t count) {
  auto [ids, labels] = batch(step, first, count);
  opt.zero_grad();
  Tensor loss = nn::functional::cross_entropy(net.forward(ids), labels);
  loss.backward();
  if (dp) dp->synchronize();
  opt.step();
  return loss.item();
}

}  // namespace dist_test
