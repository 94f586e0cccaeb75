// Activation checkpointing on the public tape API: one node whose backward recomputes.
#include "ember/checkpoint.hpp"

#include <algorithm>
#include <random>
#include <type_traits>
#include <variant>

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

// An input kept for the recomputation in its own dtype (float32 or float64), version-checked
// when read back.
struct KeptInput {
  std::variant<SavedValuesOf<float>, SavedValuesOf<double>> values;
  bool requires_grad = false;
  Tensor again() const {
    return std::visit(
        [&](const auto& v) {
          using A = std::decay_t<decltype(*v)>;
          return Tensor(A(*v), requires_grad);
        },
        values);
  }
};
KeptInput keep(const Tensor& t) {
  if (t.dtype() == kFloat64) return {detail::saved<double>(t), t.requires_grad()};
  return {t.storage(), t.requires_grad()};
}

// t's values as a contiguous array of T, t's element type.
template <class T>
ArrayOf<T> values_of(const Tensor& t) {
  const Tensor c = t.contiguous();
  ArrayOf<T> out = ArrayOf<T>::from_shape(detail::to_xshape(c.shape(), "checkpoint"));
  std::copy_n(c.data_ptr<T>(), c.numel(), out.data());
  return out;
}
}  // namespace

Tensor checkpoint(CheckpointFn fn, const std::vector<Tensor>& inputs) {
  EMBER_CHECK(static_cast<bool>(fn), "checkpoint: fn is empty");
  for (size_t i = 0; i < inputs.size(); ++i)
    EMBER_CHECK(inputs[i].defined(), "checkpoint: input ", i, " is undefined");
  if (!needs_grad(inputs)) return fn(inputs);  // nothing to record: run it as it is

  const std::mt19937_64 random_state = Generator().engine();
  Tensor out;
  {
    NoGradGuard no_grad;
    std::vector<Tensor> detached;
    for (const Tensor& t : inputs) detached.push_back(t.detach());
    out = fn(detached);
  }
  EMBER_CHECK(out.defined(), "checkpoint: fn returned an undefined tensor");
  std::vector<KeptInput> kept;
  for (const Tensor& t : inputs) kept.push_back(keep(t));

  // grad is an array of the output's element type; each input's gradient has its own dtype.
  auto backward = [fn, kept, random_state](const auto& grad) {
    EMBER_CHECK(is_grad_enabled(), "checkpoint: backward ran with grad mode off; the block ",
                "must be recomputed with recording on");
    std::vector<Tensor> again;
    for (const KeptInput& k : kept) again.push_back(k.again());
    Tensor recomputed;
    {
      RandomStateScope same_masks(random_state);
      recomputed = fn(again);
    }
    using G = std::decay_t<decltype(grad)>;
    if (recomputed.requires_grad()) recomputed.backward(Tensor(G(grad)));
    Gradients grads(again.size());
    for (size_t i = 0; i < again.size(); ++i) {
      Tensor g = again[i].grad();
      if (!g.defined()) continue;
      grads[i] =
          g.dtype() == kFloat64 ? Gradient(values_of<double>(g)) : Gradient(values_of<float>(g));
    }
    return grads;
  };
  if (out.dtype() == kFloat64)
    return make_output(values_of<double>(out), "checkpoint", inputs,
                       BackwardFnOf<double>(backward));
  return make_output(values_of<float>(out), "checkpoint", inputs, BackwardFn(backward));
}

}  // namespace ember
