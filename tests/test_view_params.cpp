// Parameters that are views of a larger tensor (a narrow, a transpose): every optimizer, init,
// load_state_dict and the embedding renorm write through the view's layout into the shared
// storage, as PyTorch does. The reference is the same parameter made contiguous, whose update
// the golden optimizer tests check against PyTorch: a view must follow it bit for bit.
#include <doctest/doctest.h>

#include <ember/ember.hpp>
#include <functional>
#include <utility>

using namespace ember;
using namespace ember::optim;
namespace F = ember::nn::functional;

namespace {

using Factory = std::function<std::unique_ptr<Optimizer>(std::vector<Tensor>)>;

const std::vector<std::pair<const char*, Factory>>& optimizers() {
  static const std::vector<std::pair<const char*, Factory>> all = {
      {"SGD", [](auto p) { return std::make_unique<SGD>(p, SGDOptions(0.1).momentum(0.9)); }},
      {"Adam", [](auto p) { return std::make_unique<Adam>(p, AdamOptions(0.05).amsgrad(true)); }},
      {"AdamW",
       [](auto p) { return std::make_unique<AdamW>(p, AdamWOptions(0.05).weight_decay(0.1)); }},
      {"Adagrad", [](auto p) { return std::make_unique<Adagrad>(p, AdagradOptions(0.1)); }},
      {"RMSprop",
       [](auto p) {
         return std::make_unique<RMSprop>(p, RMSpropOptions(0.01).momentum(0.5).centered(true));
       }},
  };
  return all;
}

// A loss whose gradient differs per element and per step.
Tensor loss_of(const Tensor& p, int step) {
  Tensor c = arange(static_cast<float>(p.numel())).reshape(p.shape()) * 0.1f;
  return (p * p * c).sum() + (p * static_cast<float>(step + 1)).sum();
}

// Steps `param` (a leaf) three times with a fresh optimizer and returns its values.
std::vector<float> train(const Factory& make, Tensor param) {
  param.requires_grad_(true);
  auto opt = make({param});
  for (int step = 0; step < 3; ++step) {
    opt->zero_grad();
    loss_of(param, step).backward();
    opt->step();
  }
  return param.to_vector();
}

// The views a model may register: a row block (contiguous in storage) and a transpose (strided).
std::vector<std::pair<const char*, std::function<Tensor(const Tensor&)>>> view_kinds() {
  return {{"narrow", [](const Tensor& big) { return big.narrow(0, 1, 2); }},
          {"transpose", [](const Tensor& big) { return big.narrow(1, 1, 3).t(); }}};
}

}  // namespace

TEST_CASE("a parameter that is a view is updated by every optimizer as a contiguous one") {
  for (auto& [opt_name, make] : optimizers())
    for (auto& [kind, view_of] : view_kinds()) {
      CAPTURE(opt_name);
      CAPTURE(kind);
      Tensor big = arange(20.f).reshape({4, 5}) * 0.25f - 1.f;
      const std::vector<float> before = big.to_vector();
      Tensor view = view_of(big);
      REQUIRE(view.is_view());
      Tensor reference = view.clone().detach();
      const std::vector<float> expected = train(make, reference);
      const std::vector<float> got = train(make, view);
      CHECK(got == expected);
      CHECK(got != view_of(tensor(before, {4, 5})).to_vector());  // it moved
      // The update landed in the shared storage, and nowhere else.
      Tensor base_after = big.detach();
      std::vector<float> outside = before;
      Tensor marked = tensor(std::vector<float>(20, 0.f), {4, 5});
      view_of(marked).fill_(1.f);
      const std::vector<float> mask = marked.to_vector(), now = base_after.to_vector();
      for (size_t i = 0; i < 20; ++i)
        if (mask[i] == 0.f) CHECK(now[i] == before[i]);
      CHECK(view_of(big).to_vector() == expected);
    }
}

TEST_CASE("an optimizer step through a view counts as an in-place write") {
  Tensor big = ones({3, 4});
  Tensor p = big.t();
  p.requires_grad_(true);
  SGD opt({p}, SGDOptions(0.5));
  (p * p).sum().backward();
  const uint64_t before = big.version();
  opt.step();
  CHECK(big.version() > before);
  CHECK(big.to_vector() == std::vector<float>(12, 0.f));  // 1 - 0.5 * 2
}

