// float64 models: Module::to(kFloat64) in place, optimizers stepping in double against PyTorch
// float64 trajectories (golden/make_golden_float64_optim.py), nn::init, clipping, and
// state_dict / safetensors round trips in F64.
#include <cmath>
#include <cstdio>
#include <ember/ember.hpp>
#include <functional>
#include <memory>

#include "golden.hpp"

using namespace ember;
namespace F = ember::nn::functional;

namespace {
Tensor as_float64(const golden::Value& v) { return tensor(v.values, v.shape, kFloat64); }

// |got - want| <= tol * max(1, |want|) element by element, in float64.
void check_close64(const Tensor& got, const golden::Value& want, const std::string& what,
                   double tol = 1e-12) {
  INFO(what);
  REQUIRE(got.dtype() == kFloat64);
  CHECK(detail::shape_str(got.shape()) == detail::shape_str(want.shape));
  const Tensor c = got.contiguous();
  const double* g = c.data_ptr<double>();
  REQUIRE(static_cast<size_t>(c.numel()) == want.values.size());
  for (size_t i = 0; i < want.values.size(); ++i)
    if (std::abs(g[i] - want.values[i]) > tol * std::max(1.0, std::abs(want.values[i]))) {
      FAIL_CHECK(what << " element " << i << ": got " << g[i] << ", PyTorch " << want.values[i]);
      return;
    }
}

std::vector<double> values64(const Tensor& t) {
  const Tensor c = t.contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

// The model of the golden file, made in float32 as a user would, then converted.
nn::Sequential mlp() {
  return nn::Sequential({std::make_shared<nn::Linear>(4, 8), std::make_shared<nn::ReLU>(),
                         std::make_shared<nn::Linear>(8, 3)});
}
}  // namespace

TEST_CASE("Module::to(kFloat64) converts every parameter and buffer in place") {
  manual_seed(2);
  nn::Linear lin(3, 2);
  Tensor held = lin.weight;  // a handle taken before, as an optimizer's
  const std::vector<float> before = lin.weight.to_vector();
  lin.bias.requires_grad_(false);
  lin.register_buffer("mask", ones({2}, kBool));
  lin.register_buffer("scale", full({2}, 0.5, kFloat32));
  // A gradient is converted with its tensor.
  lin.weight.set_grad(full({2, 3}, 0.25, kFloat32));

  CHECK(&lin.to(kFloat64) == &lin);
  CHECK(held.impl() == lin.weight.impl());
  CHECK(held.dtype() == kFloat64);
  CHECK(lin.bias.dtype() == kFloat64);
  CHECK(held.requires_grad());
  CHECK_FALSE(lin.bias.requires_grad());
  CHECK(lin.named_buffers()[0].second.dtype() == kBool);  // masks stay bool
  CHECK(lin.named_buffers()[1].second.dtype() == kFloat64);
  const std::vector<double> widened = values64(held);
  for (size_t i = 0; i < before.size(); ++i) CHECK(widened[i] == static_cast<double>(before[i]));
  REQUIRE(held.grad().defined());
  CHECK(held.grad().dtype() == kFloat64);
  CHECK(values64(held.grad()) == std::vector<double>(6, 0.25));

  // The converted layer computes in float64 and its gradients are float64.
  Tensor x = tensor({0.1, 0.2, 0.3}, {1, 3}, kFloat64);
  lin.zero_grad();
  lin(x).sum().backward();
  CHECK(lin.weight.grad().dtype() == kFloat64);
  CHECK(lin(x).dtype() == kFloat64);

  // Back to float32: the same handles again.
  lin.to(kFloat32);
  CHECK(held.dtype() == kFloat32);
  CHECK(held.to_vector() == before);
  CHECK_THROWS_WITH_AS(lin.to(kBool),
                       doctest::Contains("Module::to: Linear can only be converted to a floating"),
                       DtypeError);
}

TEST_CASE("Module::to converts a tied weight once and a view parameter into a tensor of its own") {
  nn::Module m;
  Tensor shared = full({2, 2}, 1.5, kFloat32);
  m.register_parameter("a", shared);
  m.register_parameter("b", shared);
  Tensor base = zeros({4});
  m.register_parameter("v", base.narrow(0, 1, 2));
  m.to(kFloat64);
  CHECK(shared.dtype() == kFloat64);
  StateDict dict = m.state_dict();
  CHECK(dict.at("a").dtype() == kFloat64);
  CHECK(dict.at("b").dtype() == kFloat64);
  CHECK(values64(dict.at("b")) == std::vector<double>(4, 1.5));
  CHECK(dict.at("v").dtype() == kFloat64);
  CHECK_FALSE(dict.at("v").is_view());
  CHECK(base.dtype() == kFloat32);  // the larger tensor keeps its own storage
}

TEST_CASE("a float64 model trains as PyTorch's float64 model does") {
  const golden::File g = golden::load("float64_optim.txt");
  const Tensor x = as_float64(g.at("data").at("x"));
  const Tensor target = as_float64(g.at("data").at("target"));
  using Make = std::function<std::unique_ptr<optim::Optimizer>(std::vector<Tensor>)>;
  const std::map<std::string, Make> cases = {
      {"sgd", [](auto p) { return std::make_unique<optim::SGD>(p, optim::SGDOptions(0.1)); }},
      {"sgd_momentum",
       [](auto p) {
         return std::make_unique<optim::SGD>(p,
                                             optim::SGDOptions(0.1).momentum(0.9).dampening(0.1));
       }},
      {"sgd_nesterov_weight_decay",
       [](auto p) {
         return std::make_unique<optim::SGD>(
             p, optim::SGDOptions(0.05).momentum(0.9).nesterov(true).weight_decay(0.01));
       }},
      {"sgd_clip_norm",
       [](auto p) { return std::make_unique<optim::SGD>(p, optim::SGDOptions(0.1)); }},
      {"adam", [](auto p) { return std::make_unique<optim::Adam>(p, optim::AdamOptions(0.01)); }},
      {"adam_amsgrad_weight_decay",
       [](auto p) {
         return std::make_unique<optim::Adam>(
             p, optim::AdamOptions(0.01).amsgrad(true).weight_decay(0.1));
       }},
      {"adam_step_lr",
       [](auto p) { return std::make_unique<optim::Adam>(p, optim::AdamOptions(0.02)); }},
      {"adamw",
       [](auto p) {
         return std::make_unique<optim::AdamW>(p, optim::AdamWOptions(0.01).weight_decay(0.1));
       }},
      {"rmsprop",
       [](auto p) {
         return std::make_unique<optim::RMSprop>(
             p, optim::RMSpropOptions(0.01).alpha(0.9).centered(true).momentum(0.5).weight_decay(
                    0.01));
       }},
      {"adagrad",
       [](auto p) {
         return std::make_unique<optim::Adagrad>(
             p,
             optim::AdagradOptions(0.1).lr_decay(0.01).weight_decay(0.1).initial_accumulator_value(
                 0.5));
       }},
  };
  for (const auto& [name, make] : cases) {
    SUBCASE(name.c_str()) {
      const golden::Case& want = g.at(name);
      nn::Sequential model = mlp();
      // The golden init is PyTorch's float32 init widened: load it in float32, then convert.
      StateDict init;
      for (const auto& [key, value] : g.at("init")) init[key] = value.tensor();
      model.load_state_dict(init);
      model.to(kFloat64);
      for (const auto& [key, p] : model.named_parameters())
        check_close64(p, g.at("init").at(key), "init." + key, 0.0);
      std::unique_ptr<optim::Optimizer> opt = make(model.parameters());
      std::unique_ptr<optim::StepLR> sched;
      if (name == "adam_step_lr") sched = std::make_unique<optim::StepLR>(*opt, 2, 0.5);
      for (int step = 0; step < 5; ++step) {
        opt->zero_grad();
        Tensor loss = F::mse_loss(model(x), target);
        loss.backward();
        check_close64(loss, want.at("loss" + std::to_string(step)), name + " loss");
        if (name == "sgd_clip_norm") {
          const double total = nn::utils::clip_grad_norm_(model.parameters(), 0.5);
          const double torch_total = want.at("total_norm" + std::to_string(step)).values[0];
          CHECK(std::abs(total - torch_total) <= 1e-12 * torch_total);
        }
        opt->step();
        if (sched) sched->step();
      }
      for (const auto& [key, p] : model.named_parameters())
        check_close64(p, want.at("final." + key), name + " final." + key);
    }
  }
}

TEST_CASE("an optimizer's state of a float64 model is float64, saved and resumed exactly") {
  const golden::File g = golden::load("float64_optim.txt");
  const Tensor x = as_float64(g.at("data").at("x"));
  const Tensor target = as_float64(g.at("data").at("target"));
  auto train = [&](nn::Sequential& model, optim::Optimizer& opt, int steps) {
    for (int i = 0; i < steps; ++i) {
      opt.zero_grad();
      F::mse_loss(model(x), target).backward();
      opt.step();
    }
  };
  manual_seed(4);
  nn::Sequential a = mlp(), b = mlp();
  a.to(kFloat64);
  b.to(kFloat64);
  b.load_state_dict(a.state_dict());
  optim::Adam opt_a(a.parameters(), optim::AdamOptions(0.01).amsgrad(true));
  optim::Adam opt_b(b.parameters(), optim::AdamOptions(0.01).amsgrad(true));
  train(a, opt_a, 3);
  train(b, opt_b, 2);
  const io::Archive state = opt_b.state_dict();
  CHECK(state.tensors.at("state.0.exp_avg").dtype() == kFloat64);
  CHECK(state.tensors.at("state.3.max_exp_avg_sq").dtype() == kFloat64);
  const std::string path = "float64_optim_state.safetensors";
  io::save(state, path);
  optim::Adam resumed(b.parameters(), optim::AdamOptions(0.01).amsgrad(true));
  resumed.load_state_dict(io::load_archive(path));
  std::remove(path.c_str());
  train(b, resumed, 1);
  for (size_t i = 0; i < a.parameters().size(); ++i)
    CHECK(values64(a.parameters()[i]) == values64(b.parameters()[i]));

  // A float32 state loads into float64 parameters as PyTorch's does: converted to their dtype.
  io::Archive narrowed = state;
  for (auto& [key, t] : narrowed.tensors) t = t.to(kFloat32);
  optim::Adam from_float32(b.parameters(), optim::AdamOptions(0.01).amsgrad(true));
  from_float32.load_state_dict(narrowed);
  CHECK(from_float32.state_dict().tensors.at("state.0.exp_avg").dtype() == kFloat64);
  train(b, from_float32, 1);
  CHECK(b.parameters()[0].dtype() == kFloat64);
}

TEST_CASE("state_dict round trip of a float64 model through safetensors (F64)") {
  manual_seed(6);
  nn::Sequential a = mlp(), b = mlp();
  a.to(kFloat64);
  b.to(kFloat64);
  // Values a float32 cannot hold, so that a float32 detour anywhere would show.
  for (Tensor& p : a.parameters()) nn::init::normal_(p, 0.0, 1.0 / 3.0);
  const std::string path = "float64_model.safetensors";
  io::save(a.state_dict(), path);
  const StateDict loaded = io::load(path);
  std::remove(path.c_str());
  CHECK(loaded.at("0.weight").dtype() == kFloat64);
  b.load_state_dict(loaded);
  for (const auto& [key, p] : a.named_parameters()) {
    INFO(key);
    CHECK(b.state_dict().at(key).dtype() == kFloat64);
    CHECK(values64(b.state_dict().at(key)) == values64(p));
  }

  // A float32 checkpoint loads into a float64 model widened, as PyTorch's copy_.
  nn::Sequential f32 = mlp();
  b.load_state_dict(f32.state_dict());
  for (const auto& [key, p] : f32.named_parameters()) {
    const std::vector<float> want = p.to_vector();
    const std::vector<double> got = values64(b.state_dict().at(key));
    REQUIRE(got.size() == want.size());
    for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == static_cast<double>(want[i]));
    CHECK(b.state_dict().at(key).dtype() == kFloat64);
  }
  // And a float64 checkpoint into a float32 model, rounded.
  f32.load_state_dict(a.state_dict());
  for (const auto& [key, p] : a.named_parameters()) {
    const std::vector<double> want = values64(p);
    const std::vector<float> got = f32.state_dict().at(key).to_vector();
    for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == static_cast<float>(want[i]));
  }
}

