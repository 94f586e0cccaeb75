// The Module API beyond registration: tied weights, freezing, moves, traversal (named_modules,
// apply, buffers) and the containers (ModuleList, ModuleDict, Sequential with an Embedding,
// Identity, Flatten).
#include <doctest/doctest.h>

#include <cstdio>
#include <ember/ember.hpp>
#include <type_traits>

using namespace ember;
namespace F = ember::nn::functional;

namespace {
// An output layer tied to the embedding: one tensor, two names.
struct TiedLM : nn::Module {
  nn::Embedding emb;
  nn::Linear out;
  TiedLM(int64_t vocab, int64_t dim) : emb(vocab, dim), out(dim, vocab, /*bias=*/false) {
    register_module("emb", emb);
    register_module("out", out);
    out.weight = out.register_parameter("weight", emb.weight);
  }
  Tensor forward(const IndexTensor& ids) { return out(emb(ids)); }
};

struct Net : nn::Module {
  nn::Linear fc1, fc2;
  Net() : fc1(3, 4), fc2(4, 2) {
    register_module("fc1", fc1);
    register_module("fc2", fc2);
  }
  Tensor forward(const Tensor& x) { return fc2(relu(fc1(x))); }
};

const float* storage_of(const Tensor& t) { return t.data().data(); }
}  // namespace

TEST_CASE("tied weights: one parameter, two state_dict names, both uses in the gradient") {
  manual_seed(3);
  TiedLM model(6, 4);
  CHECK(model.parameters().size() == 1);
  CHECK(model.named_parameters()[0].first == "emb.weight");
  StateDict dict = model.state_dict();
  REQUIRE(dict.size() == 2);
  CHECK(storage_of(dict.at("emb.weight")) == storage_of(dict.at("out.weight")));

  // The tied gradient is the sum of the gradients of the two uses, computed untied.
  IndexTensor ids{1, 4, 4, 0}, y{2, 5, 1, 3};
  F::cross_entropy(model.forward(ids), y).backward();
  Tensor a = Tensor(model.emb.weight.data()).requires_grad_();
  Tensor b = Tensor(model.emb.weight.data()).requires_grad_();
  F::cross_entropy(linear(F::embedding(ids, a), b), y).backward();
  std::vector<float> tied = model.emb.weight.grad().to_vector();
  std::vector<float> untied = (a.grad() + b.grad()).to_vector();
  REQUIRE(tied.size() == untied.size());
  for (size_t i = 0; i < tied.size(); ++i) CHECK(tied[i] == doctest::Approx(untied[i]));

  // A step moves the one tensor both layers read.
  std::vector<float> before = model.out.weight.to_vector();
  optim::SGD(model.parameters(), optim::SGDOptions(0.5)).step();
  CHECK(model.out.weight.to_vector() != before);
  CHECK(storage_of(model.out.weight) == storage_of(model.emb.weight));
}

TEST_CASE("tied weights survive a save/load round trip: load writes into the shared tensor") {
  manual_seed(4);
  TiedLM trained(6, 4);
  std::string path = std::string(EMBER_BINARY_DIR) + "/tied.safetensors";
  io::save(trained.state_dict(), path);
  manual_seed(5);
  TiedLM fresh(6, 4);
  fresh.load_state_dict(io::load(path));
  CHECK(fresh.emb.weight.to_vector() == trained.emb.weight.to_vector());
  CHECK(fresh.parameters().size() == 1);
  CHECK(storage_of(fresh.out.weight) == storage_of(fresh.emb.weight));
  // Still tied after loading: training one use moves the other.
  optim::SGD opt(fresh.parameters(), optim::SGDOptions(0.1));
  F::cross_entropy(fresh.forward(IndexTensor{1, 2}), IndexTensor{3, 4}).backward();
  opt.step();
  CHECK(fresh.out.weight.to_vector() == fresh.emb.weight.to_vector());
  CHECK(fresh.out.weight.to_vector() != trained.out.weight.to_vector());
  std::remove(path.c_str());
}