TEST_CASE("load_state_dict loads into a parameter that is a view, or changes nothing") {
  struct Holder : nn::Module {
    Tensor storage = zeros({4, 3});
    Holder(Tensor weight, Tensor other) {
      register_parameter("weight", std::move(weight));
      register_parameter("other", std::move(other));
    }
  };
  SUBCASE("a transposed view loads through its strides") {
    Tensor big = zeros({4, 3});
    Holder h(big.narrow(0, 1, 2).t(), zeros({2}));
    StateDict dict{{"weight", arange(6.f).reshape({3, 2})}, {"other", ones({2})}};
    h.load_state_dict(dict);
    CHECK(h.state_dict().at("weight").to_vector() == std::vector<float>{0, 1, 2, 3, 4, 5});
    // Row 1 of big is column 0 of the view: 0, 2, 4; row 2 is 1, 3, 5; rows 0 and 3 untouched.
    CHECK(big.to_vector() == std::vector<float>{0, 0, 0, 0, 2, 4, 1, 3, 5, 0, 0, 0});
  }
  SUBCASE("an expanded view is refused before anything is written") {
    Tensor row = zeros({1, 3});
    Holder h(zeros({2}), row.expand({2, 3}));
    StateDict dict{{"weight", ones({2})}, {"other", ones({2, 3})}};
    CHECK_THROWS_WITH_AS(h.load_state_dict(dict),
                         doctest::Contains("other (an expanded view, shape [2,3])"), ShapeError);
    CHECK(h.state_dict().at("weight").to_vector() == std::vector<float>{0, 0});
    CHECK(row.to_vector() == std::vector<float>{0, 0, 0});
  }
}

TEST_CASE("nn::init fills a view of a larger tensor in place") {
  Tensor big = zeros({3, 4});
  Tensor column = big.select(1, 2);
  nn::init::constant_(column, 7.0);
  CHECK(big.to_vector() == std::vector<float>{0, 0, 7, 0, 0, 0, 7, 0, 0, 0, 7, 0});
  manual_seed(3);
  Tensor block = big.narrow(1, 0, 2).t();
  nn::init::uniform_(block, 1.0, 2.0);
  for (float v : big.narrow(1, 0, 2).to_vector()) CHECK((v >= 1.f && v <= 2.f));
  CHECK(big.select(1, 3).to_vector() == std::vector<float>{0, 0, 0});
}

TEST_CASE("the embedding renorm of a table that is a view writes into the larger tensor") {
  Tensor big = full({4, 6}, 3.f);  // a table of 4 rows, 3 wide, in the right half of big
  Tensor table = big.narrow(1, 3, 3);
  F::embedding(IndexTensor{2}, table, F::EmbeddingFuncOptions().max_norm(1.0));
  const std::vector<float> row2 = big.select(0, 2).to_vector();
  for (int j = 0; j < 3; ++j) CHECK(row2[j] == 3.f);  // the left half is not the table's
  double norm = 0;
  for (int j = 3; j < 6; ++j) norm += double(row2[j]) * row2[j];
  CHECK(std::sqrt(norm) == doctest::Approx(1.0).epsilon(1e-5));
  CHECK(big.select(0, 1).to_vector() == std::vector<float>(6, 3.f));  // not looked up
}

TEST_CASE("writing through data() into a view writes through its strides into the base") {
  Tensor big = zeros({2, 3});
  Tensor v = big.t();  // [3, 2], strides [1, 3]
  v.data()(2, 1) = 7.f;
  CHECK(big.to_vector() == std::vector<float>{0, 0, 0, 0, 0, 7});
  CHECK(std::as_const(v).data()(2, 1) == 7.f);
  CHECK(std::as_const(v).data().size() == 6);
  Tensor expanded = zeros({1, 3}).expand({4, 3});
  CHECK_THROWS_WITH(ValuesForWrite{expanded}, doctest::Contains("an expanded view"));
}
