// Optimizer trajectories, sparse updates, scheduler lr sequences and clipping against
// PyTorch 1.13 (golden/optim.txt; float64 row-sparse steps: golden/float64_sparse.txt).
#include <functional>
#include <limits>

#include "golden.hpp"

using namespace ember;
namespace F = ember::nn::functional;
using namespace ember::optim;

namespace {
const golden::File& optim_file() {
  static const golden::File file = golden::load("optim.txt");
  return file;
}

struct Model : nn::Module {
  nn::Embedding emb;
  nn::Linear fc;
  explicit Model(bool sparse) : Model(nn::EmbeddingOptions(10, 4).sparse(sparse)) {}
  explicit Model(const nn::EmbeddingOptions& options) : emb(options), fc(4, 3) {
    register_module("emb", emb);
    register_module("fc", fc);
  }
  Tensor forward(const IndexTensor& ids) { return fc(mean(emb(ids), {1})); }
};

using Factory = std::function<std::unique_ptr<Optimizer>(Model&)>;

// Two groups: the table at the default lr, the Linear layer at its own.
std::vector<ParamGroup> two_groups(Model& m, std::unique_ptr<OptimizerOptions> fc_options) {
  return {ParamGroup(m.emb.parameters()), ParamGroup(m.fc.parameters(), std::move(fc_options))};
}

const std::map<std::string, Factory>& dense_cases() {
  static const std::map<std::string, Factory> cases = {
      {"sgd", [](Model& m) { return std::make_unique<SGD>(m.parameters(), SGDOptions(0.1)); }},
      {"sgd_momentum",
       [](Model& m) {
         return std::make_unique<SGD>(m.parameters(), SGDOptions(0.1).momentum(0.9));
       }},
      {"sgd_dampening",
       [](Model& m) {
         return std::make_unique<SGD>(m.parameters(), SGDOptions(0.1).momentum(0.9).dampening(0.1));
       }},
      {"sgd_nesterov",
       [](Model& m) {
         return std::make_unique<SGD>(m.parameters(), SGDOptions(0.1).momentum(0.9).nesterov(true));
       }},
      {"sgd_weight_decay",
       [](Model& m) {
         return std::make_unique<SGD>(m.parameters(), SGDOptions(0.1).weight_decay(0.01));
       }},
      {"sgd_groups",
       [](Model& m) {
         return std::make_unique<SGD>(
             two_groups(m, std::make_unique<SGDOptions>(SGDOptions(0.02).momentum(0.5))),
             SGDOptions(0.1).momentum(0.5));
       }},
      {"adam", [](Model& m) { return std::make_unique<Adam>(m.parameters(), AdamOptions(0.01)); }},
      {"adam_weight_decay",
       [](Model& m) {
         return std::make_unique<Adam>(m.parameters(), AdamOptions(0.01).weight_decay(0.1));
       }},
      {"adam_amsgrad",
       [](Model& m) {
         return std::make_unique<Adam>(m.parameters(), AdamOptions(0.01).amsgrad(true));
       }},
      {"adam_betas_eps",
       [](Model& m) {
         return std::make_unique<Adam>(
             m.parameters(), AdamOptions(0.01).betas(std::make_tuple(0.8, 0.9)).eps(1e-6));
       }},
      {"adam_groups",
       [](Model& m) {
         return std::make_unique<Adam>(two_groups(m, std::make_unique<AdamOptions>(0.05)),
                                       AdamOptions(0.01));
       }},
      {"adamw",
       [](Model& m) {
         return std::make_unique<AdamW>(m.parameters(), AdamWOptions(0.01).weight_decay(0.1));
       }},
      {"adamw_amsgrad",
       [](Model& m) {
         return std::make_unique<AdamW>(m.parameters(), AdamWOptions(0.01).amsgrad(true));
       }},
      {"adamw_groups",
       [](Model& m) {
         return std::make_unique<AdamW>(two_groups(m, std::make_unique<AdamWOptions>(0.003)),
                                        AdamWOptions(0.01));
       }},
      {"adagrad",
       [](Model& m) { return std::make_unique<Adagrad>(m.parameters(), AdagradOptions(0.1)); }},
      {"adagrad_lr_decay",
       [](Model& m) {
         return std::make_unique<Adagrad>(m.parameters(), AdagradOptions(0.1).lr_decay(0.01));
       }},
      {"adagrad_weight_decay",
       [](Model& m) {
         return std::make_unique<Adagrad>(m.parameters(), AdagradOptions(0.1).weight_decay(0.1));
       }},
      {"adagrad_init_eps",
       [](Model& m) {
         return std::make_unique<Adagrad>(
             m.parameters(), AdagradOptions(0.1).initial_accumulator_value(0.5).eps(1e-8));
       }},
      {"adagrad_groups",
       [](Model& m) {
         return std::make_unique<Adagrad>(two_groups(m, std::make_unique<AdagradOptions>(0.5)),
                                          AdagradOptions(0.1));
       }},
      {"rmsprop",
       [](Model& m) { return std::make_unique<RMSprop>(m.parameters(), RMSpropOptions(0.01)); }},
      {"rmsprop_momentum",
       [](Model& m) {
         return std::make_unique<RMSprop>(m.parameters(), RMSpropOptions(0.01).momentum(0.9));
       }},
      {"rmsprop_centered",
       [](Model& m) {
         return std::make_unique<RMSprop>(m.parameters(), RMSpropOptions(0.01).centered(true));
       }},
      {"rmsprop_weight_decay",
       [](Model& m) {
         return std::make_unique<RMSprop>(m.parameters(), RMSpropOptions(0.01).weight_decay(0.1));
       }},
      {"rmsprop_all",
       [](Model& m) {
         return std::make_unique<RMSprop>(
             m.parameters(),
             RMSpropOptions(0.01).alpha(0.9).eps(1e-6).centered(true).momentum(0.5));
       }},
      {"rmsprop_groups",
       [](Model& m) {
         return std::make_unique<RMSprop>(two_groups(m, std::make_unique<RMSpropOptions>(0.001)),
                                          RMSpropOptions(0.01));
       }},
  };
  return cases;
}

void load_init(Model& m, const golden::Case& c) {
  StateDict init;
  for (const char* name : {"emb.weight", "fc.weight", "fc.bias"})
    init[name] = c.at(std::string("init.") + name).tensor();
  m.load_state_dict(init);
}

// `after_backward(step)` sees each step's gradient before the optimizer does.
void train(Model& m, Optimizer& opt, int from, int to, const golden::File& file = optim_file(),
           const std::function<void(int)>& after_backward = {}) {
  const golden::Case& data = file.at("data");
  for (int step = from; step < to; ++step) {
    opt.zero_grad();
    Tensor logits = m.forward(data.at("ids" + std::to_string(step)).index());
    F::cross_entropy(logits, data.at("labels" + std::to_string(step)).index()).backward();
    if (after_backward) after_backward(step);
    opt.step();
  }
}

void check_final(Model& m, const golden::Case& c) {
  for (auto& [name, p] : m.named_parameters()) golden::check_close(p, c.at("final." + name), name);
}
}  // namespace

