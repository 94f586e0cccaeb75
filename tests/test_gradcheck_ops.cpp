// Central differences against autograd for every core op, with broadcasting shapes,
// non-contiguous dims and batched matmul.
#include <ember/ember.hpp>

#include "gradcheck.hpp"

using namespace ember;
namespace F = ember::nn::functional;
using Inputs = std::vector<Tensor>;

namespace {
Tensor rn(const Shape& s) { return randn(s, true); }
Tensor positive(const Shape& s) { return (rand(s) + 0.5f).detach().requires_grad_(true); }
}  // namespace

TEST_CASE("gradcheck: binary ops with broadcasting") {
  manual_seed(1);
  std::vector<std::pair<Shape, Shape>> shapes = {
      {{3, 4}, {3, 4}}, {{3, 4}, {4}}, {{2, 3, 4}, {3, 1}}, {{1, 4}, {3, 1}}, {{3, 4}, {}}};
  for (auto& [sa, sb] : shapes) {
    CAPTURE(detail::shape_str(sa));
    CAPTURE(detail::shape_str(sb));
    CHECK_GRADCHECK([](const Inputs& x) { return x[0] + x[1]; }, {rn(sa), rn(sb)});
    CHECK_GRADCHECK([](const Inputs& x) { return x[0] - x[1]; }, {rn(sa), rn(sb)});
    CHECK_GRADCHECK([](const Inputs& x) { return x[0] * x[1]; }, {rn(sa), rn(sb)});
    CHECK_GRADCHECK([](const Inputs& x) { return x[0] / x[1]; }, {rn(sa), positive(sb)});
  }
}

TEST_CASE("gradcheck: scalar variants and unary ops") {
  manual_seed(2);
  Shape s{3, 5};
  CHECK_GRADCHECK([](const Inputs& x) { return 2.f * x[0] + 1.f; }, {rn(s)});
  CHECK_GRADCHECK([](const Inputs& x) { return 3.f - x[0] / 2.f; }, {rn(s)});
  CHECK_GRADCHECK([](const Inputs& x) { return 1.5f / x[0]; }, {positive(s)});
  CHECK_GRADCHECK([](const Inputs& x) { return -x[0]; }, {rn(s)});
  CHECK_GRADCHECK([](const Inputs& x) { return pow(x[0], 3.f); }, {rn(s)});
  CHECK_GRADCHECK([](const Inputs& x) { return pow(x[0], 0.5f); }, {positive(s)});
  CHECK_GRADCHECK([](const Inputs& x) { return exp(x[0]); }, {rn(s)});
  CHECK_GRADCHECK([](const Inputs& x) { return log(x[0]); }, {positive(s)});
  CHECK_GRADCHECK([](const Inputs& x) { return sqrt(x[0]); }, {positive(s)});
  CHECK_GRADCHECK([](const Inputs& x) { return abs(x[0]); }, {rn(s)});
  CHECK_GRADCHECK([](const Inputs& x) { return clamp(x[0], -0.5f, 0.5f); }, {rn(s)});
}

TEST_CASE("gradcheck: activations and softmax over every dim") {
  manual_seed(3);
  Shape s{2, 3, 4};
  CHECK_GRADCHECK([](const Inputs& x) { return relu(x[0]); }, {rn(s)});
  CHECK_GRADCHECK([](const Inputs& x) { return leaky_relu(x[0], 0.1f); }, {rn(s)});
  CHECK_GRADCHECK([](const Inputs& x) { return sigmoid(x[0]); }, {rn(s)});
  CHECK_GRADCHECK([](const Inputs& x) { return tanh(x[0]); }, {rn(s)});
  CHECK_GRADCHECK([](const Inputs& x) { return gelu(x[0]); }, {rn(s)});
  CHECK_GRADCHECK([](const Inputs& x) { return gelu(x[0], "tanh"); }, {rn(s)});
  for (int64_t dim : {0, 1, 2, -1}) {
    CAPTURE(dim);
    CHECK_GRADCHECK([dim](const Inputs& x) { return softmax(x[0], dim); }, {rn(s)});
    CHECK_GRADCHECK([dim](const Inputs& x) { return log_softmax(x[0], dim); }, {rn(s)});
  }
}

