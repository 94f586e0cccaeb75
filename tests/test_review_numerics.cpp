// Issue 21's numerics: each case failed before its fix. NaN/inf semantics are PyTorch 1.13's,
// asserted directly; compared values come from golden/make_golden_review.py.
#include <cmath>
#include <cstdint>
#include <ember/ember.hpp>
#include <limits>
#include <type_traits>
#include <utility>

#include "golden.hpp"

using namespace ember;
namespace F = ember::nn::functional;

namespace {
const float kInf = std::numeric_limits<float>::infinity();
const float kNaN = std::numeric_limits<float>::quiet_NaN();

bool all_of(const Tensor& t, bool (*pred)(float)) {
  for (float v : t.to_vector())
    if (!pred(v)) return false;
  return true;
}
bool is_nan(float v) { return std::isnan(v); }
bool is_pos_inf(float v) { return v == kInf; }
bool is_zero(float v) { return v == 0.f; }
bool is_one(float v) { return v == 1.f; }
}  // namespace

// 3. The vectorised path (4+ elements) gave 0 at x = 0 for each of these.
TEST_CASE("pow at x = 0 as PyTorch, on the vectorised path too") {
  for (int64_t n : {1, 3, 4, 17}) {
    CAPTURE(n);
    CHECK(all_of(pow(zeros({n}), 0.f), is_one));
    CHECK(all_of(pow(zeros({n}), -1.f), is_pos_inf));
    CHECK(all_of(pow(zeros({n}), -0.5f), is_pos_inf));
    CHECK(all_of(pow(zeros({n}), 0.5f), is_zero));
    Tensor x = zeros({n}, true);
    sum(pow(x, 0.5f)).backward();
    CHECK(all_of(x.grad(), is_pos_inf));  // d/dx x^0.5 = 0.5 x^-0.5
    Tensor y = zeros({n}, true);
    sum(pow(y, 0.f)).backward();
    CHECK(all_of(y.grad(), is_zero));  // x^0 is constant
  }
  // Negative bases with a fractional exponent are NaN, with integral ones exact.
  Tensor x = tensor({-2.f, -1.f, 2.f, 3.f});
  std::vector<float> half = pow(x, 0.5f).to_vector(), cube = pow(x, 3.f).to_vector();
  CHECK(std::isnan(half[0]));
  CHECK(half[2] == doctest::Approx(std::sqrt(2.f)));
  CHECK(cube == std::vector<float>{-8.f, -1.f, 8.f, 27.f});
}

// 4. The gradient of a batch-broadcast operand read by no batch entry was uninitialised.
TEST_CASE("matmul with an empty broadcast batch gives zero gradients") {
  for (int rep = 0; rep < 3; ++rep) {  // fresh buffers from the cache would hold old values
    std::vector<Tensor> fillers;
    for (int k = 0; k < 4; ++k) fillers.push_back(full({64, 64}, 7.f));
    fillers.clear();
    Tensor a = randn({1, 64, 64}, true), b = randn({0, 64, 64}, true);
    Tensor out = matmul(a, b);
    CHECK(out.shape() == Shape{0, 64, 64});
    sum(out).backward();
    REQUIRE(a.grad().defined());
    CHECK(a.grad().shape() == Shape{1, 64, 64});
    CHECK(all_of(a.grad(), is_zero));
    CHECK(b.grad().shape() == Shape{0, 64, 64});
  }
}

