// The backward contract: a backward that writes into GradSinks adds straight into a gradient
// an inner node is already summing (beta = 1 for GEMMs) and hands over a fresh one otherwise;
// leaves, hooks, autograd::grad and anomaly mode see each part on its own.
#include <doctest/doctest.h>

#include <ember/ember.hpp>

#include "gradcheck.hpp"

using namespace ember;

namespace {

int64_t allocations() {
  const CacheStats s = cache_stats();
  return s.hits + s.misses;  // requests of 64 KiB and more
}

// A user's op in the sink form: y = 3x, whose backward adds 3g into x's gradient in place.
Tensor triple(const Tensor& x) {
  return dispatch_floating(x, "triple", [&](auto real) {
    using T = decltype(real);
    ArrayOf<T> y = *saved<T>(x) * T(3);
    const auto shape = y.shape();
    return make_output(std::move(y), "triple", {x}, [shape](const ArrayOf<T>& g, GradSink* sinks) {
      sinks[0].accumulate<T>(shape, [&](T beta, T* dx) {
        for (size_t i = 0; i < g.size(); ++i) dx[i] = beta * dx[i] + T(3) * g.data()[i];
      });
    });
  });
}

}  // namespace

// The storage allocations of loss.backward() (requests of 64 KiB and more).
int64_t backward_allocations(const Tensor& loss) {
  const int64_t before = allocations();
  loss.backward();
  return allocations() - before;
}

TEST_CASE("a second consumer's linear adds its dX into the pending sum, allocating none") {
  manual_seed(1);
  Tensor x = randn({64, 300}, true), w1 = randn({200, 300}, true), w2 = randn({200, 300}, true);
  // relu's output t [64, 300] (75 KiB) feeds one linear, then two. Backward allocates dX of
  // the first linear, each dW (234 KiB) and relu's dX; the second linear's dX goes into t's
  // pending sum instead of a fresh array, so two consumers cost one allocation more (its dW).
  const int64_t one = backward_allocations(linear(relu(x), w1).sum());
  Tensor t = relu(x);
  const int64_t two = backward_allocations(linear(t, w1).sum() + linear(t, w2).sum());
  CHECK(two == one + 1);
  // And the sum is right: t's gradient is the two linears' parts.
  Tensor expected = ones({64, 200}).matmul(w1) + ones({64, 200}).matmul(w2);
  Tensor mask = gt(relu(x), 0.f);
  std::vector<float> got = x.grad().to_vector(), want = (expected * mask).to_vector();
  std::vector<float> first = (ones({64, 200}).matmul(w1) * mask).to_vector();
  for (size_t i = 0; i < got.size(); i += 101)
    CHECK(got[i] == doctest::Approx(first[i] + want[i]).epsilon(1e-4));
}

TEST_CASE("a node's inputs with two consumers get both parts, through the pending sum") {
  manual_seed(2);
  Tensor x = randn({4, 5}, true), w1 = randn({3, 5}, true), w2 = randn({5, 5}, true);
  auto f = [&](const std::vector<Tensor>& in) {
    Tensor h = linear(in[0], in[2]);  // h feeds both linear and the sum below
    return (linear(h, in[1]) * 2.f).sum() + (h * h).sum();
  };
  CHECK_GRADCHECK(f, {x, w1, w2});
  CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return triple(triple(in[0]) + in[0]); }, {x});
}

TEST_CASE("leaf hooks, autograd::grad and anomaly mode see each gradient part on its own") {
  Tensor x = ones({2, 2}, true);
  std::vector<float> seen;
  x.register_hook([&](const Tensor& g) {
    seen.push_back(g.to_vector()[0]);
    return Tensor();
  });
  triple(x).sum().backward();
  triple(x).sum().backward();
  CHECK(seen == std::vector<float>{3.f, 3.f});
  CHECK(x.grad().to_vector() == std::vector<float>(4, 6.f));

  Tensor z = ones({3}, true);
  triple(z).sum().backward();
  const std::vector<Tensor> g = autograd::grad({triple(z).sum()}, {z});
  CHECK(g[0].to_vector() == std::vector<float>(3, 3.f));
  CHECK(z.grad().to_vector() == std::vector<float>(3, 3.f));  // untouched by autograd::grad

  set_detect_anomaly(true);
  triple(z).sum().backward();
  set_detect_anomaly(false);
  CHECK(z.grad().to_vector() == std::vector<float>(3, 6.f));
}