TEST_CASE("golden: 20 steps of every optimizer under each option match PyTorch") {
  CHECK(dense_cases().size() == 25);
  for (const auto& [name, make] : dense_cases()) {
    SUBCASE(name.c_str()) {
      const golden::Case& c = optim_file().at(name);
      Model m(false);
      load_init(m, c);
      std::unique_ptr<Optimizer> opt = make(m);
      train(m, *opt, 0, 20);
      check_final(m, c);
    }
  }
}

TEST_CASE("golden: sparse gradients: Adam = SparseAdam, SGD = SGD, Adagrad = sparse Adagrad") {
  const std::map<std::string, std::function<std::unique_ptr<Optimizer>(Tensor&)>> cases = {
      {"sparse_adam",
       [](Tensor& w) { return std::make_unique<Adam>(std::vector<Tensor>{w}, AdamOptions(0.01)); }},
      {"sparse_sgd",
       [](Tensor& w) { return std::make_unique<SGD>(std::vector<Tensor>{w}, SGDOptions(0.5)); }},
      {"sparse_adagrad",
       [](Tensor& w) {
         return std::make_unique<Adagrad>(std::vector<Tensor>{w}, AdagradOptions(0.5));
       }},
  };
  for (const auto& [name, make] : cases) {
    SUBCASE(name.c_str()) {
      const golden::Case& c = optim_file().at(name);
      Model m(true);
      load_init(m, c);
      m.fc.weight.requires_grad_(false);
      m.fc.bias.requires_grad_(false);
      std::unique_ptr<Optimizer> opt = make(m.emb.weight);
      train(m, *opt, 0, 20);
      CHECK(m.emb.weight.has_sparse_grad());
      check_final(m, c);
    }
  }
}