// 8. NaN propagates through each op as in PyTorch.
TEST_CASE("NaN propagates through relu, norm(inf), logsumexp, max and var") {
  SUBCASE("relu") {
    Tensor x = tensor({kNaN, 1.f, -1.f, kNaN, 2.f}, true);
    std::vector<float> y = relu(x).to_vector();
    CHECK(std::isnan(y[0]));
    CHECK(std::isnan(y[3]));
    CHECK(y[1] == 1.f);
    CHECK(y[2] == 0.f);
    sum(relu(x)).backward();  // PyTorch's threshold_backward: 0 only where the result <= 0
    CHECK(x.grad().to_vector() == std::vector<float>{1.f, 1.f, 0.f, 1.f, 1.f});
  }
  SUBCASE("norm(p = inf) next to inf or a larger value") {
    CHECK(std::isnan(norm(tensor({kNaN, kInf, 1.f}), INFINITY).item()));
    CHECK(std::isnan(norm(tensor({kInf, kNaN}), INFINITY).item()));
    CHECK(std::isnan(norm(tensor({kNaN, 5.f, 1.f}), INFINITY).item()));
    std::vector<float> rows =
        norm(tensor({kNaN, 5.f, 1.f, 2.f}, {2, 2}), INFINITY, {1}).to_vector();
    CHECK(std::isnan(rows[0]));
    CHECK(rows[1] == 2.f);
  }
  SUBCASE("logsumexp next to inf or a larger value") {
    CHECK(std::isnan(logsumexp(tensor({kNaN, kInf}), {0}).item()));
    CHECK(std::isnan(logsumexp(tensor({kInf, kNaN}), {0}).item()));
    CHECK(std::isnan(logsumexp(tensor({kNaN, 100.f}), {0}).item()));
    CHECK(std::isnan(logsumexp(tensor({100.f, kNaN}), {0}).item()));
    CHECK(logsumexp(tensor({-kInf, -kInf}), {0}).item() == -kInf);
  }
  SUBCASE("max()'s gradient goes to the NaN maximum") {
    Tensor x = tensor({1.f, kNaN, 3.f}, true);
    Tensor m = max(x);
    CHECK(std::isnan(m.item()));
    m.backward();
    CHECK(x.grad().to_vector() == std::vector<float>{0.f, 1.f, 0.f});
    Tensor y = tensor({kNaN, 2.f, kNaN, 1.f}, true);  // shared evenly, as PyTorch
    min(y).backward();
    CHECK(y.grad().to_vector() == std::vector<float>{0.5f, 0.f, 0.5f, 0.f});
  }
  SUBCASE("var and std over an empty dim are NaN") {
    for (bool unbiased : {true, false}) {
      CAPTURE(unbiased);
      CHECK(all_of(var(zeros({0, 3}), {0}, unbiased), is_nan));
      CHECK(all_of(ember::std(zeros({0, 3}), {0}, unbiased), is_nan));
    }
    CHECK(all_of(var(zeros({1, 3}), {0}), is_nan));  // n = 1, unbiased: 0 / 0
  }
}

// 9. These segfaulted.
TEST_CASE("reductions over an empty dim and broadcasting backward over an empty batch") {
  Tensor x = zeros({0, 3}, true);
  Tensor s = sum(x, {0});
  CHECK(s.shape() == Shape{3});
  CHECK(all_of(s, is_zero));
  Tensor m = mean(x, {0});
  CHECK(m.shape() == Shape{3});
  CHECK(all_of(m, is_nan));
  CHECK(std::isnan(mean(x).item()));
  CHECK(sum(zeros({2, 0}), {1}, true).shape() == Shape{2, 1});
  sum(sum(x, {0})).backward();
  CHECK(x.grad().shape() == Shape{0, 3});

  Tensor x2 = zeros({0, 3}, true), bias = ones({3}, true);
  sum(x2 + bias).backward();
  CHECK(x2.grad().shape() == Shape{0, 3});
  CHECK(bias.grad().to_vector() == std::vector<float>{0.f, 0.f, 0.f});
  Tensor x3 = zeros({2, 0, 3}, true), w = ones({1, 1, 3}, true);
  sum(x3 * w).backward();
  CHECK(w.grad().to_vector() == std::vector<float>{0.f, 0.f, 0.f});
}

