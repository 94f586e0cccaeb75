// The seeded per-thread generator, Generator streams, and the sampling functions.
#include "ember/random.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "dense.hpp"

namespace ember {

namespace {
thread_local std::mt19937_64 thread_generator{0x5eed};

// A double in [0, 1) from 53 random bits: the same on every standard library, unlike
// std::uniform_real_distribution.
double uniform01(std::mt19937_64& g) { return static_cast<double>(g() >> 11) * 0x1.0p-53; }

// An integer in [0, n) without modulo bias (rejection of the incomplete last block).
uint64_t below(std::mt19937_64& g, uint64_t n) {
  const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t v;
  do v = g();
  while (v >= limit);
  return v % n;
}
}  // namespace

void manual_seed(uint64_t seed) { thread_generator.seed(seed); }
uint64_t random_u64() { return thread_generator(); }

void Generator::manual_seed(uint64_t seed) { engine().seed(seed); }
std::mt19937_64& Generator::engine() const { return engine_ ? *engine_ : thread_generator; }

Tensor randn(const Shape& shape, Generator generator, bool requires_grad) {
  Array a = Array::from_shape(detail::to_xshape(shape, "randn"));
  std::normal_distribution<float> normal(0.f, 1.f);
  for (float& v : a) v = normal(generator.engine());
  return Tensor(std::move(a), requires_grad);
}
Tensor randn(const Shape& shape, bool requires_grad) { return randn(shape, {}, requires_grad); }

Tensor rand(const Shape& shape, Generator generator, bool requires_grad) {
  Array a = Array::from_shape(detail::to_xshape(shape, "rand"));
  std::uniform_real_distribution<float> uniform(0.f, 1.f);
  for (float& v : a) v = uniform(generator.engine());
  return Tensor(std::move(a), requires_grad);
}
Tensor rand(const Shape& shape, bool requires_grad) { return rand(shape, {}, requires_grad); }

Tensor normal(double mean, double std, const Shape& shape, Generator generator) {
  EMBER_CHECK_VALUE(std >= 0.0 && std::isfinite(std), "normal: std must be finite and >= 0, got ",
                    std);
  Array a = Array::from_shape(detail::to_xshape(shape, "normal"));
  std::normal_distribution<double> normal(mean, std == 0.0 ? 1.0 : std);
  for (float& v : a) v = static_cast<float>(std == 0.0 ? mean : normal(generator.engine()));
  return Tensor(std::move(a));
}

IndexTensor randint(int64_t low, int64_t high, const Shape& shape, Generator generator) {
  EMBER_CHECK_VALUE(low < high, "randint: low ", low, " must be less than high ", high);
  std::vector<int64_t> values(
      static_cast<size_t>(detail::checked_numel(shape, "randint", sizeof(int64_t))));
  const uint64_t range = static_cast<uint64_t>(high) - static_cast<uint64_t>(low);
  for (int64_t& v : values)
    v = static_cast<int64_t>(static_cast<uint64_t>(low) + below(generator.engine(), range));
  return IndexTensor(std::move(values), shape);
}
IndexTensor randint(int64_t high, const Shape& shape, Generator generator) {
  return randint(0, high, shape, std::move(generator));
}

IndexTensor randperm(int64_t n, Generator generator) {
  EMBER_CHECK_VALUE(n >= 0, "randperm: n must be >= 0, got ", n);
  std::vector<int64_t> values(static_cast<size_t>(n));
  std::iota(values.begin(), values.end(), 0);
  for (int64_t i = n - 1; i > 0; --i)  // Fisher-Yates
    std::swap(values[i], values[below(generator.engine(), static_cast<uint64_t>(i) + 1)]);
  return IndexTensor(std::move(values), {n});
}

Tensor bernoulli(const Tensor& p, Generator generator) {
  detail::Dense probs(p);
  Array out = Array::from_shape(probs->shape());
  for (size_t i = 0; i < out.size(); ++i) {
    const float q = probs->data()[i];
    EMBER_CHECK_VALUE(q >= 0.f && q <= 1.f, "bernoulli: probability ", q, " at element ", i,
                      " is outside [0, 1]");
    out.data()[i] = uniform01(generator.engine()) < q ? 1.f : 0.f;
  }
  return Tensor(std::move(out));
}
Tensor bernoulli(const Shape& shape, double p, Generator generator) {
  EMBER_CHECK_VALUE(p >= 0.0 && p <= 1.0, "bernoulli: probability ", p, " is outside [0, 1]");
  Array out = Array::from_shape(detail::to_xshape(shape, "bernoulli"));
  for (float& v : out) v = uniform01(generator.engine()) < p ? 1.f : 0.f;
  return Tensor(std::move(out));
}

IndexTensor multinomial(const Tensor& probs, int64_t num_samples, bool replacement,
                        Generator generator) {
  const Shape s = probs.shape();
  EMBER_CHECK_SHAPE(s.size() == 1 || s.size() == 2, "multinomial: probs must be 1-D or 2-D, got ",
                    detail::shape_str(s));
  const int64_t rows = s.size() == 2 ? s[0] : 1, C = s.back();
  EMBER_CHECK_VALUE(num_samples > 0, "multinomial: num_samples must be positive, got ",
                    num_samples);
  std::vector<int64_t> out(static_cast<size_t>(rows * num_samples));
  std::vector<double> cdf(static_cast<size_t>(C));
  detail::Dense dense_probs(probs);
  for (int64_t r = 0; r < rows; ++r) {
    const float* w = dense_probs->data() + r * C;
    std::vector<double> weight(w, w + C);
    int64_t nonzero = 0;
    for (int64_t c = 0; c < C; ++c) {
      EMBER_CHECK_VALUE(std::isfinite(weight[c]) && weight[c] >= 0, "multinomial: weight ",
                        weight[c], " of row ", r, " category ", c, " is not finite and >= 0");
      nonzero += weight[c] > 0 ? 1 : 0;
    }
    EMBER_CHECK_VALUE(nonzero > 0, "multinomial: row ", r, " has no positive weight");
    EMBER_CHECK_VALUE(replacement || num_samples <= nonzero, "multinomial: ", num_samples,
                      " samples without replacement, but row ", r, " has only ", nonzero,
                      " categories of non-zero weight");
    for (int64_t k = 0; k < num_samples; ++k) {
      // Inverse CDF: the first category whose running total passes u * total. Without
      // replacement a drawn category's weight becomes 0 and the CDF is rebuilt.
      if (k == 0 || !replacement) std::partial_sum(weight.begin(), weight.end(), cdf.begin());
      const double u = uniform01(generator.engine()) * cdf.back();
      int64_t c = std::upper_bound(cdf.begin(), cdf.end(), u) - cdf.begin();
      while (c >= C || weight[c] == 0) --c;  // u at the very top, or a zero-width step
      out[static_cast<size_t>(r * num_samples + k)] = c;
      if (!replacement) weight[c] = 0;
    }
  }
  Shape out_shape = s.size() == 2 ? Shape{rows, num_samples} : Shape{num_samples};
  return IndexTensor(std::move(out), out_shape);
}

}  // namespace ember
