// distributed::DistributedSampler: the indices of one rank's shard of a dataset, as
// torch.utils.data.DistributedSampler. Every rank draws the same seeded permutation for an
// epoch and takes every world_size-th index from its rank on, so the shards are disjoint and
// all ranks run the same number of steps. Needs no MPI: rank and world size are arguments.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "ember/options.hpp"

namespace ember::distributed {

struct DistributedSamplerOptions {
  DistributedSamplerOptions(int world_size, int rank) : world_size_(world_size), rank_(rank) {}
  EMBER_ARG(int, world_size);
  EMBER_ARG(int, rank);
  EMBER_ARG(bool, shuffle) = true;
  EMBER_ARG(uint64_t, seed) = 0;
  // Drop the tail that does not divide evenly; otherwise pad it with the first indices again.
  EMBER_ARG(bool, drop_last) = false;
};

class DistributedSampler {
 public:
  DistributedSampler(size_t dataset_size, DistributedSamplerOptions options);
  // A new epoch draws a new permutation (seed + epoch), as PyTorch's set_epoch.
  void set_epoch(int64_t epoch) { epoch_ = epoch; }
  std::vector<size_t> indices() const;
  size_t size() const { return per_rank_; }  // indices per rank, equal on every rank

 private:
  size_t dataset_size_, per_rank_;
  DistributedSamplerOptions options_;
  int64_t epoch_ = 0;
};

}  // namespace ember::distributed
