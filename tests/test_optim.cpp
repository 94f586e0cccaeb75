// Optimizers beyond the golden trajectories: exact resumption from a saved state, option
// validation, the pad row under every optimizer, and sparse steps that touch only their rows.
#include <doctest/doctest.h>

#include <cstdio>
#include <cstring>
#include <ember/ember.hpp>
#include <functional>

using namespace ember;
using namespace ember::optim;
namespace F = ember::nn::functional;

namespace {
struct Model : nn::Module {
  nn::Embedding emb;
  nn::Linear fc;
  explicit Model(bool sparse)
      : emb(nn::EmbeddingOptions(12, 4).padding_idx(1).sparse(sparse)), fc(4, 3) {
    register_module("emb", emb);
    register_module("fc", fc);
  }
  Tensor forward(const IndexTensor& ids) { return fc(F::masked_mean(emb(ids), ids != 1, 1)); }
};

using Factory = std::function<std::unique_ptr<Optimizer>(std::vector<Tensor>)>;

const std::vector<std::pair<const char*, Factory>>& factories() {
  static const std::vector<std::pair<const char*, Factory>> all = {
      {"SGD", [](auto p) { return std::make_unique<SGD>(p, SGDOptions(0.1).momentum(0.9)); }},
      {"Adam", [](auto p) { return std::make_unique<Adam>(p, AdamOptions(0.01).amsgrad(true)); }},
      {"AdamW", [](auto p) { return std::make_unique<AdamW>(p, AdamWOptions(0.01)); }},
      {"Adagrad", [](auto p) { return std::make_unique<Adagrad>(p, AdagradOptions(0.1)); }},
      {"RMSprop",
       [](auto p) {
         return std::make_unique<RMSprop>(p, RMSpropOptions(0.01).momentum(0.5).centered(true));
       }},
  };
  return all;
}

IndexTensor batch_ids(int step) {
  std::vector<int64_t> v;
  for (int i = 0; i < 12; ++i) v.push_back((step * 7 + i * 5) % 12);
  return IndexTensor(v, {3, 4});
}
IndexTensor batch_labels(int step) { return IndexTensor{step % 3, (step + 1) % 3, 2}; }

void train(Model& m, Optimizer& opt, int from, int to) {
  for (int step = from; step < to; ++step) {
    opt.zero_grad();
    F::cross_entropy(m.forward(batch_ids(step)), batch_labels(step)).backward();
    opt.step();
  }
}

std::vector<float> flat(const Model& m) {
  std::vector<float> out;
  for (auto& [n, p] : m.named_parameters())
    for (float v : p.to_vector()) out.push_back(v);
  return out;
}
}  // namespace

TEST_CASE("save after 10 steps, resume in fresh objects: bit-identical to 20 straight steps") {
  for (bool sparse : {false, true}) {
    for (const auto& [name, make] : factories()) {
      CAPTURE(name);
      CAPTURE(sparse);
      manual_seed(21);
      Model straight(sparse);
      StateDict init = straight.state_dict();
      for (auto& [k, v] : init) v = v.clone();
      auto opt = make(straight.parameters());
      train(straight, *opt, 0, 20);

      Model first(sparse);
      first.load_state_dict(init);
      auto opt1 = make(first.parameters());
      train(first, *opt1, 0, 10);
      std::string model_path = std::string(EMBER_BINARY_DIR) + "/resume_model.safetensors";
      std::string optim_path = std::string(EMBER_BINARY_DIR) + "/resume_optim.safetensors";
      io::save(first.state_dict(), model_path);
      io::save(opt1->state_dict(), optim_path);

      manual_seed(99);  // the fresh objects start elsewhere; the files must bring them back
      Model resumed(sparse);
      resumed.load_state_dict(io::load(model_path));
      auto opt2 = make(resumed.parameters());
      opt2->load_state_dict(io::load_archive(optim_path));
      train(resumed, *opt2, 10, 20);

      std::vector<float> a = flat(straight), b = flat(resumed);
      REQUIRE(a.size() == b.size());
      CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
      std::remove(model_path.c_str());
      std::remove(optim_path.c_str());
    }
  }
}

TEST_CASE("the pad row stays zero under every optimizer, dense and sparse") {
  for (bool sparse : {false, true}) {
    for (const auto& [name, make] : factories()) {
      CAPTURE(name);
      CAPTURE(sparse);
      manual_seed(3);
      Model m(sparse);
      auto opt = make(m.parameters());
      train(m, *opt, 0, 15);
      std::vector<float> table = m.emb.weight.to_vector();
      for (int j = 0; j < 4; ++j) CHECK(table[4 + j] == 0.f);
    }
  }
}

