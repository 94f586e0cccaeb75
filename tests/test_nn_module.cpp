// The Module API: registration, dotted names, train/eval, zero_grad, state_dict, printing;
// gradcheck for every layer.
#include <ember/ember.hpp>
#include <sstream>

#include "gradcheck.hpp"

using namespace ember;
namespace F = ember::nn::functional;

namespace {
// The model of DESIGN.md section 1.
struct Classifier : nn::Module {
  nn::Embedding emb;
  nn::Linear fc1, fc2;
  Classifier(int64_t vocab, int64_t dim, int64_t hidden, int64_t classes)
      : emb(nn::EmbeddingOptions(vocab, dim).padding_idx(1)),
        fc1(dim, hidden),
        fc2(hidden, classes) {
    register_module("emb", emb);
    register_module("fc1", fc1);
    register_module("fc2", fc2);
  }
  Tensor forward(const IndexTensor& ids) {
    Tensor x = F::masked_mean(emb(ids), ids != 1, /*dim=*/1);
    return fc2(relu(fc1(x)));
  }
};
}  // namespace

TEST_CASE("named_parameters use dotted names in registration order") {
  Classifier model(10, 4, 6, 3);
  std::vector<std::string> names;
  for (auto& [name, p] : model.named_parameters()) names.push_back(name);
  CHECK(names ==
        std::vector<std::string>{"emb.weight", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"});
  CHECK(model.parameters().size() == 5);
  CHECK(model.children().size() == 3);
  for (Tensor& p : model.parameters()) CHECK(p.requires_grad());
}

TEST_CASE("registering a name again replaces it, as PyTorch; bad names throw") {
  nn::Linear lin(2, 3);
  Tensor other = zeros({3, 2});
  lin.weight = lin.register_parameter("weight", other);
  CHECK(lin.parameters().size() == 2);
  CHECK(lin.named_parameters()[0].second.impl() == other.impl());  // same place, new tensor
  CHECK(other.requires_grad());
  CHECK_THROWS_AS(lin.register_parameter("a.b", zeros({1})), ValueError);
  nn::Module m;
  nn::Linear child(1, 1);
  m.register_module("fc", child);
  CHECK_THROWS_WITH_AS(m.register_module("fc", child),
                       "register_module: 'fc' is already registered in Module", ValueError);
}

TEST_CASE("train/eval reach every child; Dropout follows them") {
  manual_seed(0);
  nn::Sequential seq({std::make_shared<nn::Linear>(4, 4), std::make_shared<nn::Dropout>(0.5)});
  CHECK(seq[1].is_training());
  seq.eval();
  CHECK_FALSE(seq[1].is_training());
  Tensor x = ones({2, 4});
  CHECK(seq(x).to_vector() == seq(x).to_vector());  // deterministic in eval
  seq.train();
  Tensor y = nn::Dropout(0.5)(ones({1000}));
  int zeros_seen = 0;
  for (float v : y.to_vector()) {
    CHECK((v == 0.f || v == 2.f));
    zeros_seen += v == 0.f;
  }
  CHECK(zeros_seen > 400);
  CHECK(zeros_seen < 600);
}

TEST_CASE("zero_grad clears or zeroes every gradient") {
  Classifier model(10, 4, 6, 3);
  IndexTensor ids({2, 3, 1, 4, 1, 1}, {2, 3});
  F::cross_entropy(model.forward(ids), IndexTensor{0, 2}).backward();
  CHECK(model.fc1.weight.grad().defined());
  model.zero_grad(/*set_to_none=*/false);
  for (float v : model.fc1.weight.grad().to_vector()) CHECK(v == 0.f);
  model.zero_grad();
  CHECK_FALSE(model.fc1.weight.grad().defined());
}

TEST_CASE("state_dict round trip, and a strict load that fails changes nothing") {
  manual_seed(1);
  Classifier a(10, 4, 6, 3), b(10, 4, 6, 3);
  StateDict dict = a.state_dict();
  CHECK(dict.size() == 5);
  b.load_state_dict(dict);
  CHECK(b.fc2.bias.to_vector() == a.fc2.bias.to_vector());

  Classifier c(10, 4, 6, 3);
  std::vector<float> before = c.fc1.weight.to_vector();
  StateDict bad = a.state_dict();
  bad.erase("fc2.bias");
  bad["extra.weight"] = zeros({1});
  bad["fc1.weight"] = zeros({2, 2});
  try {
    c.load_state_dict(bad);
    FAIL("expected an error");
  } catch (const ShapeError& e) {
    std::string msg = e.what();
    CHECK(msg.find("missing keys: fc2.bias") != std::string::npos);
    CHECK(msg.find("unexpected keys: extra.weight") != std::string::npos);
    CHECK(msg.find("fc1.weight (checkpoint [2,2], model [6,4])") != std::string::npos);
  }
  CHECK(c.fc1.weight.to_vector() == before);
  // Non-strict: missing and unexpected keys are fine, the rest loads.
  StateDict partial{{"fc2.bias", a.fc2.bias}, {"nonsense", zeros({1})}};
  c.load_state_dict(partial, /*strict=*/false);
  CHECK(c.fc2.bias.to_vector() == a.fc2.bias.to_vector());
}

TEST_CASE("printing the module tree as PyTorch does") {
  Classifier model(10, 4, 6, 3);
  std::ostringstream s;
  s << model;
  CHECK(s.str() ==
        "Classifier(\n"
        "  (emb): Embedding(10, 4, padding_idx=1)\n"
        "  (fc1): Linear(in_features=4, out_features=6, bias=True)\n"
        "  (fc2): Linear(in_features=6, out_features=3, bias=True)\n"
        ")");
}

TEST_CASE("Linear init follows PyTorch's bounds") {
  manual_seed(3);
  nn::Linear lin(16, 8);
  for (float v : lin.weight.to_vector()) CHECK(std::abs(v) <= 0.25f);
  for (float v : lin.bias.to_vector()) CHECK(std::abs(v) <= 0.25f);
  nn::Linear no_bias(3, 2, false);
  CHECK_FALSE(no_bias.bias.defined());
  CHECK(no_bias.parameters().size() == 1);
}

TEST_CASE("init functions") {
  manual_seed(4);
  Tensor t = zeros({50, 40});
  nn::init::xavier_uniform_(t);
  double bound = std::sqrt(6.0 / 90.0);
  for (float v : t.to_vector()) CHECK(std::abs(v) <= bound);
  nn::init::constant_(t, 0.5);
  CHECK(t.to_vector()[7] == 0.5f);
  nn::init::normal_(t, 2.0, 0.1);
  CHECK(mean(t).item() == doctest::Approx(2.0).epsilon(0.01));
  CHECK_THROWS_AS(nn::init::kaiming_uniform_(t, 0, "fan_sideways"), ValueError);
}

TEST_CASE("gradcheck for every layer (only float inputs perturbed)") {
  manual_seed(5);
  using Inputs = std::vector<Tensor>;
  IndexTensor ids({1, 3, 3, 0, 5, 1}, {2, 3});
  SUBCASE("Linear") {
    CHECK_GRADCHECK([](const Inputs& x) { return linear(x[0], x[1], x[2]); },
                    {randn({3, 4}, true), randn({2, 4}, true), randn({2}, true)});
  }
  SUBCASE("Embedding") {
    // padding_idx and scale_grad_by_freq change the gradient on purpose (the pad row gets none,
    // repeated rows are scaled), so finite differences check the ids that stay true
    // derivatives; the golden tests pin both options to PyTorch.
    IndexTensor no_pad({1, 3, 3, 0, 5, 1}, {2, 3});
    for (auto o : {F::EmbeddingFuncOptions(), F::EmbeddingFuncOptions().padding_idx(2)}) {
      CHECK_GRADCHECK([&](const Inputs& x) { return F::embedding(no_pad, x[0], o); },
                      {randn({6, 3}, true)});
    }
    // A row-sparse gradient has the table's dtype: checked in float64 too (through grad()).
    const auto sparse = F::EmbeddingFuncOptions().sparse(true).padding_idx(4);
    CHECK_GRADCHECK([&](const Inputs& x) { return F::embedding(no_pad, x[0], sparse); },
                    {randn({6, 3}, true)});
  }
  SUBCASE("EmbeddingBag, each mode") {
    using Mode = F::EmbeddingBagMode;
    for (Mode m : {Mode::Sum, Mode::Mean, Mode::Max}) {
      CHECK_GRADCHECK(
          [&](const Inputs& x) {
            return F::embedding_bag(ids, x[0], F::EmbeddingBagFuncOptions().mode(m).padding_idx(3));
          },
          {randn({6, 3}, true)});
    }
    IndexTensor flat{1, 3, 3, 0, 5};
    CHECK_GRADCHECK(
        [&](const Inputs& x) {
          return F::embedding_bag(flat, x[0],
                                  F::EmbeddingBagFuncOptions()
                                      .mode(Mode::Sum)
                                      .offsets(IndexTensor{0, 2, 2})
                                      .per_sample_weights(x[1]));
        },
        {randn({6, 3}, true), rand({5}, true)});
  }
  SUBCASE("LayerNorm, Dropout in eval, activations") {
    CHECK_GRADCHECK([](const Inputs& x) { return F::layer_norm(x[0], {4}, x[1], x[2]); },
                    {randn({2, 3, 4}, true), randn({4}, true), randn({4}, true)});
    CHECK_GRADCHECK([](const Inputs& x) { return F::dropout(x[0], 0.3, false); },
                    {randn({3, 3}, true)});
    nn::Sequential seq({std::make_shared<nn::Tanh>(), std::make_shared<nn::Sigmoid>(),
                        std::make_shared<nn::GELU>(), std::make_shared<nn::ReLU>()});
    CHECK_GRADCHECK([&](const Inputs& x) { return seq(x[0] + 3.f); }, {randn({3, 3}, true)});
  }
  SUBCASE("the Classifier end to end") {
    Classifier model(6, 3, 5, 2);
    model.to(kFloat64);  // gradcheck runs in float64: the layers too, as model.double()
    CHECK_GRADCHECK(
        [&](const Inputs& x) {
          Tensor e = F::embedding(ids, x[0], F::EmbeddingFuncOptions().padding_idx(1));
          return model.fc2(relu(model.fc1(F::masked_mean(e, ids != 1, 1))));
        },
        {model.emb.weight.detach().clone().requires_grad_(true)});
  }
}