TEST_CASE("nn::init fills float64 tensors with the same draws, kept in double") {
  auto both = [](const std::function<void(Tensor&)>& init) {
    Tensor a = zeros({5, 7}), b = zeros({5, 7}, kFloat64);
    manual_seed(9);
    init(a);
    manual_seed(9);
    init(b);
    const std::vector<double> wide = values64(b);
    const std::vector<float> narrow = a.to_vector();
    bool exact_in_float = true;
    for (size_t i = 0; i < wide.size(); ++i) {
      CHECK(static_cast<float>(wide[i]) == narrow[i]);
      exact_in_float = exact_in_float && static_cast<double>(narrow[i]) == wide[i];
    }
    return exact_in_float;
  };
  CHECK_FALSE(both([](Tensor& t) { nn::init::uniform_(t, -0.3, 0.3); }));
  CHECK_FALSE(both([](Tensor& t) { nn::init::normal_(t, 0.1, 0.2); }));
  CHECK_FALSE(both([](Tensor& t) { nn::init::xavier_uniform_(t); }));
  CHECK_FALSE(both([](Tensor& t) { nn::init::kaiming_uniform_(t, std::sqrt(5.0)); }));
  CHECK_FALSE(both([](Tensor& t) { nn::init::constant_(t, 0.1); }));
  Tensor strided = zeros({4, 6}, kFloat64).t();  // through the layout
  nn::init::constant_(strided, 0.1);
  CHECK(values64(strided) == std::vector<double>(24, 0.1));
  Tensor half = zeros({2}, kBFloat16);
  CHECK_THROWS_WITH_AS(nn::init::uniform_(half),
                       doctest::Contains("uniform_: got a bfloat16 tensor"), DtypeError);
}