TEST_CASE("a frozen module: no gradient, skipped by every optimizer, unchanged after steps") {
  using namespace optim;
  std::vector<std::function<std::unique_ptr<Optimizer>(std::vector<Tensor>)>> makers = {
      [](auto p) { return std::make_unique<SGD>(p, SGDOptions(0.1)); },
      [](auto p) { return std::make_unique<SGD>(p, SGDOptions(0.1).momentum(0.9)); },
      [](auto p) { return std::make_unique<Adam>(p, AdamOptions(0.1)); },
      [](auto p) { return std::make_unique<AdamW>(p, AdamWOptions(0.1).weight_decay(0.1)); },
      [](auto p) { return std::make_unique<Adagrad>(p, AdagradOptions(0.1)); },
      [](auto p) { return std::make_unique<RMSprop>(p, RMSpropOptions(0.1)); },
  };
  for (size_t k = 0; k < makers.size(); ++k) {
    CAPTURE(k);
    manual_seed(7);
    Net net;
    net.fc1.requires_grad_(false);
    CHECK_FALSE(net.fc1.weight.requires_grad());
    // A stale gradient from before freezing is not applied either.
    net.fc1.bias.set_grad(ones({4}));
    std::vector<float> frozen = net.fc1.weight.to_vector(), frozen_bias = net.fc1.bias.to_vector();
    std::vector<float> trained = net.fc2.weight.to_vector();
    auto opt = makers[k](net.parameters());  // frozen parameters are accepted
    for (int step = 0; step < 3; ++step) {
      opt->zero_grad();
      sum(net.forward(ones({2, 3}))).backward();
      CHECK_FALSE(net.fc1.weight.has_grad());
      opt->step();
    }
    net.fc1.bias.set_grad(ones({4}));
    opt->step();
    CHECK(net.fc1.weight.to_vector() == frozen);
    CHECK(net.fc1.bias.to_vector() == frozen_bias);
    CHECK(net.fc2.weight.to_vector() != trained);
    CHECK(opt->state_dict().index_tensors.count("state.0.step") == 0);  // no state for it
  }
  Net net;
  net.requires_grad_(false).requires_grad_(true);
  for (Tensor& p : net.parameters()) CHECK(p.requires_grad());
}

TEST_CASE("modules move, never copy: std::vector<nn::Linear> works") {
  static_assert(!std::is_copy_constructible_v<nn::Linear>);
  static_assert(!std::is_copy_assignable_v<nn::Linear>);
  static_assert(std::is_nothrow_move_constructible_v<nn::Linear>);
  static_assert(std::is_move_assignable_v<nn::Embedding>);
  std::vector<nn::Linear> layers;
  for (int i = 0; i < 9; ++i) layers.emplace_back(2, 2);  // several reallocations
  for (nn::Linear& l : layers) {
    auto params = l.named_parameters();
    REQUIRE(params.size() == 2);
    CHECK(params[0].second.impl() == l.weight.impl());
    CHECK(l.forward(ones({1, 2})).shape() == Shape{1, 2});
  }
  layers.erase(layers.begin());  // move assignment
  CHECK(layers.size() == 8);
  CHECK(layers[0].parameters()[0].impl() == layers[0].weight.impl());
}

TEST_CASE("a moved parent's member children stay registered, and point at the new members") {
  manual_seed(8);
  Net a;
  std::vector<float> w = a.fc1.weight.to_vector();
  Net b(std::move(a));
  CHECK(a.parameters().empty());
  CHECK(a.children().empty());
  REQUIRE(b.children().size() == 2);
  CHECK(b.children()[0] == &b.fc1);
  CHECK(b.children()[1] == &b.fc2);
  CHECK(b.parameters().size() == 4);
  CHECK(b.fc1.weight.to_vector() == w);
  b.eval();
  CHECK_FALSE(b.fc2.is_training());

  Net c;
  c = std::move(b);
  CHECK(c.children()[0] == &c.fc1);
  CHECK(c.state_dict().at("fc1.weight").to_vector() == w);

  // Elements of a vector of composite modules each point at their own members.
  std::vector<Net> nets(1);
  for (int i = 0; i < 5; ++i) nets.emplace_back();
  for (Net& n : nets) CHECK(n.children()[1] == &n.fc2);

  // A child registered by reference but not a member stays where it is when its parent moves,
  // and a destroyed child leaves no dangling entry.
  nn::Module parent;
  {
    nn::Linear outside(2, 2);
    parent.register_module("outside", outside);
    nn::Module moved(std::move(parent));
    CHECK(moved.children()[0] == &outside);
  }
  CHECK(parent.children().empty());
}

