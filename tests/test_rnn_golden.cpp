// RNN / LSTM / GRU and their cells against PyTorch 1.13 (golden/make_golden_rnn.py): outputs,
// final states, input, state and parameter gradients, padded and packed; trained models load.
#include <doctest/doctest.h>

#include <ember/ember.hpp>
#include <type_traits>

#include "golden.hpp"

using namespace ember;
using nn::utils::rnn::pack_padded_sequence;
using nn::utils::rnn::pad_packed_sequence;

namespace {

Tensor optional_input(const golden::Case& c, const std::string& key) {
  auto it = c.find(key);
  return it == c.end() ? Tensor() : it->second.tensor(/*requires_grad=*/true);
}

void check_param_grads(const nn::Module& module, const golden::Case& c, const std::string& name) {
  for (const auto& [key, p] : module.named_parameters())
    golden::check_close(p.grad(), c.at("g." + key), name + " grad of " + key);
}

Tensor term(const Tensor& t, const golden::Case& c, const std::string& key) {
  return sum(t * c.at(key).tensor());
}

template <class Layer, class Options>
void check_layer(const std::string& name, const golden::Case& c) {
  INFO(name);
  const std::vector<double>& cfg = c.at("cfg").values;
  Options options(3, 4);
  options.num_layers(static_cast<int64_t>(cfg[1]))
      .bias(cfg[2] != 0)
      .batch_first(cfg[3] != 0)
      .dropout(cfg[4])
      .bidirectional(cfg[5] != 0);
  if constexpr (std::is_same_v<Options, nn::RNNOptions>)
    options.nonlinearity(cfg[0] == 1 ? nn::kReLU : nn::kTanh);
  Layer layer(options);
  golden::load_params(layer, c, "p.");
  constexpr bool lstm = std::is_same_v<Layer, nn::LSTM>;
  Tensor x = c.at("x").tensor(true), h0 = optional_input(c, "h0"), c0 = optional_input(c, "c0");
  Tensor out, hn, cn;
  auto call = [&](const auto& input) {
    if constexpr (lstm) {
      std::optional<nn::LSTM::State> state;
      if (h0.defined()) state = nn::LSTM::State{h0, c0};
      auto [y, s] = layer(input, state);
      std::tie(hn, cn) = s;
      return y;
    } else {
      auto [y, h] = layer(input, h0);
      hn = h;
      return y;
    }
  };
  if (c.count("lengths")) {
    auto packed =
        pack_padded_sequence(x, c.at("lengths").index(), options.batch_first(), cfg[6] != 0);
    out = std::get<0>(pad_packed_sequence(call(packed), options.batch_first()));
  } else {
    out = call(x);
  }
  Tensor loss = term(out, c, "gout") + term(hn, c, "ghn");
  if (lstm) loss = loss + term(cn, c, "gcn");
  loss.backward();
  golden::check_close(out, c.at("out"), name + " out");
  golden::check_close(hn, c.at("hn"), name + " h_n");
  if (lstm) golden::check_close(cn, c.at("cn"), name + " c_n");
  golden::check_close(x.grad(), c.at("grad_x"), name + " grad x");
  if (h0.defined()) golden::check_close(h0.grad(), c.at("grad_h0"), name + " grad h0");
  if (c0.defined()) golden::check_close(c0.grad(), c.at("grad_c0"), name + " grad c0");
  check_param_grads(layer, c, name);
}

template <class Cell>
void check_cell(const std::string& name, const golden::Case& c) {
  INFO(name);
  const std::vector<double>& cfg = c.at("cfg").values;
  Cell cell(
      nn::RNNCellOptions(3, 4).bias(cfg[2] != 0).nonlinearity(cfg[0] == 1 ? nn::kReLU : nn::kTanh));
  golden::load_params(cell, c, "p.");
  Tensor x = c.at("x").tensor(true), h0 = optional_input(c, "h0"), c0 = optional_input(c, "c0");
  Tensor h, cs;
  if constexpr (std::is_same_v<Cell, nn::LSTMCell>) {
    std::optional<std::tuple<Tensor, Tensor>> state;
    if (h0.defined()) state = std::make_tuple(h0, c0);
    std::tie(h, cs) = cell(x, state);
  } else {
    h = cell(x, h0);
  }
  Tensor loss = term(h, c, "gout");
  if (cs.defined()) loss = loss + term(cs, c, "gcn");
  loss.backward();
  golden::check_close(h, c.at("out"), name + " h'");
  if (cs.defined()) golden::check_close(cs, c.at("cn"), name + " c'");
  golden::check_close(x.grad(), c.at("grad_x"), name + " grad x");
  if (h0.defined()) golden::check_close(h0.grad(), c.at("grad_h0"), name + " grad hx");
  if (c0.defined()) golden::check_close(c0.grad(), c.at("grad_c0"), name + " grad cx");
  check_param_grads(cell, c, name);
}

template <class Layer, class Options>
struct Model : nn::Module {
  Layer rnn;
  nn::Linear fc;
  Model() : rnn(Options(5, 8).num_layers(2).bidirectional(true).batch_first(true)), fc(16, 3) {
    register_module("rnn", rnn);
    register_module("fc", fc);
  }
  Tensor forward(const Tensor& x) { return fc(std::get<0>(rnn(x))); }
};

template <class Layer, class Options>
void check_model(const std::string& kind, const golden::File& file) {
  INFO(kind);
  Model<Layer, Options> model;
  model.load_state_dict(
      io::load(std::string(EMBER_GOLDEN_DIR) + "/model_" + kind + ".safetensors"));  // strict
  const golden::Case& c = file.at("model_" + kind);
  NoGradGuard no_grad;
  golden::check_close(model.forward(c.at("x").tensor()), c.at("out"), kind + " model output");
}

}  // namespace

TEST_CASE("rnn layers match PyTorch: outputs, states and every gradient") {
  golden::File file = golden::load("rnn.txt");
  int layers = 0;
  for (const auto& [name, c] : file) {
    if (!c.count("cfg") || name.rfind("cell_", 0) == 0) continue;
    switch (static_cast<int>(c.at("cfg").values[0])) {
      case 0:
      case 1:
        check_layer<nn::RNN, nn::RNNOptions>(name, c);
        break;
      case 2:
        check_layer<nn::LSTM, nn::LSTMOptions>(name, c);
        break;
      default:
        check_layer<nn::GRU, nn::GRUOptions>(name, c);
        break;
    }
    ++layers;
  }
  CHECK(layers == 18);
}

TEST_CASE("rnn cells match PyTorch") {
  golden::File file = golden::load("rnn.txt");
  int cells = 0;
  for (const auto& [name, c] : file) {
    if (name.rfind("cell_", 0) != 0) continue;
    switch (static_cast<int>(c.at("cfg").values[0])) {
      case 0:
      case 1:
        check_cell<nn::RNNCell>(name, c);
        break;
      case 2:
        check_cell<nn::LSTMCell>(name, c);
        break;
      default:
        check_cell<nn::GRUCell>(name, c);
        break;
    }
    ++cells;
  }
  CHECK(cells == 6);
}

TEST_CASE("rnn models trained in PyTorch load strictly and give PyTorch's outputs") {
  golden::File file = golden::load("rnn.txt");
  check_model<nn::RNN, nn::RNNOptions>("rnn", file);
  check_model<nn::LSTM, nn::LSTMOptions>("lstm", file);
  check_model<nn::GRU, nn::GRUOptions>("gru", file);
}
