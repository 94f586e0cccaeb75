// Core 2 ops beyond their golden values: gradcheck of each, the review's defects (each test
// failed before its fix), the Tensor member forms and the IndexTensor API.
#include <cmath>
#include <ember/ember.hpp>

#include "gradcheck.hpp"

using namespace ember;
using Inputs = std::vector<Tensor>;

namespace {
Tensor rn(const Shape& s) { return randn(s, true); }
}  // namespace

TEST_CASE("gradcheck: reductions with indices, statistics, cumsum and topk") {
  manual_seed(11);
  Shape s{2, 3, 4};
  CHECK_GRADCHECK([](const Inputs& x) { return min(x[0]); }, {rn(s)});
  CHECK_GRADCHECK([](const Inputs& x) { return std::get<0>(min(x[0], 1)); }, {rn(s)});
  CHECK_GRADCHECK([](const Inputs& x) { return amax(x[0], {0, 2}, true); }, {rn(s)});
  CHECK_GRADCHECK([](const Inputs& x) { return amin(x[0], {1}); }, {rn(s)});
  CHECK_GRADCHECK([](const Inputs& x) { return var(x[0]); }, {rn(s)});
  CHECK_GRADCHECK([](const Inputs& x) { return var(x[0], {0, 2}, false, true); }, {rn(s)});
  CHECK_GRADCHECK([](const Inputs& x) { return ember::std(x[0], {1}); }, {rn(s)});
  CHECK_GRADCHECK([](const Inputs& x) { return logsumexp(x[0], {0, 2}); }, {rn(s)});
  for (float p : {1.f, 2.f, 3.f, 0.5f}) {
    CAPTURE(p);
    CHECK_GRADCHECK([p](const Inputs& x) { return norm(x[0], p, {1}); }, {rn(s)});
  }
  // The inf-norm's kink: inputs whose largest magnitudes are further apart than the step.
  Tensor spread = (arange(12.f) * 0.25f - 1.4f).reshape({3, 4}).detach().requires_grad_();
  CHECK_GRADCHECK([](const Inputs& x) { return norm(x[0], INFINITY, {1}); }, {spread});
  CHECK_GRADCHECK([](const Inputs& x) { return norm(x[0]); }, {rn(s)});
  for (int64_t dim : {0, 1, -1}) {
    CAPTURE(dim);
    CHECK_GRADCHECK([dim](const Inputs& x) { return cumsum(x[0], dim); }, {rn(s)});
    CHECK_GRADCHECK([dim](const Inputs& x) { return std::get<0>(topk(x[0], 2, dim)); }, {rn(s)});
  }
}

TEST_CASE("gradcheck: new elementwise ops, activations and scatter ops") {
  manual_seed(12);
  Shape s{3, 4};
  CHECK_GRADCHECK([](const Inputs& x) { return maximum(x[0], x[1]); }, {rn(s), rn({4})});
  CHECK_GRADCHECK([](const Inputs& x) { return minimum(x[0], x[1]); }, {rn({3, 1}), rn(s)});
  CHECK_GRADCHECK([](const Inputs& x) { return sin(x[0]) + cos(x[0]); }, {rn(s)});
  CHECK_GRADCHECK([](const Inputs& x) { return log1p(x[0]); },
                  {(rand(s) + 0.1f).detach().requires_grad_()});
  CHECK_GRADCHECK([](const Inputs& x) { return silu(x[0]); }, {rn(s)});
  CHECK_GRADCHECK([](const Inputs& x) { return softplus(x[0], 2.f, 1.f); }, {rn(s)});
  CHECK_GRADCHECK([](const Inputs& x) { return triu(x[0], 1) + tril(x[0], -1); }, {rn({2, 3, 4})});
  IndexTensor rows{2, 0, 2};
  CHECK_GRADCHECK([&](const Inputs& x) { return index_add(x[0], 0, rows, x[1], 2.f); },
                  {rn({3, 4}), rn({3, 4})});
  IndexTensor idx({0, 2, 1, 1, 0, 0}, {2, 3});
  CHECK_GRADCHECK([&](const Inputs& x) { return scatter_add(x[0], 1, idx, x[1]); },
                  {rn({2, 4}), rn({2, 5})});  // src wider than the index: its tail gets 0
}

