// Sampling: multinomial, bernoulli, randint, randperm, normal. Each draws from the seeded
// per-thread generator (manual_seed), or from a Generator passed last for code that wants its
// own reproducible stream, as LibTorch's optional generator argument.
#pragma once

#include <cstdint>
#include <memory>
#include <random>

#include "ember/index_tensor.hpp"
#include "ember/tensor.hpp"

namespace ember {

// A random stream: a cheap handle (copies share the stream). A default-constructed one is
// undefined and means "the per-thread generator".
class Generator {
 public:
  Generator() = default;
  explicit Generator(uint64_t seed) : engine_(std::make_shared<std::mt19937_64>(seed)) {}
  bool defined() const { return engine_ != nullptr; }
  void manual_seed(uint64_t seed);
  std::mt19937_64& engine() const;  // the per-thread one when undefined

 private:
  std::shared_ptr<std::mt19937_64> engine_;
};

// n category ids per row of probs ([C] -> [n], [R, C] -> [R, n]). probs are weights: >= 0,
// finite, not all zero; they need not sum to 1. Without replacement n must not exceed the
// number of non-zero weights.
IndexTensor multinomial(const Tensor& probs, int64_t num_samples, bool replacement = false,
                        Generator generator = {});
// 0/1 floats, 1 with probability p (elementwise from a tensor of probabilities, or one p).
Tensor bernoulli(const Tensor& p, Generator generator = {});
Tensor bernoulli(const Shape& shape, double p, Generator generator = {});
// Uniform integers in [low, high).
IndexTensor randint(int64_t low, int64_t high, const Shape& shape, Generator generator = {});
IndexTensor randint(int64_t high, const Shape& shape, Generator generator = {});
// A uniformly random permutation of 0..n-1.
IndexTensor randperm(int64_t n, Generator generator = {});
// Normal(mean, std) floats.
Tensor normal(double mean, double std, const Shape& shape, Generator generator = {});
// randn and rand on a Generator of one's own.
Tensor randn(const Shape& shape, Generator generator, bool requires_grad = false);
Tensor rand(const Shape& shape, Generator generator, bool requires_grad = false);

}  // namespace ember
