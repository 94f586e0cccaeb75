// ember::checkpoint: activation checkpointing, as torch.utils.checkpoint (its reentrant form).
// The forward runs `fn` without recording, keeping only the inputs; backward runs `fn` again with
// recording on (the random stream restored, so dropout draws the same masks) and backpropagates
// through that copy, which also accumulates the gradients of the parameters `fn` uses.
//   Tensor y = checkpoint([&](const std::vector<Tensor>& in) { return block(in[0]); }, {x});
// As PyTorch's reentrant form: at least one input must require grad for anything to be
// recorded, backward must run in grad mode (the default), autograd::grad() does not reach the
// parameters inside, and fn must return one tensor computed from its inputs.
#pragma once

#include <functional>
#include <vector>

#include "ember/tensor.hpp"

namespace ember {

using CheckpointFn = std::function<Tensor(const std::vector<Tensor>&)>;
Tensor checkpoint(CheckpointFn fn, const std::vector<Tensor>& inputs);

}  // namespace ember
