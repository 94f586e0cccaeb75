// distributed::DataParallel: keeps replicas of a model identical across MPI ranks. Rank 0's
// parameter values are broadcast at construction; synchronize(), called after backward and
// before the optimizer step, leaves every rank with the mean gradient over the ranks.
//
// Dense gradients travel in buckets (one MPI_Allreduce per bucket, buckets in a fixed order);
// row-sparse ones (Embedding sparse=true) travel as their touched rows and values
// (MPI_Allgatherv) and are merged in rank order, so every rank holds the same bits.
#pragma once

#include <cstdint>
#include <vector>

#include "ember/options.hpp"
#include "ember/tensor.hpp"

namespace ember::distributed {

struct DataParallelOptions {
  // Bytes of dense gradient per MPI_Allreduce: large enough that latency is paid rarely,
  // small enough that the packing buffer stays in cache-sized pieces.
  EMBER_ARG(int64_t, bucket_bytes) = int64_t{4} << 20;
  EMBER_ARG(bool, broadcast_parameters) = true;
};

// What the last synchronize() moved, per rank, and how long it took.
struct SyncStats {
  int64_t dense_bytes = 0;   // floats all-reduced x 4
  int64_t sparse_bytes = 0;  // rows (8 bytes each) + values sent by this rank
  int64_t sparse_bytes_received = 0;
  int64_t allreduce_calls = 0, allgather_calls = 0;
  double seconds = 0;
};

class DataParallel {
 public:
  explicit DataParallel(std::vector<Tensor> parameters,
                        DataParallelOptions options = DataParallelOptions());

  // Averages every parameter's gradient over the ranks. A parameter no rank has a gradient
  // for keeps none; one that has a gradient on some ranks only gets the mean with zeros.
  void synchronize();
  // Copies rank 0's values into every rank's parameters.
  void broadcast_parameters();

  const SyncStats& last_stats() const { return stats_; }
  const std::vector<Tensor>& parameters() const { return parameters_; }

 private:
  void check_same_parameters() const;
  std::vector<Tensor> parameters_;
  std::vector<std::vector<size_t>> buckets_;  // parameter indices per bucket, fixed order
  DataParallelOptions options_;
  SyncStats stats_;
};

}  // namespace ember::distributed