// 11. Shape products overflowed int64 (or the byte size did) and gave wrong sizes.
TEST_CASE("shape products and byte sizes are overflow-checked") {
  const int64_t big = int64_t{1} << 31;
  CHECK_THROWS_AS(zeros({big, big}), ShapeError);
  CHECK_THROWS_WITH(zeros({big, big}), doctest::Contains("[2147483648,2147483648]"));
  CHECK_THROWS_AS(full({big, big, 4}, 1.f), ShapeError);
  CHECK_THROWS_AS(randn({big, big}), ShapeError);
  CHECK_THROWS_AS(ones({int64_t{1} << 62}), ShapeError);  // 2^64 bytes
  CHECK_THROWS_AS(nn::Embedding(int64_t{1} << 40, int64_t{1} << 24), Error);
  CHECK_THROWS_WITH(nn::Embedding(int64_t{1} << 40, int64_t{1} << 24),
                    doctest::Contains("Embedding"));
  // Views allocate nothing: their element count only has to fit int64, as PyTorch's.
  const int64_t huge = int64_t{1} << 62;
  CHECK(zeros({1}).expand({big, big}).numel() == big * big);
  CHECK_THROWS_AS(zeros({1}).expand({huge, huge}), ShapeError);
  CHECK_THROWS_AS(zeros({1, 1}).expand({-2, 1}), ShapeError);
  CHECK_THROWS_AS(zeros({4}).view({huge, huge, 0}), ShapeError);
  CHECK_THROWS_AS(zeros({4}).reshape({huge, 4, 0, huge}), ShapeError);
  CHECK_THROWS_AS(zeros({0}).reshape({huge, huge, -1}), ShapeError);
  CHECK_THROWS_AS(zeros({4}).narrow(0, 1, std::numeric_limits<int64_t>::max()), IndexError);
  const int64_t max = std::numeric_limits<int64_t>::max();
  Tensor one = zeros({4, 3}).slice(0, 1, max, max).slice(1, 2, max, max);  // found by fuzz_shapes
  CHECK(one.shape() == Shape{1, 1});
  CHECK_THROWS_AS(IndexTensor({}, {huge, huge, 0}), ShapeError);
  CHECK_THROWS_AS(tensor({}, {huge, huge, 0}), ShapeError);
  CHECK_THROWS_AS(tensor({}, {0, huge, huge}), ShapeError);  // its strides would overflow
  CHECK_THROWS_AS(zeros({0}).view({0, huge, huge}), ShapeError);
}

// 13. A float loop counter stalled at 2^24 and never returned.
TEST_CASE("arange computes element i as start + i * step, with PyTorch's length") {
  Tensor big = arange(17e6f);
  REQUIRE(big.numel() == 17000000);
  CHECK(big.to_vector()[16777215] == 16777215.f);
  CHECK(big.to_vector().back() == 16999999.f);
  golden::File file = golden::load("review_numerics.txt");
  for (int k = 0; file.count("arange_" + std::to_string(k)); ++k) {
    const golden::Case& c = file.at("arange_" + std::to_string(k));
    const std::vector<double>& args = c.at("args").values;
    Tensor out = arange(float(args[0]), float(args[1]), float(args[2]));
    golden::check_close(out, c.at("out"), "arange_" + std::to_string(k));
  }
  CHECK_THROWS_AS(arange(0.f, INFINITY), ValueError);
  CHECK_THROWS_AS(arange(0.f, NAN), ValueError);
  CHECK_THROWS_AS(arange(0.f, 1.f, 0.f), ValueError);
  CHECK_THROWS_AS(arange(0.f, 1e30f, 1e-30f), Error);  // 1e60 elements
}

// 15. to_vector() of a temporary IndexTensor returned a reference into freed memory.
TEST_CASE("accessors of temporaries return values, not references into them") {
  manual_seed(3);
  static_assert(
      std::is_same_v<decltype(std::declval<IndexTensor>().to_vector()), std::vector<int64_t>>);
  static_assert(std::is_same_v<decltype(std::declval<IndexTensor>().shape()), Shape>);
  static_assert(std::is_same_v<decltype(std::declval<Tensor>().data()), Array>);
  static_assert(
      std::is_same_v<decltype(std::declval<text::Vocab>().tokens()), std::vector<std::string>>);
  static_assert(
      std::is_same_v<decltype(std::declval<text::LabelSet>().names()), std::vector<std::string>>);
  int64_t count = 0;
  for (auto i : randint(10, {64}).to_vector()) count += (i >= 0 && i < 10) ? 1 : 0;
  CHECK(count == 64);
  float total = 0;
  for (float v : (ones({8}) * 2.f).data()) total += v;
  CHECK(total == 16.f);
}

