// Reductions, statistics and comparisons of float64 tensors: each op's float64 result against
// its float32 result on the same values (they differ by float32's rounding only), the result's
// dtype, and views read through their strides. The gradients are checked by the gradcheck
// tests (float64 by default).
#include <cmath>
#include <ember/ember.hpp>

#include "gradcheck.hpp"

using namespace ember;
using Inputs = std::vector<Tensor>;

namespace {

// f on x in float64 matches f on x in float32 to float32's rounding, and is float64.
template <class F>
void check_like_float32(F f, const Tensor& x, double tol = 1e-5) {
  const Tensor single = f(x.to(kFloat32));
  const Tensor dbl = f(x.to(kFloat64));
  CHECK(dbl.dtype() == kFloat64);
  REQUIRE(dbl.shape() == single.shape());
  const std::vector<double> a = detail::values_as_double(dbl);
  const std::vector<double> b = detail::values_as_double(single);
  for (size_t i = 0; i < a.size(); ++i) {
    CAPTURE(i);
    if (std::isnan(b[i])) {
      CHECK(std::isnan(a[i]));
      continue;
    }
    CHECK(std::abs(a[i] - b[i]) <= tol * std::max(1.0, std::abs(b[i])));
  }
}

Tensor values64(const Shape& s) { return randn(s).to(kFloat64); }

}  // namespace

TEST_CASE("float64: sum and mean over all, given and non-contiguous dims") {
  manual_seed(21);
  const Tensor x = values64({3, 4, 5});
  check_like_float32([](const Tensor& t) { return sum(t); }, x);
  check_like_float32([](const Tensor& t) { return mean(t); }, x);
  check_like_float32([](const Tensor& t) { return sum(t, {0, 2}); }, x);
  check_like_float32([](const Tensor& t) { return sum(t, {-1}, true); }, x);
  check_like_float32([](const Tensor& t) { return mean(t, {1}); }, x);
  check_like_float32([](const Tensor& t) { return mean(t, {0, 2}, true); }, x);
  // A float64 view summed through its strides (and the element sum of a narrow's storage).
  CHECK_FALSE(x.transpose(0, 2).is_contiguous());
  check_like_float32([](const Tensor& t) { return sum(t.transpose(0, 2)); }, x);
  check_like_float32([](const Tensor& t) { return mean(t.transpose(0, 2), {0}); }, x);
  // float64 keeps what float32 rounds away.
  Tensor fine = tensor({1.0, 1e-12, -1.0}, {3}, kFloat64);
  CHECK(sum(fine).item<double>() == doctest::Approx(1e-12).epsilon(1e-6));
  CHECK(mean(tensor({0.1, 0.2}, {2}, kFloat64)).item<double>() == 0.15000000000000002);
  // Empty: 0 and NaN, as PyTorch.
  CHECK(sum(zeros({0, 3}).to(kFloat64), {0}).to_vector() == std::vector<float>{0.f, 0.f, 0.f});
  CHECK(std::isnan(mean(zeros({0}).to(kFloat64)).item<double>()));
  // Gradients are float64 and exact.
  Tensor w = tensor({1.0, 2.0, 3.0, 4.0}, {2, 2}, kFloat64).requires_grad_();
  mean(w, {1}).sum().backward();
  CHECK(w.grad().dtype() == kFloat64);
  CHECK(detail::values_as_double(w.grad()) == std::vector<double>{0.5, 0.5, 0.5, 0.5});
  CHECK_THROWS_AS(sum(zeros({2}).to(kBFloat16)), DtypeError);
}

TEST_CASE("float64: max, min, amax, amin and argmax/argmin, with NaN and views") {
  manual_seed(22);
  const Tensor x = values64({3, 4, 5});
  check_like_float32([](const Tensor& t) { return max(t); }, x, 0);
  check_like_float32([](const Tensor& t) { return min(t); }, x, 0);
  check_like_float32([](const Tensor& t) { return amax(t, {0, 2}, true); }, x, 0);
  check_like_float32([](const Tensor& t) { return amin(t.transpose(0, 2), {1}); }, x, 0);
  check_like_float32([](const Tensor& t) { return std::get<0>(max(t, 1)); }, x, 0);
  check_like_float32([](const Tensor& t) { return std::get<0>(min(t.transpose(0, 2), 0, true)); },
                     x, 0);
  const Tensor x32 = x.to(kFloat32);
  CHECK(std::get<1>(max(x, 2)).to_vector() == std::get<1>(max(x32, 2)).to_vector());
  CHECK(argmax(x, 1).to_vector() == argmax(x32, 1).to_vector());
  CHECK(argmin(x.transpose(0, 2), 0, true).to_vector() ==
        argmin(x32.transpose(0, 2), 0, true).to_vector());
  CHECK(argmax(x).item() == argmax(x32).item());
  CHECK(argmin(x).item() == argmin(x32).item());
  // Values float32 cannot tell apart.
  const Tensor close = tensor({1.0, 1.0 + 1e-12, 1.0 - 1e-12}, {3}, kFloat64);
  CHECK(argmax(close).item() == 1);
  CHECK(argmin(close).item() == 2);
  CHECK(max(close).item<double>() == 1.0 + 1e-12);
  const Tensor with_nan = tensor({1.0, NAN, 3.0}, {3}, kFloat64);
  CHECK(std::isnan(max(with_nan).item<double>()));
  CHECK(argmin(with_nan).item() == 1);
  // Ties share amax's gradient, in float64.
  Tensor tied = tensor({2.0, 2.0, 1.0}, {3}, kFloat64).requires_grad_();
  amax(tied, {0}).backward();
  CHECK(detail::values_as_double(tied.grad()) == std::vector<double>{0.5, 0.5, 0.0});
  CHECK_THROWS_WITH_AS(argmax(zeros({2}).to(kBFloat16)), doctest::Contains("argmax"), DtypeError);
}

