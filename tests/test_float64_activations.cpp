// Activations, softmax, losses, dropout and layer_norm in float64: each computes in double
// (checked against the formula evaluated in double, or against float32 within its rounding),
// keeps the dtype through backward, and takes float32's path unchanged. Their float64
// gradchecks are in test_gradcheck_ops.cpp and test_ops_more.cpp (gradcheck's default dtype).
#include <cmath>
#include <ember/ember.hpp>
#include <functional>
#include <string>
#include <vector>

#include "gradcheck.hpp"

using namespace ember;
namespace F = ember::nn::functional;
using Inputs = std::vector<Tensor>;

namespace {
// n doubles spread over [-4, 4] in no order, not one of them a float32 value.
std::vector<double> spread(int64_t n) {
  std::vector<double> v(static_cast<size_t>(n));
  for (size_t i = 0; i < v.size(); ++i) v[i] = 4.0 * std::sin(1.7 * static_cast<double>(i) + 0.1);
  return v;
}
Tensor spread64(const Shape& shape, bool requires_grad = false) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return tensor(spread(n), shape, kFloat64, requires_grad);
}
std::vector<double> values(const Tensor& t) { return detail::values_as_double(t); }

// |a - b| <= tol * max(1, |b|) element by element.
void check_close(const std::vector<double>& a, const std::vector<double>& b, double tol) {
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    CAPTURE(i);
    CHECK(std::abs(a[i] - b[i]) <= tol * std::max(1.0, std::abs(b[i])));
  }
}
}  // namespace

TEST_CASE("float64 activations compute in double: the formula evaluated in double") {
  using Op = std::function<Tensor(const Tensor&)>;
  using Ref = std::function<double(double)>;
  const double slope = 0.1f;  // the API takes float: float64 computes with that value widened
  const std::vector<std::tuple<std::string, Op, Ref>> ops{
      {"relu", [](const Tensor& x) { return relu(x); }, [](double x) { return x > 0 ? x : 0.0; }},
      {"leaky_relu", [](const Tensor& x) { return leaky_relu(x, 0.1f); },
       [=](double x) { return x > 0 ? x : x * slope; }},
      {"sigmoid", [](const Tensor& x) { return sigmoid(x); },
       [](double x) { return 1 / (1 + std::exp(-x)); }},
      {"tanh", [](const Tensor& x) { return tanh(x); }, [](double x) { return std::tanh(x); }},
      {"gelu", [](const Tensor& x) { return gelu(x); },
       [](double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }},
      {"gelu_tanh", [](const Tensor& x) { return gelu(x, "tanh"); },
       [](double x) {
         return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
       }},
      {"silu", [](const Tensor& x) { return silu(x); },
       [](double x) { return x / (1 + std::exp(-x)); }},
      {"softplus", [](const Tensor& x) { return softplus(x, 2.f, 1.f); },
       [](double x) { return 2 * x > 1 ? x : std::log1p(std::exp(2 * x)) / 2; }},
  };
  const Tensor x = spread64({3, 4, 5});
  const std::vector<double> in = values(x);
  for (const auto& [name, op, ref] : ops) {
    CAPTURE(name);
    const Tensor y = op(x);
    CHECK(y.dtype() == kFloat64);
    std::vector<double> want(in.size());
    for (size_t i = 0; i < in.size(); ++i) want[i] = ref(in[i]);
    check_close(values(y), want, 1e-13);
    // float32 takes its own path, within float32's rounding of the same values
    const Tensor y32 = op(x.to(kFloat32));
    CHECK(y32.dtype() == kFloat32);
    check_close(values(y32), values(y), 1e-6);
  }
}

// float32's tanh GELU runs a vectorized kernel (x sigmoid(2u), one exp a lane): its values and
// gradient against the formula in double, over a range wider than the clamps of its exp, and
// at the ends.
TEST_CASE("float32 gelu tanh: values and gradient within float32 rounding of double's") {
  std::vector<float> in;
  for (int i = -3000; i <= 3000; ++i) in.push_back(static_cast<float>(i) * 0.01f);  // [-30, 30]
  for (float tiny : {1e-30f, -1e-30f, 1e-8f, -1e-8f, 0.f, -0.f}) in.push_back(tiny);
  const Tensor x = tensor(in, Shape{static_cast<int64_t>(in.size())}).requires_grad_(true);
  const Tensor y = gelu(x, "tanh");
  sum(y).backward();
  const std::vector<float> got = y.to_vector(), grad = x.grad().to_vector();
  const double k = std::sqrt(2 / M_PI), c = 0.044715;
  for (size_t i = 0; i < in.size(); ++i) {
    CAPTURE(in[i]);
    // 0.5 (1 + tanh u) as sigmoid(2u): 1 + tanh u cancels to nothing in double too for u < -19
    const double v = in[i], u = k * (v + c * v * v * v), s = 1 / (1 + std::exp(-2 * u));
    const double want = v * s, dwant = s + 2 * v * s * (1 - s) * k * (1 + 3 * c * v * v);
    // float32's rounding of u alone moves exp(-2u) by |2u| ulps: the tail's relative error
    const double tol = 4e-7 * (1 + 2 * std::abs(u));
    CHECK(std::abs(got[i] - want) <= tol * std::abs(want) + 1e-37);
    CHECK(std::abs(grad[i] - dwant) <= tol * std::max(1.0, std::abs(dwant)) + 1e-37);
  }
  const Tensor ends = gelu(tensor({INFINITY, -INFINITY, NAN, -1e30f, 1e30f}, Shape{5}), "tanh");
  const std::vector<float> e = ends.to_vector();
  CHECK(e[0] == INFINITY);
  CHECK(std::isnan(e[1]));  // -inf * 0, as PyTorch's 0.5 x (1 + tanh)
  CHECK(std::isnan(e[2]));
  CHECK(e[3] == 0.f);
  CHECK(e[4] == 1e30f);
}

