// Joining, indexing and scatter ops in float64: PyTorch's mask idioms (tests/test_dtypes.cpp)
// ported to float64 tensors against the same PyTorch 1.13 values, PyTorch's promotion of mixed
// float dtypes in cat, stack and where, and each op's float64 result against its float32 one.
// (Their gradients are checked in float64 by tests/test_gradcheck_ops.cpp and test_ops_more.cpp.)
#include <doctest/doctest.h>

#include <cmath>
#include <ember/ember.hpp>

#include "golden.hpp"

using namespace ember;

namespace {
Tensor bool_tensor(const golden::Value& v) {
  return tensor(std::vector<double>(v.values.begin(), v.values.end()), v.shape, kBool);
}
// A golden value as a float64 tensor: the float32 values PyTorch was given, widened exactly.
Tensor float64(const golden::Value& v, bool requires_grad = false) {
  return v.tensor().to(kFloat64).detach().requires_grad_(requires_grad);
}
// A float64 tensor's values in row-major order, exact.
std::vector<double> values(const Tensor& t) {
  const Tensor c = t.contiguous();
  REQUIRE(c.dtype() == kFloat64);
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}
std::vector<double> widened(const Tensor& t) {
  const std::vector<float> f = t.to_vector();
  return std::vector<double>(f.begin(), f.end());
}
// `got` (float64) within float32's rounding of `want` (the same op in float32).
void check_near_float32(const Tensor& got, const Tensor& want) {
  CHECK(got.dtype() == kFloat64);
  CHECK(got.shape() == want.shape());
  const std::vector<double> g = values(got), w = widened(want);
  REQUIRE(g.size() == w.size());
  for (size_t i = 0; i < g.size(); ++i) {
    INFO("element ", i, ": float64 ", g[i], ", float32 ", w[i]);
    CHECK(std::abs(g[i] - w[i]) <= 1e-6 * (1 + std::abs(w[i])));
  }
}
}  // namespace

TEST_CASE("float64: the PyTorch mask idioms ported literally") {
  const golden::File file = golden::load("dtypes.txt");
  SUBCASE("masked_fill(x, mask, -inf) with the mask broadcast over rows") {
    const golden::Case& c = file.at("masked_fill");
    Tensor x = float64(c.at("x"), true);
    const Tensor mask = bool_tensor(c.at("mask"));  // [2, 1, 5] against x's [2, 3, 5]
    Tensor y = masked_fill(x, mask, -INFINITY);
    CHECK(y.dtype() == kFloat64);
    const std::vector<double> xs = values(x.detach()), ys = values(y.detach());
    const std::vector<double>& m = c.at("mask").values;
    for (size_t i = 0; i < ys.size(); ++i) {
      const size_t row = i / 15, col = i % 5;  // mask element [row, 0, col]
      CHECK(ys[i] == (m[row * 5 + col] != 0 ? -INFINITY : xs[i]));
    }
    Tensor gout = float64(c.at("gout"));
    y.backward(gout);
    CHECK(x.grad().dtype() == kFloat64);
    CHECK(values(x.grad()) == values(masked_fill(gout, mask, 0.f)));
    // The same as float32's, widened.
    CHECK(ys == widened(masked_fill(c.at("x").tensor(), mask, -INFINITY)));
  }
  SUBCASE("where(mask, a, b) with a mask from a comparison, b broadcast") {
    const golden::Case& c = file.at("where");
    Tensor a = float64(c.at("a"), true), b = float64(c.at("b"), true);
    Tensor y = where(a > 0.f, a, b);
    CHECK(y.dtype() == kFloat64);
    golden::check_close(y, c.at("y"), "y");
    y.backward(float64(c.at("gout")));
    CHECK(a.grad().dtype() == kFloat64);
    CHECK(b.grad().dtype() == kFloat64);
    golden::check_close(a.grad(), c.at("ga"), "ga");
    golden::check_close(b.grad(), c.at("gb"), "gb");  // summed over the broadcast rows
  }
  SUBCASE("where(mask, a, 0.) with a scalar side keeps a's dtype, as torch.where") {
    const golden::Case& c = file.at("where");
    Tensor a = float64(c.at("a"), true);
    Tensor y = where(a > 0.f, a, 0.f);
    CHECK(y.dtype() == kFloat64);
    const std::vector<double> as = values(a.detach()), ys = values(y.detach());
    for (size_t i = 0; i < ys.size(); ++i) CHECK(ys[i] == (as[i] > 0 ? as[i] : 0.0));
    y.backward(ones_like(y));
    const std::vector<double> ga = values(a.grad());
    for (size_t i = 0; i < ga.size(); ++i) CHECK(ga[i] == (as[i] > 0 ? 1.0 : 0.0));
    Tensor left = where(a > 0.f, 1.f, a.detach());
    CHECK(left.dtype() == kFloat64);
    CHECK(values(left) == values(where(a > 0.f, ones_like(a), a.detach())));
    // A float32 tensor with a scalar side stays float32.
    CHECK(where(a > 0.f, c.at("a").tensor(), 0.f).dtype() == kFloat32);
  }
}