TEST_CASE("float64: var, std, norm, logsumexp, cumsum and topk") {
  manual_seed(23);
  const Tensor x = values64({3, 4, 5});
  check_like_float32([](const Tensor& t) { return var(t); }, x);
  check_like_float32([](const Tensor& t) { return var(t, {0, 2}, false, true); }, x);
  check_like_float32([](const Tensor& t) { return ember::std(t.transpose(0, 2), {1}); }, x);
  check_like_float32([](const Tensor& t) { return logsumexp(t, {0, 2}); }, x);
  for (float p : {1.f, 2.f, 3.f, 0.5f, INFINITY}) {
    CAPTURE(p);
    check_like_float32([p](const Tensor& t) { return norm(t, p, {1}); }, x);
  }
  check_like_float32([](const Tensor& t) { return norm(t); }, x);
  for (int64_t dim : {0, 1, -1}) {
    CAPTURE(dim);
    check_like_float32([dim](const Tensor& t) { return cumsum(t, dim); }, x);
    check_like_float32([dim](const Tensor& t) { return std::get<0>(topk(t, 2, dim)); }, x, 0);
    check_like_float32(
        [dim](const Tensor& t) { return std::get<0>(topk(t.transpose(0, 2), 3, dim, false)); }, x,
        0);
    CHECK(std::get<1>(topk(x, 2, dim)).to_vector() ==
          std::get<1>(topk(x.to(kFloat32), 2, dim)).to_vector());
  }
  // float64 keeps the variance of values float32 would round together.
  const Tensor near = tensor({1e8, 1e8 + 1, 1e8 + 2}, {3}, kFloat64);
  CHECK(var(near).item<double>() == 1.0);
  CHECK(cumsum(tensor({1.0, 1e-12}, {2}, kFloat64), 0).to(kFloat64).data_ptr<double>()[1] ==
        1.0 + 1e-12);
  CHECK(logsumexp(tensor({0.0, 0.0}, {2}, kFloat64), {0}).item<double>() == std::log(2.0));
  CHECK(cumsum(scalar_tensor(2.5f).to(kFloat64), 0).item<double>() == 2.5);
}

TEST_CASE("float64: masked_mean") {
  manual_seed(24);
  namespace F = ember::nn::functional;
  const Tensor x = values64({2, 3, 4});
  const Tensor mask = tensor({1.f, 1.f, 0.f, 1.f, 0.f, 0.f}, {2, 3}) != 0.f;
  check_like_float32([&](const Tensor& t) { return F::masked_mean(t, mask, 1); }, x);
  check_like_float32(
      [&](const Tensor& t) { return F::masked_mean(t.transpose(0, 1), mask.t(), 0); }, x);
  CHECK_GRADCHECK([&](const Inputs& in) { return F::masked_mean(in[0], mask, 1); },
                  {x.detach().requires_grad_()});
}

TEST_CASE("float64: comparisons, all/any and equal") {
  const Tensor a = tensor({1.0, 2.0, 1.0 + 1e-12, NAN}, {4}, kFloat64);
  const Tensor b = tensor({1.0, 3.0, 1.0, NAN}, {4}, kFloat64);
  CHECK((a == b).dtype() == kBool);
  CHECK((a == b).to_vector() == std::vector<float>{1, 0, 0, 0});  // 1 + 1e-12 != 1 in float64
  CHECK((a != b).to_vector() == std::vector<float>{0, 1, 1, 1});
  CHECK((a < b).to_vector() == std::vector<float>{0, 1, 0, 0});
  CHECK((a <= b).to_vector() == std::vector<float>{1, 1, 0, 0});
  CHECK((a > b).to_vector() == std::vector<float>{0, 0, 1, 0});
  CHECK((a >= b).to_vector() == std::vector<float>{1, 0, 1, 0});
  CHECK((a > 1.f).to_vector() == std::vector<float>{0, 1, 1, 0});
  CHECK(eq(a, 2.f).to_vector() == std::vector<float>{0, 1, 0, 0});
  // A float32 operand is promoted to float64 (PyTorch's promotion), broadcasting as ever.
  const Tensor column = tensor({1.f, 2.f}, {2, 1});
  CHECK((a == column).shape() == Shape{2, 4});
  CHECK((a == column).to_vector() == std::vector<float>{1, 0, 0, 0, 0, 1, 0, 0});
  CHECK((column < a).to_vector() == std::vector<float>{0, 1, 1, 0, 0, 0, 0, 0});
  // Bool operands compare as 0/1, views through their strides.
  const Tensor m = tensor({1.0, 0.0, 2.0, 0.0}, {2, 2}, kFloat64);
  CHECK((m.t() == (m.t() != 0.f)).to_vector() == std::vector<float>{1, 0, 1, 1});
  CHECK(logical_and(m, m.t()).to_vector() == std::vector<float>{1, 0, 0, 0});
  CHECK(any(m).item() == 1.f);
  CHECK(all(m).item() == 0.f);
  CHECK(all(m, 1).to_vector() == std::vector<float>{0, 0});
  CHECK(any(m, 0, true).to_vector() == std::vector<float>{1, 0});
  CHECK(all(ones({3}).to(kFloat64)).item() == 1.f);
  CHECK(equal(m, m.t().t()));
  CHECK_FALSE(equal(m, m.t()));
  CHECK_FALSE(equal(m, m.to(kFloat32)));  // dtypes differ, as torch.equal
  CHECK_FALSE(equal(a, a));               // NaN != NaN
}