TEST_CASE("gradcheck: matmul 2-D, batched 3-D x 2-D and 3-D x 3-D, linear") {
  manual_seed(4);
  CHECK_GRADCHECK([](const Inputs& x) { return matmul(x[0], x[1]); }, {rn({3, 4}), rn({4, 5})});
  CHECK_GRADCHECK([](const Inputs& x) { return matmul(x[0], x[1]); }, {rn({2, 3, 4}), rn({4, 5})});
  CHECK_GRADCHECK([](const Inputs& x) { return matmul(x[0], x[1]); },
                  {rn({2, 3, 4}), rn({2, 4, 5})});
  // A transposed operand: the product must not depend on how its input was made.
  CHECK_GRADCHECK([](const Inputs& x) { return matmul(x[0].transpose(0, 1), x[1]); },
                  {rn({4, 3}), rn({4, 2})});
  CHECK_GRADCHECK([](const Inputs& x) { return linear(x[0], x[1], x[2]); },
                  {rn({2, 3, 4}), rn({5, 4}), rn({5})});
  CHECK_GRADCHECK([](const Inputs& x) { return linear(x[0], x[1]); }, {rn({3, 4}), rn({5, 4})});
  // addmm: a bias row added by the product, a transposed mat2, and an input that broadcasts
  CHECK_GRADCHECK([](const Inputs& x) { return addmm(x[0], x[1], x[2]); },
                  {rn({5}), rn({3, 4}), rn({4, 5})});
  CHECK_GRADCHECK([](const Inputs& x) { return addmm(x[0], x[1], x[2].t()); },
                  {rn({5}), rn({3, 4}), rn({5, 4})});
  CHECK_GRADCHECK([](const Inputs& x) { return addmm(x[0], x[1], x[2]); },
                  {rn({3, 1}), rn({3, 4}), rn({4, 5})});
}

TEST_CASE("addmm: input + mat1 · mat2 in float32, and its errors") {
  manual_seed(14);
  const Tensor b = randn({6}), a = randn({4, 3}), w = randn({3, 6});
  std::vector<Tensor> fused{b.clone().requires_grad_(true), a.clone().requires_grad_(true),
                            w.clone().requires_grad_(true)};
  std::vector<Tensor> apart{b.clone().requires_grad_(true), a.clone().requires_grad_(true),
                            w.clone().requires_grad_(true)};
  const Tensor g = randn({4, 6});
  Tensor y = addmm(fused[0], fused[1], fused[2]);
  y.backward(g);
  (apart[0] + matmul(apart[1], apart[2])).backward(g);
  CHECK(amax(abs(y - (b + matmul(a, w))), {}).item() < 1e-5f);
  for (int i = 0; i < 3; ++i) {
    CAPTURE(i);
    CHECK(amax(abs(fused[i].grad() - apart[i].grad()), {}).item() < 1e-5f);
  }
  CHECK_THROWS_WITH_AS(addmm(b, a, randn({4, 6})),
                       "addmm: shapes [4,3] and [4,6] cannot be multiplied (3 != 4)", ShapeError);
  CHECK_THROWS_WITH_AS(addmm(randn({5}), a, w), doctest::Contains("addmm"), ShapeError);
  CHECK_THROWS_WITH_AS(addmm(b, randn({4}), w), doctest::Contains("must be 2-D"), ShapeError);
  // A float64 input with float32 matrices: PyTorch's error, in either form (no promotion).
  CHECK_THROWS_WITH_AS(addmm(b.to(kFloat64), a, w), doctest::Contains("addmm"), DtypeError);
  CHECK_THROWS_WITH_AS(addmm(randn({4, 6}).to(kFloat64), a, w), doctest::Contains("addmm"),
                       DtypeError);
}

TEST_CASE("gradcheck: reductions over all, single and non-contiguous dims") {
  manual_seed(5);
  Shape s{2, 3, 4};
  CHECK_GRADCHECK([](const Inputs& x) { return sum(x[0]); }, {rn(s)});
  CHECK_GRADCHECK([](const Inputs& x) { return mean(x[0]); }, {rn(s)});
  CHECK_GRADCHECK([](const Inputs& x) { return sum(x[0], {0, 2}); }, {rn(s)});
  CHECK_GRADCHECK([](const Inputs& x) { return sum(x[0], {-1}, true); }, {rn(s)});
  CHECK_GRADCHECK([](const Inputs& x) { return mean(x[0], {0, 2}, true); }, {rn(s)});
  CHECK_GRADCHECK([](const Inputs& x) { return mean(x[0], {1}); }, {rn(s)});
  CHECK_GRADCHECK([](const Inputs& x) { return max(x[0]); }, {rn(s)});
  CHECK_GRADCHECK([](const Inputs& x) { return std::get<0>(max(x[0], 1)); }, {rn(s)});
  CHECK_GRADCHECK([](const Inputs& x) { return std::get<0>(max(x[0], 0, true)); }, {rn(s)});
}

