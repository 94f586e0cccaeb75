// Sampling: reproducible under manual_seed and per Generator, and distributed as claimed
// (chi-square on 10^5 draws, with a bound that a slightly wrong distribution exceeds).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <ember/ember.hpp>
#include <map>
#include <set>

using namespace ember;

namespace {
constexpr int64_t kDraws = 100000;

double chi_square(const std::vector<int64_t>& counts, const std::vector<double>& probs) {
  double total = 0, stat = 0;
  for (int64_t c : counts) total += static_cast<double>(c);
  for (size_t k = 0; k < counts.size(); ++k) {
    const double expected = total * probs[k];
    stat += (counts[k] - expected) * (counts[k] - expected) / expected;
  }
  return stat;
}

// The chi-square quantile at p = 1e-4 (Wilson-Hilferty): a correct sampler fails this once in
// 10^4 seeds; the seeds below are fixed, so the test is deterministic.
double bound(size_t categories) {
  const double df = static_cast<double>(categories - 1), z = 3.719;
  const double h = 2.0 / (9.0 * df);
  return df * std::pow(1.0 - h + z * std::sqrt(h), 3.0);
}

std::vector<int64_t> histogram(const IndexTensor& draws, size_t categories) {
  std::vector<int64_t> counts(categories, 0);
  for (int64_t v : draws.to_vector()) counts.at(static_cast<size_t>(v))++;
  return counts;
}
}  // namespace

TEST_CASE("random: reproducible under manual_seed; a Generator is its own stream") {
  Tensor probs = tensor({0.1f, 0.2f, 0.3f, 0.4f});
  manual_seed(5);
  IndexTensor a = multinomial(probs, 50, true);
  IndexTensor b = randint(0, 7, {20});
  IndexTensor c = randperm(30);
  manual_seed(5);
  CHECK(equal(multinomial(probs, 50, true), a));
  CHECK(equal(randint(0, 7, {20}), b));
  CHECK(equal(randperm(30), c));

  Generator g1(9), g2(9);
  manual_seed(5);
  IndexTensor from_g1 = randint(100, {40}, g1);  // does not advance the per-thread stream
  CHECK(equal(multinomial(probs, 50, true), a));
  CHECK(equal(randint(100, {40}, g2), from_g1));
  g1.manual_seed(9);
  CHECK(equal(randint(100, {40}, g1), from_g1));
  CHECK(randn({3}, g1).shape() == Shape{3});
  Generator undefined;
  CHECK_FALSE(undefined.defined());
}

TEST_CASE("random: multinomial with replacement follows the weights") {
  manual_seed(21);
  std::vector<double> p{0.1, 0.2, 0.3, 0.4};
  // Unnormalised weights: only the ratios count, as PyTorch.
  auto counts = histogram(multinomial(tensor({1.f, 2.f, 3.f, 4.f}), kDraws, true), 4);
  CHECK(chi_square(counts, p) < bound(4));
  CHECK(chi_square(counts, {0.11, 0.19, 0.3, 0.4}) > bound(4));  // the test can fail
  // 2-D: one row per distribution; a zero weight is never drawn.
  IndexTensor rows = multinomial(tensor({0.f, 1.f, 1.f, 0.f}, {2, 2}), 1000, true);
  CHECK(rows.shape() == Shape{2, 1000});
  for (int64_t i = 0; i < 1000; ++i) {
    CHECK(rows[i] == 1);
    CHECK(rows[1000 + i] == 0);
  }
}