TEST_CASE("clip_grad_norm_ and clip_grad_value_ on float64 gradients compute in double") {
  Tensor a = zeros({3}, kFloat64).requires_grad_(true);
  Tensor b = zeros({2}, kFloat64).requires_grad_(true);
  a.set_grad(tensor({0.1, -0.2, 0.3}, {3}, kFloat64));
  b.set_grad(tensor({1.0 / 3.0, 0.7}, {2}, kFloat64));
  const double want = std::sqrt(0.01 + 0.04 + 0.09 + 1.0 / 9.0 + 0.49);
  const double total = nn::utils::clip_grad_norm_({a, b}, 0.5);
  CHECK(std::abs(total - want) <= 1e-15);
  const double coef = 0.5 / (want + 1e-6);
  const std::vector<double> ga = values64(a.grad()), gb = values64(b.grad());
  CHECK(std::abs(ga[2] - 0.3 * coef) <= 1e-16);
  CHECK(std::abs(gb[0] - coef / 3.0) <= 1e-16);
  nn::utils::clip_grad_value_({a, b}, 0.25 * coef);
  CHECK(values64(b.grad())[1] == 0.25 * coef);
  CHECK(values64(a.grad())[0] == 0.1 * coef);
  CHECK(values64(a.grad())[0] != static_cast<double>(static_cast<float>(0.1 * coef)));
}

TEST_CASE("an optimizer refuses a parameter that is neither float32 nor float64, naming itself") {
  Tensor p = zeros({2}, kBFloat16).requires_grad_(true);
  p.set_grad(zeros({2}));
  optim::SGD sgd({p}, optim::SGDOptions(0.1));
  CHECK_THROWS_WITH_AS(sgd.step(), doctest::Contains("SGD: a parameter of shape [2] is bfloat16"),
                       DtypeError);
}

TEST_CASE("recurrent cells start a float64 input from a float64 zero state") {
  manual_seed(8);
  nn::GRUCell cell(nn::GRUCellOptions(3, 4));
  cell.to(kFloat64);
  Tensor h = cell(randn({2, 3}).to(kFloat64));
  CHECK(h.dtype() == kFloat64);
  nn::LSTMCell lstm(nn::LSTMCellOptions(3, 4));
  lstm.to(kFloat64);
  auto [h1, c1] = lstm(randn({3}).to(kFloat64));
  CHECK(c1.dtype() == kFloat64);
}
