// distributed::ShardedOptimizer: ZeRO stage 1 around any Ember optimizer. The parameters,
// flattened in order, are cut into N nearly equal contiguous shards (at row boundaries); each
// rank keeps optimizer state only for its shard, steps it with the wrapped optimizer, and every
// rank then receives every shard's updated values (one all-gather). Use it after
// DataParallel::synchronize(), in place of the optimizer it wraps: every element is updated by
// the same arithmetic as the unsharded optimizer, so the numbers are the same bit for bit (the
// wrapped optimizer must update each element from its own gradient and state, as SGD, Adam,
// AdamW, Adagrad and RMSprop do; row-sparse gradients stay row-sparse). The parameters have one
// dtype, float32 or float64, in which the shards are stepped and gathered.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "ember/optim/optimizer.hpp"

namespace ember::distributed {

class ShardedOptimizer : public optim::Optimizer {
 public:
  // Builds the wrapped optimizer over this rank's shard, e.g.
  //   [](std::vector<Tensor> p) { return std::make_unique<optim::Adam>(p, AdamOptions(1e-3)); }
  using Factory = std::function<std::unique_ptr<optim::Optimizer>(std::vector<Tensor>)>;
  ShardedOptimizer(std::vector<Tensor> parameters, const Factory& make);

  // Steps this rank's shard (with this optimizer's lr, so schedulers work), then gathers.
  void step() override;

  // This rank's share: [first, last) of the flattened parameters, and its state in bytes.
  int64_t shard_begin() const { return begin_; }
  int64_t shard_end() const { return end_; }
  int64_t state_bytes() const;
  // The wrapped optimizer over this rank's shard (its state_dict() is this rank's state).
  optim::Optimizer* local() { return local_.get(); }

 protected:
  // A sharded state has no single-process layout: checkpoint local()->state_dict() per rank.
  void save_state(io::Archive& archive) const override;
  void load_state(const io::Archive& archive) override;

 private:
  struct Piece {
    size_t param;       // index into params_
    int64_t row_begin;  // rows [row_begin, row_end) of the parameter
    int64_t row_end;
    Tensor values;  // a leaf holding a copy of those rows
  };
  std::vector<Tensor> params_;
  std::vector<int64_t> offsets_;  // flat offset of each parameter
  std::vector<int64_t> bounds_;   // N + 1 shard boundaries in the flat space
  int64_t begin_ = 0, end_ = 0;
  std::vector<Piece> pieces_;
  std::unique_ptr<optim::Optimizer> local_;
};

// Bytes of the floating-point state an optimizer holds (its state_dict's tensors; for a
// ShardedOptimizer, this rank's shard).
int64_t optimizer_state_bytes(const optim::Optimizer& optimizer);

}  // namespace ember::distributed