TEST_CASE("random: multinomial without replacement draws distinct ids, the first by weight") {
  manual_seed(22);
  std::vector<int64_t> first(4, 0);
  for (int i = 0; i < 20000; ++i) {
    IndexTensor d = multinomial(tensor({0.1f, 0.2f, 0.3f, 0.4f}), 4);
    const std::vector<int64_t> ids = d.to_vector();  // a value: begin and end of one vector
    std::set<int64_t> seen(ids.begin(), ids.end());
    REQUIRE(seen.size() == 4);
    first[static_cast<size_t>(d[0])]++;
  }
  CHECK(chi_square(first, {0.1, 0.2, 0.3, 0.4}) < bound(4));
  CHECK_THROWS_WITH_AS(multinomial(tensor({1.f, 0.f, 1.f}), 3),
                       "multinomial: 3 samples without replacement, but row 0 has only 2 "
                       "categories of non-zero weight",
                       ValueError);
  CHECK_THROWS_AS(multinomial(tensor({1.f, -1.f}), 1), ValueError);
  CHECK_THROWS_AS(multinomial(zeros({2}), 1), ValueError);
}

TEST_CASE("random: randint is uniform from low up to but not including high") {
  manual_seed(23);
  IndexTensor d = randint(-3, 7, {kDraws});
  std::vector<int64_t> counts(10, 0);
  for (int64_t v : d.to_vector()) {
    REQUIRE((v >= -3 && v < 7));
    counts[static_cast<size_t>(v + 3)]++;
  }
  std::vector<double> uniform(10, 0.1), skewed(10, 0.1);
  skewed[0] = 0.11;
  skewed[9] = 0.09;
  CHECK(chi_square(counts, uniform) < bound(10));
  CHECK(chi_square(counts, skewed) > bound(10));
  CHECK_THROWS_WITH_AS(randint(3, 3, {2}), "randint: low 3 must be less than high 3", ValueError);
}

TEST_CASE("random: randperm gives each of the 120 orders of 5 equally often") {
  manual_seed(24);
  auto code = [](const std::vector<int64_t>& perm) {
    int64_t c = 0;
    for (int64_t v : perm) c = c * 5 + v;
    return c;
  };
  std::map<int64_t, int64_t> seen, naive;
  for (int64_t i = 0; i < kDraws; ++i) {
    seen[code(randperm(5).to_vector())]++;
    // The classic wrong shuffle (swap with any position): 5^5 paths over 120 orders.
    std::vector<int64_t> p{0, 1, 2, 3, 4};
    IndexTensor j = randint(5, {5});
    for (size_t k = 0; k < 5; ++k) std::swap(p[k], p[static_cast<size_t>(j[k])]);
    naive[code(p)]++;
  }
  REQUIRE(seen.size() == 120);
  auto counts_of = [](const std::map<int64_t, int64_t>& m) {
    std::vector<int64_t> v;
    for (auto& [k, c] : m) v.push_back(c);
    return v;
  };
  std::vector<double> uniform(120, 1.0 / 120);
  CHECK(chi_square(counts_of(seen), uniform) < bound(120));
  CHECK(chi_square(counts_of(naive), uniform) > bound(120));  // the test can fail
}

TEST_CASE("random: bernoulli and normal") {
  manual_seed(25);
  Tensor b = bernoulli({kDraws}, 0.3);
  int64_t ones = static_cast<int64_t>(sum(b).item());
  CHECK(chi_square({kDraws - ones, ones}, {0.7, 0.3}) < bound(2));
  CHECK(chi_square({kDraws - ones, ones}, {0.69, 0.31}) > bound(2));
  Tensor p = tensor({0.f, 1.f, 0.5f});
  Tensor draws = bernoulli(p);
  CHECK(draws.to_vector()[0] == 0.f);
  CHECK(draws.to_vector()[1] == 1.f);
  CHECK_THROWS_AS(bernoulli(tensor({1.5f})), ValueError);
  Tensor n = normal(2.0, 0.5, {kDraws});
  CHECK(mean(n).item() == doctest::Approx(2.0).epsilon(0.005));
  CHECK(ember::std(n).item() == doctest::Approx(0.5).epsilon(0.01));
  CHECK(equal(normal(1.0, 0.0, {2}), tensor({1.f, 1.f})));
}