TEST_CASE("golden: each scheduler's lr sequence equals PyTorch's for 50 steps") {
  const golden::Case& c = optim_file().at("schedulers");
  auto run = [](const std::function<std::unique_ptr<LRScheduler>(Optimizer&)>& make) {
    SGD opt(std::vector<Tensor>{zeros({1}, true)}, SGDOptions(0.1));
    std::unique_ptr<LRScheduler> sched = make(opt);
    std::vector<float> lrs;
    for (int i = 0; i < 50; ++i) {
      opt.step();
      sched->step();
      lrs.push_back(static_cast<float>(sched->get_last_lr()[0]));
    }
    return tensor(lrs);
  };
  golden::check_close(run([](Optimizer& o) { return std::make_unique<StepLR>(o, 7, 0.5); }),
                      c.at("step_lr"), "StepLR");
  golden::check_close(
      run([](Optimizer& o) {
        return std::make_unique<MultiStepLR>(o, std::vector<int64_t>{5, 12, 12, 30}, 0.3);
      }),
      c.at("multi_step_lr"), "MultiStepLR");
  golden::check_close(run([](Optimizer& o) { return std::make_unique<ExponentialLR>(o, 0.95); }),
                      c.at("exponential_lr"), "ExponentialLR");
  golden::check_close(
      run([](Optimizer& o) { return std::make_unique<CosineAnnealingLR>(o, 12, 0.001); }),
      c.at("cosine_annealing_lr"), "CosineAnnealingLR");
  golden::check_close(run([](Optimizer& o) { return std::make_unique<LinearLR>(o, 0.25, 1.0, 8); }),
                      c.at("linear_lr"), "LinearLR");

  SGD opt(std::vector<Tensor>{zeros({1}, true)}, SGDOptions(0.1));
  ReduceLROnPlateau plateau(opt, ReduceLROnPlateau::Mode::Min, 0.5, 3, 1e-4,
                            ReduceLROnPlateau::ThresholdMode::Rel, 2, 0.004);
  std::vector<float> lrs;
  for (double metric : c.at("plateau_metric").values) {
    plateau.step(metric);
    lrs.push_back(static_cast<float>(plateau.get_last_lr()[0]));
  }
  golden::check_close(tensor(lrs), c.at("reduce_lr_on_plateau"), "ReduceLROnPlateau");
}

TEST_CASE("golden: clip_grad_norm_ equals torch.nn.utils.clip_grad_norm_, dense and sparse") {
  const golden::Case& c = optim_file().at("clip");
  for (const char* tag : {"2", "1", "inf"}) {
    CAPTURE(tag);
    std::string t = tag;
    Tensor a = zeros({3, 4}, true), b = zeros({5}, true);
    a.set_grad(c.at("a_grad_" + t).tensor());
    b.set_grad(c.at("b_grad_" + t).tensor());
    double norm_type = t == "inf" ? std::numeric_limits<double>::infinity() : std::stod(t);
    double total = nn::utils::clip_grad_norm_({a, b}, 1.5, norm_type);
    CHECK(total == doctest::Approx(c.at("total_" + t).values[0]).epsilon(1e-5));
    golden::check_close(a.grad(), c.at("a_clipped_" + t), "a");
    golden::check_close(b.grad(), c.at("b_clipped_" + t), "b");
  }
  const golden::Case& s = optim_file().at("clip_sparse");
  nn::Embedding emb(nn::EmbeddingOptions(6, 3).sparse(true)._weight(s.at("weight").tensor()));
  sum(emb(s.at("ids").index()) * arange(12.f).reshape({4, 3})).backward();
  double total = nn::utils::clip_grad_norm_({emb.weight}, 2.0);
  CHECK(total == doctest::Approx(s.at("total").values[0]).epsilon(1e-5));
  CHECK(emb.weight.has_sparse_grad());
  golden::check_close(emb.weight.grad(), s.at("clipped"), "sparse clipped");
}

