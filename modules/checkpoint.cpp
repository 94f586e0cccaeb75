// Activation checkpointing on the public tape API: one node whose backward recomputes.
#include "ember/checkpoint.hpp"

#include <random>

#include "ember/autograd.hpp"
#include "ember/error.hpp"
#include "ember/random.hpp"

namespace ember {

namespace {
// Swaps the per-thread random stream for `state` while alive, then puts the current one back.
class RandomStateScope {
 public:
  explicit RandomStateScope(const std::mt19937_64& state)
      : engine_(Generator().engine()), saved_(engine_) {
    engine_ = state;
  }
  ~RandomStateScope() { engine_ = saved_; }
  RandomStateScope(const RandomStateScope&) = delete;
  RandomStateScope& operator=(const RandomStateScope&) = delete;

 private:
  std::mt19937_64& engine_;
  std::mt19937_64 saved_;
};
}  // namespace

Tensor checkpoint(CheckpointFn fn, const std::vector<Tensor>& inputs) {
  EMBER_CHECK(static_cast<bool>(fn), "checkpoint: fn is empty");
  for (size_t i = 0; i < inputs.size(); ++i)
    EMBER_CHECK(inputs[i].defined(), "checkpoint: input ", i, " is undefined");
  if (!needs_grad(inputs)) return fn(inputs);  // nothing to record: run it as it is

  const std::mt19937_64 random_state = Generator().engine();
  Tensor out;
  std::vector<SavedValues> saved;
  {
    NoGradGuard no_grad;
    std::vector<Tensor> detached;
    for (const Tensor& t : inputs) detached.push_back(t.detach());
    out = fn(detached);
  }
  EMBER_CHECK(out.defined(), "checkpoint: fn returned an undefined tensor");
  for (const Tensor& t : inputs) saved.push_back(t.storage());
  std::vector<bool> wants;
  for (const Tensor& t : inputs) wants.push_back(t.requires_grad());

  auto backward = [fn, saved, wants, random_state](const Array& grad) {
    EMBER_CHECK(is_grad_enabled(), "checkpoint: backward ran with grad mode off; the block ",
                "must be recomputed with recording on");
    std::vector<Tensor> again;
    for (size_t i = 0; i < saved.size(); ++i) again.emplace_back(Array(*saved[i]), wants[i]);
    Tensor recomputed;
    {
      RandomStateScope same_masks(random_state);
      recomputed = fn(again);
    }
    if (recomputed.requires_grad()) recomputed.backward(Tensor(Array(grad)));
    Gradients grads(again.size());
    for (size_t i = 0; i < again.size(); ++i) {
      Tensor g = again[i].grad();
      if (g.defined()) grads[i] = Gradient(Array(g.data()));
    }
    return grads;
  };
  return make_output(Array(out.data()), "checkpoint", inputs, backward);
}

}  // namespace ember