TEST_CASE("float64 softmax and log_softmax over every dim match double sums") {
  const Tensor x = spread64({2, 3, 4});
  const std::vector<double> in = values(x);
  const Shape s = x.shape();
  for (int64_t dim : {0, 1, 2}) {
    CAPTURE(dim);
    // The reference: each line along dim normalised in double.
    int64_t inner = 1;
    for (int64_t d = dim + 1; d < 3; ++d) inner *= s[d];
    const int64_t n = s[dim], outer = x.numel() / (n * inner);
    std::vector<double> soft(in.size()), logsoft(in.size());
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < inner; ++i) {
        auto at = [&](int64_t k) { return static_cast<size_t>((o * n + k) * inner + i); };
        double total = 0;
        for (int64_t k = 0; k < n; ++k) total += std::exp(in[at(k)]);
        for (int64_t k = 0; k < n; ++k) {
          soft[at(k)] = std::exp(in[at(k)]) / total;
          logsoft[at(k)] = in[at(k)] - std::log(total);
        }
      }
    check_close(values(softmax(x, dim)), soft, 1e-14);
    check_close(values(log_softmax(x, dim)), logsoft, 1e-14);
    CHECK(softmax(x, dim).dtype() == kFloat64);
    check_close(values(softmax(x.to(kFloat32), dim)), soft, 1e-6);
    check_close(values(log_softmax(x.to(kFloat32), dim)), logsoft, 1e-6);
  }
}

TEST_CASE("float64 losses: values in double, float64 gradients, float32 within rounding") {
  const IndexTensor targets{1, 0, 3, 2};
  const std::vector<std::pair<std::string, std::function<Tensor(const Tensor&, const Tensor&)>>>
      losses{
          {"cross_entropy",
           [&](const Tensor& x, const Tensor&) { return F::cross_entropy(x, targets); }},
          {"cross_entropy smoothed, ignoring",
           [&](const Tensor& x, const Tensor&) {
             return F::cross_entropy(x, IndexTensor{1, -100, 3, 2},
                                     F::CrossEntropyOptions().label_smoothing(0.1));
           }},
          {"cross_entropy sum",
           [&](const Tensor& x, const Tensor&) {
             return F::cross_entropy(x, targets,
                                     F::CrossEntropyOptions().reduction(F::Reduction::Sum));
           }},
          {"cross_entropy none",
           [&](const Tensor& x, const Tensor&) {
             return F::cross_entropy(x, targets,
                                     F::CrossEntropyOptions().reduction(F::Reduction::None));
           }},
          {"nll_loss",
           [&](const Tensor& x, const Tensor&) { return F::nll_loss(log_softmax(x, 1), targets); }},
          {"mse_loss", [](const Tensor& x, const Tensor& y) { return F::mse_loss(x, y); }},
          {"mse_loss none",
           [](const Tensor& x, const Tensor& y) { return F::mse_loss(x, y, F::Reduction::None); }},
          {"bce_with_logits",
           [](const Tensor& x, const Tensor& y) {
             return F::binary_cross_entropy_with_logits(x, sigmoid(y));
           }},
      };
  for (const auto& [name, loss] : losses) {
    CAPTURE(name);
    Tensor x = spread64({4, 5}, true);
    Tensor y = (spread64({4, 5}) * 0.3f).detach().requires_grad_(true);
    const Tensor out = loss(x, y);
    CHECK(out.dtype() == kFloat64);
    sum(out).backward();
    REQUIRE(x.grad().defined());
    CHECK(x.grad().dtype() == kFloat64);
    Tensor x32 = x.detach().to(kFloat32).requires_grad_(true);
    Tensor y32 = y.detach().to(kFloat32).requires_grad_(true);
    const Tensor out32 = loss(x32, y32);
    CHECK(out32.dtype() == kFloat32);
    sum(out32).backward();
    check_close(values(out32), values(out), 1e-5);
    check_close(values(x32.grad()), values(x.grad()), 1e-5);
  }
}