// 23. IndexTensor slicing, stack, cat and integer arange.
TEST_CASE("IndexTensor: narrow, select, slice, cat, stack and arange") {
  IndexTensor a = IndexTensor::arange(6).reshape({2, 3});
  CHECK(a.to_vector() == std::vector<int64_t>{0, 1, 2, 3, 4, 5});
  CHECK(IndexTensor::arange(2, 11, 3).to_vector() == std::vector<int64_t>{2, 5, 8});
  CHECK(IndexTensor::arange(5, 0, -2).to_vector() == std::vector<int64_t>{5, 3, 1});
  CHECK(IndexTensor::arange(3, 3).numel() == 0);
  CHECK_THROWS_AS(IndexTensor::arange(0, 5, 0), ValueError);
  CHECK_THROWS_AS(IndexTensor::arange(5, 0), ValueError);

  CHECK(equal(a.narrow(1, 1, 2), IndexTensor({1, 2, 4, 5}, {2, 2})));
  CHECK(equal(a.narrow(0, -1, 1), IndexTensor({3, 4, 5}, {1, 3})));
  CHECK(equal(a.select(0, 1), IndexTensor{3, 4, 5}));
  CHECK(equal(a.select(1, -1), IndexTensor{2, 5}));
  CHECK(equal(a.slice(1, 0, 3, 2), IndexTensor({0, 2, 3, 5}, {2, 2})));
  CHECK(equal(a.slice(1, -2, 100), IndexTensor({1, 2, 4, 5}, {2, 2})));
  CHECK_THROWS_AS(a.narrow(1, 2, 2), IndexError);
  CHECK_THROWS_AS(a.select(0, 2), IndexError);
  CHECK_THROWS_AS(a.slice(0, 0, 2, 0), ValueError);

  IndexTensor b = IndexTensor({6, 7, 8}, {1, 3});
  CHECK(equal(cat({a, b}, 0), IndexTensor({0, 1, 2, 3, 4, 5, 6, 7, 8}, {3, 3})));
  CHECK(equal(cat({a, a.narrow(1, 0, 1)}, -1), IndexTensor({0, 1, 2, 0, 3, 4, 5, 3}, {2, 4})));
  CHECK_THROWS_AS(cat({a, b}, 1), ShapeError);
  CHECK_THROWS_AS(cat(std::vector<IndexTensor>{}, 0), ValueError);
  CHECK(equal(stack({IndexTensor{1, 2}, IndexTensor{3, 4}}, 1), IndexTensor({1, 3, 2, 4}, {2, 2})));
  CHECK(stack({IndexTensor{1, 2}, IndexTensor{3, 4}}).shape() == Shape{2, 2});
  CHECK_THROWS_AS(stack({IndexTensor{1, 2}, IndexTensor{3}}), ShapeError);
}

// 23. cross_entropy on [N, C, d...] with targets [N, d...], as a sequence tagger uses it.
TEST_CASE("cross_entropy takes [N, C, d...] logits as PyTorch") {
  golden::File file = golden::load("review_numerics.txt");
  for (const auto& [name, c] : file) {
    if (name.rfind("ce_", 0) != 0) continue;
    F::CrossEntropyOptions o;
    if (name.find("smooth") != std::string::npos)
      o.label_smoothing(name.find("ncdd") != std::string::npos ? 0.2 : 0.1);
    if (name.find("_sum") != std::string::npos) o.reduction(F::Reduction::Sum);
    if (name.find("_none") != std::string::npos) o.reduction(F::Reduction::None);
    std::vector<Tensor> x = golden::float_inputs(c);
    Tensor out = F::cross_entropy(x[0], golden::index_inputs(c)[0], o);
    golden::check_close(out, c.at("out"), name + " output");
    golden::check_input_grads(out, x, c, name);
  }
  Tensor logits = zeros({2, 4, 3});
  CHECK_THROWS_AS(F::cross_entropy(logits, IndexTensor({0, 1, 2, 3, 0, 1}, {3, 2})), ShapeError);
  CHECK_THROWS_AS(F::cross_entropy(logits, IndexTensor({0, 1, 4, 3, 0, 1}, {2, 3})), IndexError);
}

// 23. pad_sequences took pad 1 silently where PyTorch's pad_sequence pads with 0.
namespace {
template <class S, class = void>
struct pads_without_an_id : std::false_type {};
template <class S>
struct pads_without_an_id<S, std::void_t<decltype(text::pad_sequences(std::declval<S>()))>>
    : std::true_type {};
}  // namespace

TEST_CASE("pad_sequences takes its padding value explicitly") {
  CHECK_FALSE(pads_without_an_id<std::vector<std::vector<int64_t>>>::value);
  CHECK(text::pad_sequences({{5, 6}, {7}}, 0).to_vector() == std::vector<int64_t>{5, 6, 7, 0});
}

// 23. amax(x, {}) reduces every dim, as torch.amax(x, dim=()) in PyTorch 1.13.
TEST_CASE("amax and amin with no dims reduce every dim, as PyTorch 1.13") {
  Tensor x = tensor({1.f, 2.f, 3.f, 4.f}, {2, 2});
  CHECK(amax(x, {}).shape() == Shape{});
  CHECK(amax(x, {}).item() == 4.f);
  CHECK(amax(x, {}, true).shape() == Shape{1, 1});
  CHECK(amin(x, {}, true).item() == 1.f);
}
