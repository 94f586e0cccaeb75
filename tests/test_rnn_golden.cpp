// RNN / LSTM / GRU and their cells against PyTorch 1.13 (golden/make_golden_rnn.py): outputs,
// final states, input, state and parameter gradients, padded and packed; trained models load.
#include <doctest/doctest.h>

#include <ember/ember.hpp>

#include "golden_rnn_cases.hpp"

using namespace ember;

namespace {

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
    golden::rnn_cases::check_any_layer(name, c, kFloat32);
    ++layers;
  }
  CHECK(layers == 18);
}

TEST_CASE("rnn cells match PyTorch") {
  golden::File file = golden::load("rnn.txt");
  int cells = 0;
  for (const auto& [name, c] : file) {
    if (name.rfind("cell_", 0) != 0) continue;
    golden::rnn_cases::check_any_cell(name, c, kFloat32);
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