TEST_CASE("gradcheck: shape ops") {
  manual_seed(6);
  Shape s{2, 3, 4};
  CHECK_GRADCHECK([](const Inputs& x) { return x[0].reshape({4, -1}) * 2.f; }, {rn(s)});
  CHECK_GRADCHECK([](const Inputs& x) { return x[0].transpose(0, 2); }, {rn(s)});
  CHECK_GRADCHECK([](const Inputs& x) { return x[0].permute({1, 2, 0}); }, {rn(s)});
  CHECK_GRADCHECK([](const Inputs& x) { return x[0].flatten(1); }, {rn(s)});
  CHECK_GRADCHECK([](const Inputs& x) { return x[0].unsqueeze(1).squeeze(1); }, {rn(s)});
  CHECK_GRADCHECK([](const Inputs& x) { return x[0].clone(); }, {rn(s)});
}

TEST_CASE("gradcheck: joining and indexing") {
  manual_seed(7);
  CHECK_GRADCHECK([](const Inputs& x) { return cat({x[0], x[1]}, 1); }, {rn({2, 3}), rn({2, 2})});
  CHECK_GRADCHECK([](const Inputs& x) { return cat({x[0], x[1]}, 0); }, {rn({2, 3}), rn({1, 3})});
  CHECK_GRADCHECK([](const Inputs& x) { return stack({x[0], x[1]}, 1); }, {rn({2, 3}), rn({2, 3})});
  IndexTensor rows{2, 0, 2};
  CHECK_GRADCHECK([&](const Inputs& x) { return index_select(x[0], 0, rows); }, {rn({3, 4})});
  CHECK_GRADCHECK([&](const Inputs& x) { return index_select(x[0], 1, rows); }, {rn({2, 3, 2})});
  IndexTensor idx({0, 2, 1, 1, 0, 0}, {2, 3});
  CHECK_GRADCHECK([&](const Inputs& x) { return gather(x[0], 1, idx); }, {rn({2, 4})});
  CHECK_GRADCHECK(
      [&](const Inputs& x) {
        return gather(x[0], 0, idx.reshape({3, 2}).reshape({2, 3}));
      },
      {rn({3, 3})});
  Tensor mask = tensor({1, 0, 1, 0, 0, 1}, {2, 3}, kBool);
  CHECK_GRADCHECK([&](const Inputs& x) { return where(mask, x[0], x[1]); }, {rn({2, 3}), rn({3})});
  CHECK_GRADCHECK([&](const Inputs& x) { return masked_fill(x[0], mask, -2.f); }, {rn({2, 3})});
}

TEST_CASE("gradcheck: losses") {
  manual_seed(8);
  IndexTensor targets{1, 0, 3, 2};
  CHECK_GRADCHECK([&](const Inputs& x) { return F::cross_entropy(x[0], targets); }, {rn({4, 5})});
  CHECK_GRADCHECK(
      [&](const Inputs& x) {
        return F::cross_entropy(x[0], IndexTensor{1, -100, 3, 2},
                                F::CrossEntropyOptions().label_smoothing(0.1));
      },
      {rn({4, 5})});
  CHECK_GRADCHECK(
      [&](const Inputs& x) {
        return F::cross_entropy(x[0], targets,
                                F::CrossEntropyOptions().reduction(F::Reduction::None));
      },
      {rn({4, 5})});
  CHECK_GRADCHECK(
      [&](const Inputs& x) {
        return F::cross_entropy(x[0], targets,
                                F::CrossEntropyOptions().reduction(F::Reduction::Sum));
      },
      {rn({4, 5})});
  CHECK_GRADCHECK([&](const Inputs& x) { return F::nll_loss(log_softmax(x[0], 1), targets); },
                  {rn({4, 5})});
  CHECK_GRADCHECK([](const Inputs& x) { return F::mse_loss(x[0], x[1]); },
                  {rn({3, 2}), rn({3, 2})});
  CHECK_GRADCHECK([](const Inputs& x) { return F::binary_cross_entropy_with_logits(x[0], x[1]); },
                  {rn({3, 2}), rand({3, 2}, true)});
  Tensor mask = tensor({1, 1, 0, 1, 0, 0}, {2, 3}, kBool);
  CHECK_GRADCHECK([&](const Inputs& x) { return F::masked_mean(x[0], mask, 1); }, {rn({2, 3, 4})});
}