TEST_CASE("float64 cross_entropy by hand: mean of -log softmax at the target") {
  const Tensor x = spread64({3, 4});
  const std::vector<double> v = values(x);
  const std::vector<int64_t> t{2, 0, 3};
  double want = 0;
  for (size_t i = 0; i < 3; ++i) {
    double total = 0;
    for (size_t c = 0; c < 4; ++c) total += std::exp(v[i * 4 + c]);
    want += std::log(total) - v[i * 4 + static_cast<size_t>(t[i])];
  }
  want /= 3;
  const double got = values(F::cross_entropy(x, IndexTensor{2, 0, 3}))[0];
  CHECK(std::abs(got - want) <= 1e-14 * std::abs(want));
}

TEST_CASE("mse_loss and binary_cross_entropy_with_logits promote a float32 operand") {
  const Tensor x = spread64({2, 3});
  const Tensor y = spread64({2, 3}).to(kFloat32);
  CHECK(F::mse_loss(x, y).dtype() == kFloat64);
  CHECK(F::mse_loss(y, x).dtype() == kFloat64);
  CHECK(F::binary_cross_entropy_with_logits(y, sigmoid(x)).dtype() == kFloat64);
}

TEST_CASE("float64 dropout: the float32 run's mask, scaled in double") {
  const double p = 0.3;
  const Tensor x = spread64({4, 8});
  manual_seed(21);
  const Tensor y = F::dropout(x, p, true);
  CHECK(y.dtype() == kFloat64);
  manual_seed(21);
  const Tensor y32 = F::dropout(x.to(kFloat32), p, true);
  const std::vector<double> in = values(x), out = values(y), out32 = values(y32);
  int kept = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    CAPTURE(i);
    CHECK((out[i] == 0) == (out32[i] == 0));
    if (out[i] != 0) {
      CHECK(out[i] == in[i] * (1.0 / (1.0 - p)));  // the scale in double, not float's
      ++kept;
    }
  }
  CHECK(kept > 0);
  CHECK(kept < static_cast<int>(in.size()));
  // Its gradient: the same mask, in float64 (the seed fixes the mask in every call).
  CHECK_GRADCHECK(
      [p](const Inputs& a) {
        manual_seed(21);
        return F::dropout(a[0], p, true);
      },
      {spread64({4, 8}, true)});
}

TEST_CASE("float64 layer_norm: against float32, its gradcheck, and a weight of another dtype") {
  const Tensor x = spread64({2, 3, 4});
  const Tensor w = spread64({4}) * 0.5f + 1.f, b = spread64({4}) * 0.1f;
  const Tensor y = F::layer_norm(x, {4}, w, b);
  CHECK(y.dtype() == kFloat64);
  check_close(values(F::layer_norm(x.to(kFloat32), {4}, w.to(kFloat32), b.to(kFloat32))), values(y),
              1e-5);
  // The row normalised in double: mean 0 and variance 1 (eps aside) without weight and bias.
  const std::vector<double> plain = values(F::layer_norm(x, {3, 4}, Tensor(), Tensor(), 0.0));
  for (size_t r = 0; r < 2; ++r) {
    double mean = 0, sq = 0;
    for (size_t j = 0; j < 12; ++j) mean += plain[r * 12 + j] / 12;
    for (size_t j = 0; j < 12; ++j) sq += (plain[r * 12 + j] - mean) * (plain[r * 12 + j] - mean);
    CHECK(std::abs(mean) < 1e-15);
    CHECK(std::abs(sq / 12 - 1) < 1e-14);
  }
  CHECK_GRADCHECK(
      [](const Inputs& a) {
        return F::layer_norm(a[0], {3, 4}, a[1], a[2]);
      },
      {spread64({2, 3, 4}, true), spread64({3, 4}, true), spread64({3, 4}, true)});
  CHECK_GRADCHECK([](const Inputs& a) { return F::layer_norm(a[0], {4}); },
                  {spread64({3, 4}, true)});
  CHECK_THROWS_WITH_AS(F::layer_norm(x, {4}, w.to(kFloat32), b),
                       "layer_norm: weight/bias dtype float32 must be the input's dtype float64 "
                       "(convert one with .to())",
                       DtypeError);
}

TEST_CASE("activations and losses name themselves for a tensor they cannot compute in") {
  const Tensor half = spread64({2, 3}).to(kBFloat16);
  CHECK_THROWS_WITH_AS(relu(half),
                       "relu: got a bfloat16 tensor, and relu computes in float32 or float64 (a "
                       "bool tensor is read only where a mask belongs); convert it first with "
                       ".to(kFloat32)",
                       DtypeError);
  CHECK_THROWS_AS(softmax(half, 1), DtypeError);
  CHECK_THROWS_AS(F::cross_entropy(half, IndexTensor{0, 1}), DtypeError);
  CHECK_THROWS_AS(F::layer_norm(half, {3}), DtypeError);
  CHECK_THROWS_AS(F::dropout(half, 0.5, true), DtypeError);
}