TEST_CASE("a sparse step changes only the touched rows") {
  for (const auto& [name, make] : factories()) {
    CAPTURE(name);
    manual_seed(4);
    nn::Embedding emb(nn::EmbeddingOptions(50, 3).sparse(true));
    std::vector<float> before = emb.weight.to_vector();
    auto opt = make(emb.parameters());
    sum(emb(IndexTensor{7, 3, 7})).backward();
    opt->step();
    std::vector<float> after = emb.weight.to_vector();
    for (int r = 0; r < 50; ++r)
      for (int j = 0; j < 3; ++j) {
        bool touched = r == 7 || r == 3;
        CHECK((after[r * 3 + j] != before[r * 3 + j]) == touched);
      }
  }
}

// Lazy Adam differs from dense Adam on purpose; SGD and Adagrad leave an untouched row as a
// zero gradient would, so the two paths agree bit for bit.
TEST_CASE("float64: a row-sparse SGD or Adagrad step equals the dense one, bit for bit") {
  const std::vector<std::pair<const char*, Factory>> cases = {
      {"SGD", [](auto p) { return std::make_unique<SGD>(p, SGDOptions(0.1)); }},
      {"Adagrad",
       [](auto p) { return std::make_unique<Adagrad>(p, AdagradOptions(0.1).lr_decay(0.01)); }},
  };
  manual_seed(8);
  const Tensor table = randn({20, 3}).to(kFloat64);
  const std::vector<IndexTensor> ids = {IndexTensor{7, 3, 7, 12}, IndexTensor{3, 0, 19, 3}};
  const Tensor gout = randn({4, 3}).to(kFloat64);
  for (const auto& [name, make] : cases) {
    CAPTURE(name);
    auto train = [&](bool sparse) {
      Tensor w = table.clone().requires_grad_(true);
      auto opt = make({w});
      for (int step = 0; step < 4; ++step) {
        opt->zero_grad();
        F::embedding(ids[step % 2], w, F::EmbeddingFuncOptions().sparse(sparse)).backward(gout);
        CHECK(w.has_sparse_grad() == sparse);
        opt->step();
      }
      const double* v = w.data_ptr<double>();
      return std::vector<double>(v, v + w.numel());
    };
    const std::vector<double> sparse = train(true), dense = train(false);
    CHECK(sparse == dense);
    const double* before = table.data_ptr<double>();
    CHECK(std::vector<double>(before, before + table.numel()) != sparse);
  }
  // A row-sparse gradient of another dtype than its parameter's (made by hand) is refused.
  Tensor w = zeros({4, 2}, kFloat64, true);
  sum(F::embedding(IndexTensor{1}, w, F::EmbeddingFuncOptions().sparse(true))).backward();
  w.sparse_grad().allocate<float>(1).fill(1.0f);
  SGD opt(std::vector<Tensor>{w}, SGDOptions(0.1));
  CHECK_THROWS_WITH_AS(opt.step(),
                       "SGD: a float64 parameter of shape [4,2] has a float32 row-sparse "
                       "gradient; a gradient has its parameter's dtype",
                       DtypeError);
}

TEST_CASE("invalid options throw, naming the option and value") {
  auto p = [] { return std::vector<Tensor>{zeros({2}, true)}; };
  CHECK_THROWS_WITH_AS(SGD(p(), SGDOptions(-0.1)), "SGD: lr must be non-negative, got -0.1",
                       ValueError);
  CHECK_THROWS_WITH_AS(SGD(p(), SGDOptions(0.1).momentum(-1)),
                       "SGD: momentum must be non-negative, got -1", ValueError);
  CHECK_THROWS_WITH_AS(SGD(p(), SGDOptions(0.1).nesterov(true)),
                       "SGD: nesterov needs momentum > 0 and dampening = 0, got momentum 0 and "
                       "dampening 0",
                       ValueError);
  CHECK_THROWS_WITH_AS(Adam(p(), AdamOptions(0.1).betas(std::make_tuple(1.0, 0.9))),
                       "Adam: betas[0] must be in [0, 1), got 1", ValueError);
  CHECK_THROWS_WITH_AS(AdamW(p(), AdamWOptions(0.1).betas(std::make_tuple(0.9, -0.5))),
                       "AdamW: betas[1] must be in [0, 1), got -0.5", ValueError);
  CHECK_THROWS_WITH_AS(Adam(p(), AdamOptions(0.1).eps(-1e-8)),
                       "Adam: eps must be non-negative, got -1e-08", ValueError);
  CHECK_THROWS_WITH_AS(Adagrad(p(), AdagradOptions(0.1).lr_decay(-1)),
                       "Adagrad: lr_decay must be non-negative, got -1", ValueError);
  CHECK_THROWS_WITH_AS(Adagrad(p(), AdagradOptions(0.1).initial_accumulator_value(-2)),
                       "Adagrad: initial_accumulator_value must be non-negative, got -2",
                       ValueError);
  CHECK_THROWS_WITH_AS(RMSprop(p(), RMSpropOptions(0.1).alpha(-0.5)),
                       "RMSprop: alpha must be non-negative, got -0.5", ValueError);
  Tensor w = zeros({2}, true);
  CHECK_THROWS_WITH_AS(SGD(std::vector<Tensor>{w, w}, SGDOptions(0.1)),
                       "SGD: parameter 1 of group 0 appears in more than one parameter group",
                       ValueError);
  CHECK_THROWS_AS(StepLR(*std::make_unique<SGD>(p(), SGDOptions(0.1)), 0), ValueError);
}

