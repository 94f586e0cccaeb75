// float64 in the core: values kept in double, float64 gradients through the engine (views,
// in-place ops, hooks, autograd::grad, a backward that writes into sinks), PyTorch's promotion
// of a float32 and a float64 operand, and the errors of a gradient of the wrong dtype.
#include <doctest/doctest.h>

#include <ember/ember.hpp>
#include <vector>

using namespace ember;

namespace {
std::vector<double> doubles(const Tensor& t) {
  const Tensor c = t.contiguous();
  REQUIRE(c.dtype() == kFloat64);
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}
}  // namespace

TEST_CASE("float64: elementwise ops keep double precision") {
  // 1 + 1e-10 is 1 in float32; in float64 the difference survives.
  Tensor x = tensor({1.0, 2.0}, {2}, kFloat64);
  Tensor y = (x + 1e-10f) - x;
  CHECK(y.dtype() == kFloat64);
  // 1e-10f is the float nearest 1e-10, widened exactly: the sum rounds in double only.
  CHECK(doubles(y)[0] == doctest::Approx(double(1e-10f)).epsilon(1e-6));
  CHECK(doubles(exp(tensor({1.0}, {1}, kFloat64)))[0] == doctest::Approx(2.718281828459045));
  CHECK(doubles(sqrt(tensor({2.0}, {1}, kFloat64)))[0] == 1.4142135623730951);
}

TEST_CASE("float64: gradients flow in double through views and reach the leaf as float64") {
  Tensor x = tensor({0.1, 0.2, 0.3, 0.4, 0.5, 0.6}, {2, 3}, kFloat64, true);
  Tensor y = (x * x + 1.f).transpose(0, 1).reshape({6}) * 2.f;
  y.backward(ones({6}, kFloat64));
  REQUIRE(x.grad().defined());
  CHECK(x.grad().dtype() == kFloat64);
  const std::vector<double> g = doubles(x.grad()), v = doubles(x);
  for (size_t i = 0; i < g.size(); ++i) CHECK(g[i] == doctest::Approx(4 * v[i]).epsilon(1e-15));
  // A slice, a select and an expand of a float64 tensor.
  Tensor z = tensor({1.0, 2.0, 3.0, 4.0}, {4}, kFloat64, true);
  Tensor w = z.slice(0, 1, 3) * z.select(0, 0).expand({2});
  w.backward(ones({2}, kFloat64));
  CHECK(doubles(z.grad()) == std::vector<double>{5.0, 1.0, 1.0, 0.0});
}

TEST_CASE("float64: a float32 and a float64 operand promote, and each gets its own dtype back") {
  Tensor a = tensor({1.f, 2.f}, true);  // float32
  Tensor b = tensor({3.0, 4.0}, {2}, kFloat64, true);
  Tensor c = a * b;
  CHECK(c.dtype() == kFloat64);
  c.backward(ones({2}, kFloat64));
  CHECK(a.grad().dtype() == kFloat32);
  CHECK(a.grad().to_vector() == std::vector<float>{3.f, 4.f});
  CHECK(b.grad().dtype() == kFloat64);
  CHECK(doubles(b.grad()) == std::vector<double>{1.0, 2.0});
  // bool with float64 is float64, as in PyTorch.
  CHECK((tensor({1, 0}, {2}, kBool) * b).dtype() == kFloat64);
  CHECK(maximum(a, b).dtype() == kFloat64);
}

TEST_CASE("float64: in-place ops on float64 tensors and views keep the history") {
  Tensor x = tensor({1.0, 2.0, 3.0}, {3}, kFloat64, true);
  Tensor y = x * 1.f;
  y.slice(0, 0, 2).mul_(tensor({10.0, 10.0}, {2}, kFloat64));
  y.add_(tensor({1.f, 1.f, 1.f}));  // a float32 operand: y stays float64
  CHECK(y.dtype() == kFloat64);
  CHECK(doubles(y) == std::vector<double>{11.0, 21.0, 4.0});
  y.backward(ones({3}, kFloat64));
  CHECK(doubles(x.grad()) == std::vector<double>{10.0, 10.0, 1.0});
  Tensor z = zeros({2}, kFloat64);
  z.copy_(tensor({0.5f, 0.25f}));
  z.fill_(3.f);
  CHECK(doubles(z) == std::vector<double>{3.0, 3.0});
}

TEST_CASE("float64: hooks, retain_grad and autograd::grad see float64 gradients") {
  Tensor x = tensor({1.0, 2.0}, {2}, kFloat64, true);
  Tensor h = x * x;
  h.retain_grad();
  bool seen = false;
  h.register_hook([&](const Tensor& g) {
    seen = g.dtype() == kFloat64;
    return g * 3.f;
  });
  (h * 1.f).backward(ones({2}, kFloat64));
  CHECK(seen);
  CHECK(doubles(x.grad()) == std::vector<double>{6.0, 12.0});
  Tensor u = tensor({0.5, 1.5}, {2}, kFloat64, true);
  std::vector<Tensor> g = autograd::grad({exp(u)}, {u}, {ones({2}, kFloat64)});
  REQUIRE(g[0].defined());
  CHECK(g[0].dtype() == kFloat64);
  CHECK(doubles(g[0]) == doubles(exp(u.detach())));
}

TEST_CASE("float64: a custom op writes its float64 gradient into the sinks") {
  // y = 3x, whose backward adds into the pending sum when x has two consumers.
  auto triple = [](const Tensor& x) {
    ArrayOf<double> out = ArrayOf<double>::from_shape({size_t(x.numel())});
    const double* in = x.data_ptr<double>();
    for (size_t i = 0; i < out.size(); ++i) out[i] = 3 * in[i];
    return make_output(std::move(out), "triple", {x}, [](const ArrayOf<double>& g, GradSink* s) {
      s[0].accumulate<double>(g.shape(), [&](double beta, double* dst) {
        for (size_t i = 0; i < g.size(); ++i) dst[i] = beta * dst[i] + 3 * g[i];
      });
    });
  };
  Tensor x = tensor({1.0, 2.0}, {2}, kFloat64, true);
  Tensor y = x * 1.f;
  Tensor z = triple(y) + y * 2.f;
  z.backward(ones({2}, kFloat64));
  CHECK(doubles(x.grad()) == std::vector<double>{5.0, 5.0});
}

TEST_CASE("float64: a gradient of the wrong dtype is refused, naming the dtypes") {
  Tensor x = tensor({1.0, 2.0}, {2}, kFloat64, true);
  Tensor y = x * 2.f;
  CHECK_THROWS_WITH_AS(y.backward(ones({2})),
                       doctest::Contains("float32 gradient given for a float64"), DtypeError);
  // A backward that returns float32 for a float64 input is an op's bug, named with the op.
  Tensor bad =
      make_output(ArrayOf<double>(ArrayOf<double>::shape_type{2}, 1.0), "bad_op", {x},
                  [](const ArrayOf<double>& g) { return gradients(Array(xt::cast<float>(g))); });
  CHECK_THROWS_WITH_AS(bad.backward(ones({2}, kFloat64)),
                       doctest::Contains("bad_op returned a float32 gradient for a float64 input"),
                       DtypeError);
  CHECK_THROWS_WITH_AS(exp(ones({2}, kBFloat16)), doctest::Contains("exp: got a bfloat16"),
                       DtypeError);
}