namespace {
const golden::File& sparse64_file() {
  static const golden::File file = golden::load("float64_sparse.txt");
  return file;
}
}  // namespace

// A float64 table's gradient is row-sparse in float64, and the optimizers step it in double.
TEST_CASE("golden float64: row-sparse steps equal PyTorch's SGD, SparseAdam and Adagrad") {
  using Make = std::function<std::unique_ptr<Optimizer>(Tensor&)>;
  const Make sgd = [](Tensor& w) {
    return std::make_unique<SGD>(std::vector<Tensor>{w}, SGDOptions(0.5));
  };
  const std::map<std::string, std::pair<nn::EmbeddingOptions, Make>> cases = {
      {"sparse_sgd", {nn::EmbeddingOptions(10, 4), sgd}},
      {"sparse_adam",
       {nn::EmbeddingOptions(10, 4),
        [](Tensor& w) {
          return std::make_unique<Adam>(std::vector<Tensor>{w}, AdamOptions(0.01));
        }}},
      {"sparse_adagrad",
       {nn::EmbeddingOptions(10, 4),
        [](Tensor& w) {
          return std::make_unique<Adagrad>(std::vector<Tensor>{w}, AdagradOptions(0.5));
        }}},
      {"sparse_sgd_padding_max_norm",
       {nn::EmbeddingOptions(10, 4).padding_idx(1).max_norm(1.0), sgd}},
      {"sparse_adam_padding",
       {nn::EmbeddingOptions(10, 4).padding_idx(3),
        [](Tensor& w) {
          return std::make_unique<Adam>(std::vector<Tensor>{w},
                                        AdamOptions(0.01).betas(std::make_tuple(0.8, 0.9)));
        }}},
  };
  for (const auto& [name, setup] : cases) {
    SUBCASE(name.c_str()) {
      const golden::Case& c = sparse64_file().at(name);
      Model m(nn::EmbeddingOptions(setup.first).sparse(true));
      m.to(kFloat64);
      StateDict init;
      for (const char* param : {"emb.weight", "fc.weight", "fc.bias"})
        init[param] = c.at(std::string("init.") + param).tensor(false, kFloat64);
      m.load_state_dict(init);
      m.fc.weight.requires_grad_(false);
      m.fc.bias.requires_grad_(false);
      std::unique_ptr<Optimizer> opt = setup.second(m.emb.weight);
      train(m, *opt, 0, 10, sparse64_file(), [&](int step) {
        REQUIRE(m.emb.weight.has_sparse_grad());
        CHECK(m.emb.weight.sparse_grad().dtype == kFloat64);
        if (step == 0) golden::check_close(m.emb.weight.grad(), c.at("grad0"), "grad0", kFloat64);
      });
      golden::check_close(m.emb.weight, c.at("final.emb.weight"), "final.emb.weight", kFloat64);
    }
  }
}

TEST_CASE("golden float64: clip_grad_norm_ over a float64 row-sparse gradient") {
  const golden::Case& s = sparse64_file().at("clip_sparse");
  nn::Embedding emb(
      nn::EmbeddingOptions(6, 3).sparse(true)._weight(s.at("weight").tensor(false, kFloat64)));
  sum(emb(s.at("ids").index()) * arange(12.f).reshape({4, 3}).to(kFloat64)).backward();
  REQUIRE(emb.weight.sparse_grad().dtype == kFloat64);
  const double total = nn::utils::clip_grad_norm_({emb.weight}, 2.0);
  CHECK(total == doctest::Approx(s.at("total").values[0]).epsilon(1e-10));
  CHECK(emb.weight.has_sparse_grad());
  golden::check_close(emb.weight.grad(), s.at("clipped"), "sparse clipped", kFloat64);
}
