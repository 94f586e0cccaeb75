// distributed::DataParallel: keeps replicas of a model identical across MPI ranks. Rank 0's
// parameter values are broadcast at construction; synchronize(), called after backward and
// before the optimizer step, leaves every rank with the mean gradient over the ranks.
//
// Dense gradients travel in buckets, parameters in reverse order (the order backward finishes
// them), one dtype per bucket (float32 or float64, averaged in that type), as PyTorch's DDP.
// With overlap on, a bucket's reduction starts during backward as soon as every gradient in it
// has arrived (gradient hooks); synchronize() then only waits. Row-sparse
// gradients (Embedding sparse=true) travel as their touched rows and values and are merged in
// rank order. Every sum over ranks is taken in rank order by Ember itself, so every rank holds
// the same bits, and the same bits as one process adding the ranks' gradients 0, 1, ..., N-1.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "ember/options.hpp"
#include "ember/tensor.hpp"

namespace ember::distributed {

struct DataParallelOptions {
  // Bytes of dense gradient per bucket (PyTorch's DDP: 25 MB). Larger buckets pay latency
  // less often; smaller ones start earlier in backward.
  EMBER_ARG(int64_t, bucket_bytes) = int64_t{25} << 20;
  // The first bucket (the last layers' gradients, ready first) is small so that communication
  // starts early, as DDP's 1 MB first bucket.
  EMBER_ARG(int64_t, first_bucket_bytes) = int64_t{1} << 20;
  // Start reducing buckets during backward. The first synchronize() runs without (it learns
  // which parameters have dense gradients on every rank); later ones overlap.
  EMBER_ARG(bool, overlap) = true;
  EMBER_ARG(bool, broadcast_parameters) = true;
};

// What the last synchronize() moved, per rank, and how long it took.
struct SyncStats {
  int64_t dense_bytes = 0;   // elements reduced x their size (4 or 8)
  int64_t sparse_bytes = 0;  // rows (8 bytes each) + values sent by this rank
  int64_t sparse_bytes_received = 0;
  int64_t allreduce_calls = 0, allgather_calls = 0;
  int64_t overlapped_buckets = 0;  // buckets whose reduction started during backward
  double seconds = 0;              // spent inside synchronize() (not the overlapped part)
};

class DataParallel {
 public:
  explicit DataParallel(std::vector<Tensor> parameters,
                        DataParallelOptions options = DataParallelOptions());
  ~DataParallel();
  DataParallel(const DataParallel&) = delete;
  DataParallel& operator=(const DataParallel&) = delete;

  // Averages every parameter's gradient over the ranks. A parameter no rank has a gradient
  // for keeps none; one that has a gradient on some ranks only gets the mean with zeros.
  void synchronize();
  // Copies rank 0's values into every rank's parameters.
  void broadcast_parameters();

  // Gradient accumulation without communication (DDP's no_sync): while the guard lives,
  // backward starts no reduction and synchronize() refuses to run; gradients accumulate
  // locally. The next backward outside the guard, then synchronize(), average the total.
  class NoSync {
   public:
    ~NoSync();
    NoSync(NoSync&& other) noexcept;
    NoSync(const NoSync&) = delete;
    NoSync& operator=(const NoSync&) = delete;
    NoSync& operator=(NoSync&&) = delete;

   private:
    friend class DataParallel;
    explicit NoSync(DataParallel* dp) : dp_(dp) {}
    DataParallel* dp_;
  };
  [[nodiscard]] NoSync no_sync();

  const SyncStats& last_stats() const { return stats_; }
  const std::vector<Tensor>& parameters() const { return parameters_; }

  struct State;  // buckets, communicators and what backward has delivered (private)

 private:
  void check_same_parameters() const;
  void synchronize_rest(const std::vector<size_t>& params);
  void build_overlap(const std::vector<int>& kinds);
  std::vector<Tensor> parameters_;
  DataParallelOptions options_;
  SyncStats stats_;
  std::shared_ptr<State> state_;  // shared with the gradient hooks, which hold it weakly
};

}  // namespace ember::distributed
