// The tape: accumulation, long chains, graph release, retain_graph, NoGradGuard, printing.
#include <doctest/doctest.h>

#include <ember/ember.hpp>
#include <sstream>
#include <thread>

using namespace ember;

TEST_CASE("gradients accumulate into leaves across backward calls") {
  Tensor w = tensor({1, 2}, true);
  sum(w * w).backward();
  sum(w * 3.f).backward();
  CHECK(w.grad().to_vector() == std::vector<float>{2 + 3, 4 + 3});
}

TEST_CASE("a leaf used twice gets the sum of both paths") {
  Tensor x = tensor({2.f}, true);
  Tensor y = x * x + x * 3.f;  // dy/dx = 2x + 3 = 7
  y.backward();
  CHECK(x.grad().item() == doctest::Approx(7.f));
}

TEST_CASE("backward through a chain of 100,000 ops, and its release, never recurse") {
  Tensor x = tensor({1.f}, true);
  Tensor y = x;
  for (int i = 0; i < 100000; ++i) y = y * 1.00001f;
  y.backward();
  CHECK(x.grad().item() == doctest::Approx(std::pow(1.00001, 100000)).epsilon(1e-3));
  // A chain dropped without backward is freed iteratively too.
  Tensor z = x;
  for (int i = 0; i < 100000; ++i) z = z + 1.f;
  z = Tensor();
  CHECK(!z.defined());
}

TEST_CASE("the graph is released after backward; a second backward throws") {
  Tensor a = tensor({1, 2, 3}, true);
  std::weak_ptr<Node> hidden;
  Tensor loss;
  {
    Tensor h = exp(a) * 2.f;
    hidden = h.grad_fn();
    loss = sum(h);
  }
  CHECK_FALSE(hidden.expired());
  loss.backward();
  CHECK(hidden.expired());
  CHECK_THROWS_WITH_AS(loss.backward(), doctest::Contains("retain_graph"), Error);
}

TEST_CASE("retain_graph keeps the graph for a second backward") {
  Tensor a = tensor({1, 2}, true);
  Tensor loss = sum(a * a);
  loss.backward(/*retain_graph=*/true);
  loss.backward();
  CHECK(a.grad().to_vector() == std::vector<float>{4, 8});
}

TEST_CASE("NoGradGuard records nothing, and is per thread") {
  Tensor a = tensor({1, 2}, true);
  {
    NoGradGuard guard;
    Tensor b = a * 2.f;
    CHECK_FALSE(b.requires_grad());
    CHECK(b.grad_fn() == nullptr);
  }
  CHECK((a * 2.f).requires_grad());
  CHECK(is_grad_enabled());
}

TEST_CASE("detach and requires_grad_") {
  Tensor a = tensor({1, 2}, true);
  Tensor d = (a * 2.f).detach();
  CHECK_FALSE(d.requires_grad());
  CHECK(d.is_leaf());
  Tensor leaf = tensor({1.f});
  leaf.requires_grad_();
  CHECK(leaf.requires_grad());
  CHECK_THROWS_AS((a * 2.f).requires_grad_(false), Error);
}

TEST_CASE("backward with an explicit gradient") {
  Tensor a = tensor({1, 2, 3}, true);
  Tensor y = a * 2.f;
  y.backward(tensor({1, 0, -1}));
  CHECK(a.grad().to_vector() == std::vector<float>{2, 0, -2});
}

TEST_CASE("printing looks like PyTorch") {
  std::ostringstream s1, s2, s3, s4;
  s1 << tensor({1.5f, -2.25f, 3.f, 0.f}, {2, 2});
  CHECK(s1.str() == "tensor([[ 1.5000, -2.2500],\n        [ 3.0000,  0.0000]])");
  Tensor a = tensor({1, 2}, true);
  s2 << a * a;
  CHECK(s2.str() == "tensor([1., 4.], grad_fn=<MulBackward0>)");
  s3 << a;
  CHECK(s3.str() == "tensor([1., 2.], requires_grad=True)");
  s4 << IndexTensor{2, 3};
  CHECK(s4.str() == "tensor([2, 3])");
}

TEST_CASE("factories are seeded and reproducible") {
  manual_seed(42);
  std::vector<float> first = randn({5}).to_vector();
  manual_seed(42);
  CHECK(randn({5}).to_vector() == first);
  CHECK(arange(4.f).to_vector() == std::vector<float>{0, 1, 2, 3});
  CHECK(eye(2).to_vector() == std::vector<float>{1, 0, 0, 1});
  CHECK(full({2}, 7.f).to_vector() == std::vector<float>{7, 7});
  for (float v : rand({100}).to_vector()) CHECK((v >= 0.f && v < 1.f));
}

TEST_CASE("IndexTensor: construction, shape ops, comparisons give float masks") {
  IndexTensor ids({1, 5, 1, 2}, {2, 2});
  CHECK(ids.shape() == Shape{2, 2});
  CHECK((ids != 1).to_vector() == std::vector<float>{0, 1, 0, 1});
  CHECK((ids == 1).to_vector() == std::vector<float>{1, 0, 1, 0});
  CHECK(ids.flatten().shape() == Shape{4});
  CHECK(ids.unsqueeze(0).shape() == Shape{1, 2, 2});
  CHECK(equal(argmax(tensor({0, 3, 1, 5, 2, 0}, {2, 3}), 1), IndexTensor{1, 0}));
}

TEST_CASE("anomaly detection names the op that produced NaN") {
  set_detect_anomaly(true);
  Tensor a = tensor({-1.f}, true);
  CHECK_THROWS_WITH_AS(log(a), doctest::Contains("log produced NaN"), ValueError);
  set_detect_anomaly(false);
  CHECK(std::isnan(log(a).item()));
}

TEST_CASE("two threads running backward through shared parameters accumulate every gradient") {
  Tensor w = ones({64}, true);
  Tensor x = ones({64});
  auto train = [&] {
    for (int i = 0; i < 300; ++i) sum(w * x).backward();
  };
  std::thread first(train), second(train);
  first.join();
  second.join();
  // Unsynchronised `grad += g` from two threads loses updates; every element must be 600.
  for (float g : w.grad().to_vector()) REQUIRE(g == 600.f);
}