TEST_CASE("defect: an explicit dim on a 0-d tensor follows PyTorch or throws clearly") {
  Tensor s = scalar_tensor(5.f, true);
  CHECK(sum(s, {0}).item() == 5.f);  // segfaulted
  CHECK(sum(s, {0}).dim() == 0);
  CHECK(mean(s, {-1}, true).dim() == 0);
  CHECK(index_select(s, 0, IndexTensor{0}).item() == 5.f);
  CHECK(gather(s, 0, IndexTensor({0}, {})).item() == 5.f);
  CHECK(gather(s, 0, IndexTensor{0}).shape() == Shape{1});
  CHECK_THROWS_WITH_AS(cat({s, s}, 0),
                       "cat: tensor 0 is 0-d, and only tensors with a dim can be joined along "
                       "one (use stack)",
                       ShapeError);
  CHECK_THROWS_AS(index_select(s, 0, IndexTensor{1}), IndexError);
  CHECK_THROWS_AS(gather(s, 0, IndexTensor{1}), IndexError);
  CHECK_THROWS_AS(sum(s, {1}), IndexError);
  CHECK_THROWS_AS(triu(s), ShapeError);
  CHECK(IndexTensor({7}, {}).squeeze(0).dim() == 0);
  CHECK(IndexTensor({7}, {}).squeeze(-1).item() == 7);
  CHECK(std::isnan(var(s, {0}).item()));  // n - 1 = 0, as PyTorch
  CHECK(softmax(s, 0).item() == 1.f);
  CHECK(one_hot(IndexTensor({2}, {}), 4).shape() == Shape{4});
}

TEST_CASE("defect: pow(x, 0) has a zero gradient at x = 0") {
  Tensor x = tensor({0.f, 2.f}, true);
  sum(pow(x, 0.f)).backward();
  CHECK(x.grad().to_vector() == std::vector<float>{0.f, 0.f});  // was NaN at 0
}

TEST_CASE("defect: max and min of everything keep NaN, as along a dim") {
  Tensor a = tensor({1.f, NAN, 3.f});
  CHECK(std::isnan(max(a).item()));  // was 3
  CHECK(std::isnan(min(a).item()));
  CHECK(std::isnan(std::get<0>(max(a, 0)).item()));
  CHECK(argmax(a).item() == 1);
  CHECK(std::isnan(amax(a, {0}).item()));
}

TEST_CASE("defect: sum over dims accumulates in double, as the full sum") {
  Tensor a = tensor({1e8f, 1.f, -1e8f, 1.f, 1e8f, -1e8f}, {2, 3});
  CHECK(sum(a, {1}).to_vector() == std::vector<float>{1.f, 1.f});  // float gave 0
  CHECK(sum(a.transpose(0, 1), {0}).to_vector() == std::vector<float>{1.f, 1.f});
  CHECK(mean(a, {1}).to_vector() == std::vector<float>{1.f / 3.f, 1.f / 3.f});
  CHECK(sum(a).item() == 2.f);
}