TEST_CASE("param groups: per-group lr, add_param_group, zero_grad") {
  Tensor a = ones({2}, true), b = ones({2}, true);
  SGD opt(std::vector<ParamGroup>{ParamGroup({a})}, SGDOptions(0.1));
  opt.add_param_group(ParamGroup({b}, std::make_unique<SGDOptions>(1.0)));
  sum(a * 2.f + b * 2.f).backward();
  opt.step();
  CHECK(a.to_vector()[0] == doctest::Approx(0.8f));
  CHECK(b.to_vector()[0] == doctest::Approx(-1.f));
  opt.zero_grad();
  CHECK_FALSE(a.grad().defined());
  CHECK(opt.param_groups().size() == 2);
}

TEST_CASE("loading an optimizer state that does not fit throws and changes nothing") {
  Tensor a = ones({2}, true);
  Adam opt(std::vector<Tensor>{a}, AdamOptions(0.1));
  sum(a * a).backward();
  opt.step();
  io::Archive state = opt.state_dict();
  Tensor other = ones({3}, true);
  Adam fresh(std::vector<Tensor>{other}, AdamOptions(0.5));
  CHECK_THROWS_AS(fresh.load_state_dict(state), ShapeError);
  CHECK(fresh.param_groups()[0].options->get_lr() == 0.5);
  SGD sgd(std::vector<Tensor>{a}, SGDOptions(0.1));
  CHECK_THROWS_WITH_AS(sgd.load_state_dict(state), "SGD: load_state_dict: the state is from Adam",
                       ValueError);
}

TEST_CASE("clip_grad_value_ clamps dense and sparse gradients") {
  Tensor a = zeros({3}, true);
  sum(a * tensor({-5, 0.5, 9})).backward();
  nn::utils::clip_grad_value_({a}, 1.0);
  CHECK(a.grad().to_vector() == std::vector<float>{-1, 0.5, 1});
}

TEST_CASE("SGD momentum: a parameter's first gradient fills its buffer, whenever it comes") {
  // PyTorch: buf = d on the first step that has a gradient, then buf = m*buf + (1-dampening)*d.
  Tensor early = ones({2}, true), late = ones({2}, true), never = ones({2}, true);
  SGD opt({early, late, never}, SGDOptions(0.1).momentum(0.9).dampening(0.5));
  early.set_grad(full({2}, 1.f));
  opt.step();  // `late` and `never` have no gradient yet
  late.set_grad(full({2}, 1.f));
  opt.step();
  // late: buf = 1 (not 0.5), so w = 1 - 0.1 * 1.
  CHECK(late.to_vector() == std::vector<float>{0.9f, 0.9f});
  // early: buf1 = 1, buf2 = 0.9 + 0.5 * 1 = 1.4; w = 1 - 0.1 - 0.14.
  CHECK(early.to_vector()[0] == doctest::Approx(0.76f));
  CHECK(never.to_vector() == std::vector<float>{1.f, 1.f});
  // State only for the parameters that stepped (k = 0 and 1), as PyTorch.
  io::Archive state = opt.state_dict();
  CHECK(state.tensors.count("state.0.momentum_buffer") == 1);
  CHECK(state.tensors.count("state.1.momentum_buffer") == 1);
  CHECK(state.tensors.count("state.2.momentum_buffer") == 0);
  CHECK(state.index_tensors.count("state.2.step") == 0);
}