TEST_CASE("float64: where promotes a float32 and a float64 side, as torch.where") {
  Tensor mask = tensor({1, 0, 1, 0, 0, 1}, {2, 3}, kBool);
  Tensor a = tensor({1.5f, -2.f, 3.f, 4.f, -5.f, 6.f}, {2, 3}, true);  // float32
  Tensor b = tensor({0.1, 0.2, 0.3}, {3}, kFloat64, true);
  Tensor y = where(mask, a, b);
  CHECK(y.dtype() == kFloat64);
  CHECK(values(y.detach()) == std::vector<double>{1.5, 0.2, 3.0, 0.1, 0.2, 6.0});
  y.backward(tensor({1, 2, 3, 4, 5, 6}, {2, 3}, kFloat64));
  CHECK(a.grad().dtype() == kFloat32);  // a gradient has its input's dtype
  CHECK(a.grad().to_vector() == std::vector<float>{1, 0, 3, 0, 0, 6});
  CHECK(b.grad().dtype() == kFloat64);
  CHECK(values(b.grad()) == std::vector<double>{4, 2 + 5, 0});
  // A bool side counts as 0/1 in the other side's dtype; two bool sides select bools.
  Tensor from_bool = where(mask, mask, b.detach());
  CHECK(from_bool.dtype() == kFloat64);
  CHECK(values(from_bool) == std::vector<double>{1, 0.2, 1, 0.1, 0.2, 1});
  Tensor bools = where(mask, mask, ~mask);
  CHECK(bools.dtype() == kBool);
  CHECK(bools.to_vector() == std::vector<float>{1, 1, 1, 1, 1, 1});
  CHECK_THROWS_WITH_AS(where(mask, a.to(kBFloat16), a.to(kBFloat16)),
                       doctest::Contains("where: got a bfloat16 tensor"), DtypeError);
}

TEST_CASE("float64: masked_fill reads a strided input and a broadcast mask") {
  Tensor x = tensor({1, 2, 3, 4, 5, 6}, {3, 2}, kFloat64, true);
  Tensor xt = x.detach().t();  // [2, 3], a view
  Tensor mask = tensor({0, 1, 1}, {3}, kBool);
  Tensor y = masked_fill(xt, mask, 0.25f);
  CHECK(y.dtype() == kFloat64);
  CHECK(values(y) == std::vector<double>{1, 0.25, 0.25, 2, 0.25, 0.25});
  CHECK_THROWS_WITH_AS(masked_fill(x, tensor({1, 0}, Shape{2}, kFloat64), 0.f),
                       doctest::Contains("masked_fill: expected a bool mask but got a float64"),
                       DtypeError);
}

TEST_CASE("float64: cat and stack of mixed float dtypes promote, as PyTorch 1.13") {
  Tensor a = tensor({1, 2, 3, 4, 5, 6}, {2, 3}, true);  // float32
  Tensor b = tensor({0.1, 0.2, 0.3}, {1, 3}, kFloat64, true);
  Tensor joined = cat({a, b}, 0);
  CHECK(joined.dtype() == kFloat64);
  CHECK(values(joined.detach()) == std::vector<double>{1, 2, 3, 4, 5, 6, 0.1, 0.2, 0.3});
  joined.backward(tensor({1, 2, 3, 4, 5, 6, 7, 8, 9}, {3, 3}, kFloat64));
  CHECK(a.grad().dtype() == kFloat32);
  CHECK(a.grad().to_vector() == std::vector<float>{1, 2, 3, 4, 5, 6});
  CHECK(b.grad().dtype() == kFloat64);
  CHECK(values(b.grad()) == std::vector<double>{7, 8, 9});

  // A leaf joined twice gets both slices of the gradient, summed into its float64 .grad.
  Tensor twice = cat({b, b}, 1);
  twice.backward(tensor({1, 2, 3, 4, 5, 6}, {1, 6}, kFloat64));
  CHECK(values(b.grad()) == std::vector<double>{7 + 1 + 4, 8 + 2 + 5, 9 + 3 + 6});

  Tensor c = tensor({0.5, 1.5, 2.5}, {3}, kFloat64);
  Tensor stacked = stack({a.detach().select(0, 1), c}, 1);
  CHECK(stacked.dtype() == kFloat64);
  CHECK(stacked.shape() == Shape{3, 2});
  CHECK(values(stacked) == std::vector<double>{4, 0.5, 5, 1.5, 6, 2.5});
  // float64 views (a transpose) are read through their strides, as float32's.
  Tensor m = tensor({1, 2, 3, 4, 5, 6}, {2, 3}, kFloat64);
  CHECK(values(cat({m.t(), m.t()}, 1)) == std::vector<double>{1, 4, 1, 4, 2, 5, 2, 5, 3, 6, 3, 6});
  CHECK(values(stack({m.t(), m.t()}, 0)) ==
        std::vector<double>{1, 4, 2, 5, 3, 6, 1, 4, 2, 5, 3, 6});
  // All of one dtype stays in it; bfloat16 with float32 is float32 (promote_types).
  CHECK(cat({c, c}, 0).dtype() == kFloat64);
  CHECK(cat({a.detach().to(kBFloat16), a.detach()}, 0).dtype() == kFloat32);
}