TEST_CASE("member forms forward to the free functions") {
  manual_seed(13);
  Tensor x = randn({3, 4}), y = randn({4, 2}), m = tensor({1, 0, 0, 1}, {1, 4}, kBool);
  CHECK(x.exp().equal(exp(x)));
  CHECK(x.pow(2.f).equal(pow(x, 2.f)));
  CHECK(x.clamp(-0.5f, 0.5f).equal(clamp(x, -0.5f, 0.5f)));
  CHECK(x.sum().equal(sum(x)));
  CHECK(x.sum({1}, true).equal(sum(x, {1}, true)));
  CHECK(x.mean({0}).equal(mean(x, {0})));
  CHECK(x.max().equal(max(x)));
  auto [values, indices] = x.max(1);
  CHECK(values.equal(amax(x, {1})));
  CHECK(equal(indices, argmax(x, 1)));
  CHECK(equal(std::get<1>(x.min(0, true)), x.argmin(0, true)));
  CHECK(x.std({1}).equal(ember::std(x, {1})));
  CHECK(x.var({}, false).equal(var(x, {}, false)));
  CHECK_FALSE(x.var({1}).equal(x.var()));  // {1} is a dim list, never a bool
  CHECK(x.norm(1.f, {0}).equal(norm(x, 1.f, {0})));
  CHECK(x.matmul(y).equal(matmul(x, y)));
  CHECK(x.softmax(1).equal(softmax(x, 1)));
  CHECK(x.log_softmax(0).equal(log_softmax(x, 0)));
  CHECK(x.masked_fill(m, 0.f).equal(masked_fill(x, m, 0.f)));
  CHECK(x.index_select(1, IndexTensor{3, 0}).equal(index_select(x, 1, IndexTensor{3, 0})));
  CHECK(x.sum().item<double>() == static_cast<double>(sum(x).item()));
  CHECK(tensor({2.7f}).item<int>() == 2);
  CHECK_FALSE(x.equal(x + 1.f));
  CHECK_FALSE(x.equal(x.reshape({4, 3})));  // same values, another shape
  CHECK_FALSE(equal(tensor({NAN}), tensor({NAN})));
}

TEST_CASE("IndexTensor: elementwise comparisons, equal, sum, item<T>, conversions") {
  IndexTensor pred{1, 0, 2, 2}, labels{1, 2, 2, 0};
  CHECK((pred == labels).to_vector() == std::vector<float>{1, 0, 1, 0});
  CHECK((pred != labels).to_vector() == std::vector<float>{0, 1, 0, 1});
  CHECK((pred < labels).to_vector() == std::vector<float>{0, 1, 0, 0});
  CHECK((pred <= labels).to_vector() == std::vector<float>{1, 1, 1, 0});
  CHECK((pred > labels).to_vector() == std::vector<float>{0, 0, 0, 1});
  CHECK((pred >= labels).to_vector() == std::vector<float>{1, 0, 1, 1});
  CHECK((pred >= 2).to_vector() == std::vector<float>{0, 0, 1, 1});
  CHECK((pred < 1).to_vector() == std::vector<float>{0, 1, 0, 0});
  // Broadcasting, as PyTorch: [2,1] against [3].
  CHECK((IndexTensor({0, 1}, {2, 1}) == IndexTensor{0, 1, 0}).shape() == Shape{2, 3});
  CHECK_THROWS_AS(pred == IndexTensor({1, 2}), ShapeError);
  CHECK(sum(pred == labels).item() == 2.f);  // accuracy counting, the PyTorch way
  CHECK(pred.sum().item() == 5);
  CHECK(pred.sum().dim() == 0);
  CHECK(pred.sum().item<double>() == 5.0);
  CHECK(pred.numel() == 4);
  CHECK(equal(pred, IndexTensor{1, 0, 2, 2}));
  CHECK_FALSE(equal(pred, labels));
  CHECK_FALSE(equal(pred, pred.reshape({2, 2})));
  CHECK(equal(to_index(tensor({2.9f, -1.5f, 0.f}, {3, 1})), IndexTensor({2, -1, 0}, {3, 1})));
  CHECK(to_float(IndexTensor({3, -4}, {1, 2})).equal(tensor({3.f, -4.f}, {1, 2})));
  CHECK_THROWS_WITH_AS(to_index(tensor({1.f, NAN})),
                       "to_index: value nan at element 1 is not a finite number within int64",
                       ValueError);
}
