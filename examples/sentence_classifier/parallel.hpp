// Data-parallel training under mpirun (docs/distributed.md), shared by ember-classify and
// ember-lm: every rank trains on its slice of each global batch, DataParallel averages the
// gradients after backward, metrics are summed over the ranks, and rank 0 alone prints and
// writes. In one process every member is a no-op, so a training loop reads the same either way.
#pragma once

#include <cstdint>
#include <ember/ember.hpp>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace classifier {

struct Parallel {
  int rank = 0, world_size = 1;
  bool is_root() const { return rank == 0; }
  // This rank's part of the global batch [lo, hi): contiguous, sizes differ by at most one.
  std::pair<size_t, size_t> shard(size_t lo, size_t hi) const;
  // Scales a rank's mean loss over `local` examples so that the mean over the ranks (what
  // DataParallel computes) is the mean over all `global` examples of the batch.
  float loss_scale(size_t local, size_t global) const;
  double sum(double value) const;  // over the ranks
  // "data-parallel on 2 ranks: each takes its share of every batch of 8\n" for the log (so a
  // launch that started separate processes shows), "" in one process.
  std::string describe(int64_t global_batch) const;
  // Null in one process.
  std::unique_ptr<ember::distributed::DataParallel> data_parallel(
      std::vector<ember::Tensor> parameters,
      ember::distributed::DataParallelOptions options = {}) const;
  // The live Environment's rank and size, or one process.
  static Parallel current();
};

// An Environment when this process was launched by mpirun (Open MPI's or a PMI launcher's
// variables are set), null otherwise; ranks other than 0 get their stdout silenced. `program`
// names the CLI in the error of an Ember built without MPI.
std::unique_ptr<ember::distributed::Environment> start_distributed(int argc, char** argv,
                                                                   const std::string& program);

// `requested` threads, capped so that the ranks on this machine do not share cores.
int threads_per_rank(int requested);

}  // namespace classifier
