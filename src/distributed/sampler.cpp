// DistributedSampler: a seeded permutation, padded or cut to a multiple of the world size,
// strided by rank.
#include "ember/distributed/sampler.hpp"

#include <numeric>

#include "ember/error.hpp"
#include "ember/text/data.hpp"

namespace ember::distributed {

DistributedSampler::DistributedSampler(size_t dataset_size, DistributedSamplerOptions options)
    : dataset_size_(dataset_size), options_(options) {
  const int n = options_.world_size(), r = options_.rank();
  EMBER_CHECK_VALUE(n > 0, "DistributedSampler: world_size must be positive, got ", n);
  EMBER_CHECK_INDEX(r >= 0 && r < n, "DistributedSampler: rank ", r, " is not in [0, ", n, ")");
  const size_t ranks = static_cast<size_t>(n);
  per_rank_ = options_.drop_last() ? dataset_size / ranks : (dataset_size + ranks - 1) / ranks;
  EMBER_CHECK_VALUE(per_rank_ > 0, "DistributedSampler: ", dataset_size,
                    " examples give no step to each of ", n, " ranks");
}

std::vector<size_t> DistributedSampler::indices() const {
  std::vector<size_t> order(dataset_size_);
  if (options_.shuffle()) {
    order = text::shuffled_indices(dataset_size_, options_.seed() + static_cast<uint64_t>(epoch_));
  } else {
    std::iota(order.begin(), order.end(), size_t{0});
  }
  const size_t ranks = static_cast<size_t>(options_.world_size());
  // Padding repeats the permutation's head, so every rank runs the same number of steps.
  for (size_t i = 0; order.size() < per_rank_ * ranks; ++i) order.push_back(order[i]);
  std::vector<size_t> mine;
  mine.reserve(per_rank_);
  for (size_t i = static_cast<size_t>(options_.rank()); i < per_rank_ * ranks; i += ranks)
    mine.push_back(order[i]);
  return mine;
}

}  // namespace ember::distributed