TEST_CASE("named_modules, apply, buffers") {
  nn::Sequential seq({std::make_shared<nn::Linear>(2, 3), std::make_shared<nn::ReLU>()});
  Net net;
  std::vector<std::string> names;
  for (auto& [name, m] : net.named_modules()) names.push_back(name);
  CHECK(names == std::vector<std::string>{"", "fc1", "fc2"});
  CHECK(seq.modules().size() == 3);
  std::vector<std::string> order;
  net.apply([&](nn::Module& m) { order.push_back(m.name()); });
  CHECK(order == std::vector<std::string>{"Linear", "Linear", "Net"});

  net.fc1.register_buffer("running", full({2}, 3.f));
  CHECK(net.buffers().size() == 1);
  CHECK(net.parameters().size() == 4);
  CHECK(net.named_buffers()[0].first == "fc1.running");
  StateDict dict = net.state_dict();
  CHECK(dict.count("fc1.running") == 1);
  dict["fc1.running"] = full({2}, 5.f);
  net.load_state_dict(dict);
  CHECK(net.fc1.named_buffers()[0].second.to_vector() == std::vector<float>{5.f, 5.f});
}

TEST_CASE("ModuleList and ModuleDict register what they hold") {
  nn::ModuleList list;
  list.push_back(nn::Linear(2, 3));  // moved in
  list.push_back(std::make_shared<nn::ReLU>());
  CHECK(list.size() == 2);
  CHECK(list.at<nn::Linear>(0).weight.shape() == Shape{3, 2});
  CHECK_THROWS_WITH_AS(list.at<nn::Linear>(1),
                       "ModuleList::at: module 1 is a ReLU, not the type asked for", ValueError);
  CHECK_THROWS_AS(list[2], IndexError);
  CHECK(list.state_dict().count("0.weight") == 1);
  int count = 0;
  for (auto& m : list) count += m != nullptr;
  CHECK(count == 2);

  nn::ModuleDict dict({{"enc", std::make_shared<nn::Linear>(2, 2)}});
  dict.insert("dec", nn::Linear(2, 4));
  CHECK(dict.keys() == std::vector<std::string>{"enc", "dec"});
  CHECK(dict.contains("dec"));
  CHECK(dict.at<nn::Linear>("dec").weight.shape() == Shape{4, 2});
  CHECK(dict.parameters().size() == 4);
  CHECK_THROWS_WITH_AS(dict["mid"], "ModuleDict: no module named 'mid' (keys: enc, dec)",
                       IndexError);
  CHECK_THROWS_AS(dict.insert("enc", nn::Linear(1, 1)), ValueError);
}

TEST_CASE("Sequential may start with an Embedding; Identity and Flatten") {
  manual_seed(9);
  auto emb = std::make_shared<nn::Embedding>(10, 4);
  auto fc = std::make_shared<nn::Linear>(12, 5);
  nn::Sequential seq({emb, std::make_shared<nn::Flatten>(), std::make_shared<nn::Identity>(), fc});
  IndexTensor ids({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor out = seq(ids);
  CHECK(out.shape() == Shape{2, 5});
  CHECK(out.to_vector() == fc->forward((*emb)(ids).reshape({2, 12})).to_vector());
  CHECK(nn::Flatten()(zeros({2, 3, 4})).shape() == Shape{2, 12});
  CHECK(nn::Flatten(0, 1)(zeros({2, 3, 4})).shape() == Shape{6, 4});
  CHECK_THROWS_WITH_AS(seq(ones({2, 3})),
                       "Sequential: the first layer (Embedding) takes an IndexTensor, but forward "
                       "got a Tensor",
                       ValueError);
  nn::Sequential bag_model({std::make_shared<nn::EmbeddingBag>(nn::EmbeddingBagOptions(10, 4)),
                            std::make_shared<nn::Linear>(4, 2)});
  CHECK(bag_model(ids).shape() == Shape{2, 2});
  nn::Sequential plain({std::make_shared<nn::ReLU>()});
  CHECK_THROWS_WITH_AS(plain(ids),
                       "Sequential: forward got an IndexTensor, but the first layer (ReLU) takes "
                       "a Tensor",
                       ValueError);
  CHECK_THROWS_WITH_AS(plain.push_back(nn::Embedding(3, 2)),
                       "Sequential: layer 1 (Embedding) does not map a Tensor to a Tensor; only "
                       "the first layer may take an IndexTensor",
                       ValueError);
}