TEST_CASE("float64: indexing and scatter ops match their float32 results") {
  manual_seed(3);
  const Tensor x32 = randn({3, 4}), s32 = randn({3, 4}), w32 = randn({2, 5});
  const Tensor x = x32.to(kFloat64), s = s32.to(kFloat64), w = w32.to(kFloat64);
  const IndexTensor rows{2, 0, 2};
  const IndexTensor idx({0, 2, 1, 1, 0, 0}, {2, 3}), cols({0, 1, 2, 0, 1, 0}, {3, 2});
  // Selections copy: exactly float32's values, widened.
  CHECK(values(index_select(x, 0, rows)) == widened(index_select(x32, 0, rows)));
  CHECK(values(index_select(x.t(), 1, rows)) == widened(index_select(x32.t(), 1, rows)));
  CHECK(values(gather(x.narrow(0, 0, 2), 1, idx)) == widened(gather(x32.narrow(0, 0, 2), 1, idx)));
  CHECK(values(gather(x.t(), 0, idx)) == widened(gather(x32.t(), 0, idx)));
  CHECK(values(triu(x, 1)) == widened(triu(x32, 1)));
  CHECK(values(tril(x.t(), -1)) == widened(tril(x32.t(), -1)));
  CHECK(values(triu(full({2, 2}, -INFINITY, kFloat64))) ==
        std::vector<double>{-INFINITY, -INFINITY, 0, -INFINITY});  // -inf kept, not NaN
  // Sums: float32's within its rounding.
  check_near_float32(index_add(x, 0, rows, s, 2.f), index_add(x32, 0, rows, s32, 2.f));
  check_near_float32(index_add(x, 1, IndexTensor{3, 3}, s.t().narrow(0, 0, 2).t(), -1.f),
                     index_add(x32, 1, IndexTensor{3, 3}, s32.t().narrow(0, 0, 2).t(), -1.f));
  check_near_float32(scatter_add(x.narrow(0, 0, 2), 1, idx, w),
                     scatter_add(x32.narrow(0, 0, 2), 1, idx, w32));
  check_near_float32(scatter_add(w.t(), 0, cols, x.t()), scatter_add(w32.t(), 0, cols, x32.t()));
  // 0-d inputs, as PyTorch.
  const Tensor scalar = full({}, 0.1, kFloat64);
  CHECK(values(index_select(scalar, 0, IndexTensor{0})) == std::vector<double>{0.1});
  CHECK(values(gather(scalar, 0, IndexTensor{0, 0})) == std::vector<double>{0.1, 0.1});
}

TEST_CASE("float64: index_add and scatter_add need one dtype, as PyTorch") {
  const Tensor x = zeros({2, 3}, kFloat64), s = ones({2, 3});
  CHECK_THROWS_WITH_AS(index_add(x, 0, IndexTensor{1, 0}, s),
                       doctest::Contains("index_add: expected both to have the same dtype, but "
                                         "the input is float64 and source is float32"),
                       DtypeError);
  CHECK_THROWS_WITH_AS(scatter_add(s, 0, IndexTensor({0, 1}, {1, 2}), x),
                       doctest::Contains("scatter_add: expected both to have the same dtype, but "
                                         "the input is float32 and src is float64"),
                       DtypeError);
  CHECK_THROWS_WITH_AS(gather(s.to(kBFloat16), 0, IndexTensor({0, 1}, {1, 2})),
                       doctest::Contains("gather: got a bfloat16 tensor"), DtypeError);
}
