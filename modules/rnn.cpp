// nn::RNN, nn::LSTM, nn::GRU: PyTorch's parameters and init over functional::rnn
// (src/ops/rnn_stack.cpp).
#include "ember/nn/rnn.hpp"

#include <cmath>
#include <sstream>

#include "ember/nn/init.hpp"
#include "ember/nn/quantized.hpp"

namespace ember::nn {

using functional::RnnMode;
using utils::rnn::PackedSequence;

RNNBase::RNNBase(const char* layer, int mode, const Config& config)
    : layer_(layer), mode_(mode), config_(config) {
  const Config& c = config_;
  EMBER_CHECK_VALUE(c.input_size > 0 && c.hidden_size > 0, layer, ": input_size and ",
                    "hidden_size must be positive, got ", c.input_size, " and ", c.hidden_size);
  EMBER_CHECK_VALUE(c.num_layers >= 1, layer, ": num_layers must be at least 1, got ",
                    c.num_layers);
  EMBER_CHECK_VALUE(c.dropout >= 0 && c.dropout <= 1, layer, ": dropout must be in [0, 1], got ",
                    c.dropout);
  const int64_t gates = functional::rnn_gate_count(static_cast<RnnMode>(mode)) * c.hidden_size;
  const int64_t directions = c.bidirectional ? 2 : 1;
  for (int64_t l = 0; l < c.num_layers; ++l) {
    for (int64_t d = 0; d < directions; ++d) {
      std::string suffix = "_l" + std::to_string(l) + (d == 1 ? "_reverse" : "");
      int64_t in = l == 0 ? c.input_size : c.hidden_size * directions;
      flat_weights_.push_back(register_parameter("weight_ih" + suffix, zeros({gates, in})));
      flat_weights_.push_back(
          register_parameter("weight_hh" + suffix, zeros({gates, c.hidden_size})));
      if (c.bias) {
        flat_weights_.push_back(register_parameter("bias_ih" + suffix, zeros({gates})));
        flat_weights_.push_back(register_parameter("bias_hh" + suffix, zeros({gates})));
      }
    }
  }
  reset_parameters();
}

void RNNBase::reset_parameters() {
  double bound = 1.0 / std::sqrt(static_cast<double>(config_.hidden_size));
  for (Tensor& w : flat_weights_) init::uniform_(w, -bound, bound);
}

std::string RNNBase::extra_repr() const {
  const Config& c = config_;
  std::string s = std::to_string(c.input_size) + ", " + std::to_string(c.hidden_size);
  if (c.num_layers != 1) s += ", num_layers=" + std::to_string(c.num_layers);
  if (!c.bias) s += ", bias=False";
  if (c.batch_first) s += ", batch_first=True";
  if (c.dropout != 0) {
    std::ostringstream p;
    p << c.dropout;  // 0.1, as Python prints it
    s += ", dropout=" + p.str();
  }
  if (c.bidirectional) s += ", bidirectional=True";
  return s;
}

std::tuple<Tensor, Tensor, Tensor> RNNBase::run(const Tensor& input, const Tensor& hx,
                                                const Tensor& cx) {
  return functional::rnn(static_cast<RnnMode>(mode_), input, hx, cx, flat_weights_, config_.bias,
                         func_options());
}

std::tuple<PackedSequence, Tensor, Tensor> RNNBase::run_packed(const PackedSequence& input,
                                                               const Tensor& hx, const Tensor& cx) {
  return functional::rnn(static_cast<RnnMode>(mode_), input, hx, cx, flat_weights_, config_.bias,
                         func_options());
}

functional::RNNFuncOptions RNNBase::func_options() const {
  return functional::RNNFuncOptions()
      .num_layers(config_.num_layers)
      .dropout(config_.dropout)
      .train(is_training())
      .bidirectional(config_.bidirectional)
      .batch_first(config_.batch_first);
}

RNN::RNN(const RNNOptions& o)
    : RNNBase("RNN", static_cast<int>(o.nonlinearity() == kTanh ? RnnMode::kTanh : RnnMode::kReLU),
              config_of(o)),
      options(o) {}

std::tuple<Tensor, Tensor> RNN::forward(const Tensor& input, const Tensor& hx) {
  auto [out, h_n, unused] = run(input, hx, Tensor());
  return {out, h_n};
}

std::tuple<PackedSequence, Tensor> RNN::forward_with_packed_input(const PackedSequence& input,
                                                                  const Tensor& hx) {
  auto [out, h_n, unused] = run_packed(input, hx, Tensor());
  return {out, h_n};
}

LSTM::LSTM(const LSTMOptions& o)
    : RNNBase("LSTM", static_cast<int>(RnnMode::kLSTM), config_of(o)), options(o) {}

std::tuple<Tensor, LSTM::State> LSTM::forward(const Tensor& input, const std::optional<State>& hx) {
  if (dynamic_quantized) return dynamic_quantized->forward(input, hx);
  auto [out, h_n, c_n] =
      hx ? run(input, std::get<0>(*hx), std::get<1>(*hx)) : run(input, Tensor(), Tensor());
  return {out, State{h_n, c_n}};
}

std::tuple<PackedSequence, LSTM::State> LSTM::forward_with_packed_input(
    const PackedSequence& input, const std::optional<State>& hx) {
  if (dynamic_quantized) return dynamic_quantized->forward_with_packed_input(input, hx);
  auto [out, h_n, c_n] = hx ? run_packed(input, std::get<0>(*hx), std::get<1>(*hx))
                            : run_packed(input, Tensor(), Tensor());
  return {out, State{h_n, c_n}};
}

std::string LSTM::name() const {
  return dynamic_quantized ? dynamic_quantized->name() : Module::name();
}

std::string LSTM::extra_repr() const {
  return dynamic_quantized ? dynamic_quantized->extra_repr() : RNNBase::extra_repr();
}

GRU::GRU(const GRUOptions& o)
    : RNNBase("GRU", static_cast<int>(RnnMode::kGRU), config_of(o)), options(o) {}

std::tuple<Tensor, Tensor> GRU::forward(const Tensor& input, const Tensor& hx) {
  auto [out, h_n, unused] = run(input, hx, Tensor());
  return {out, h_n};
}

std::tuple<PackedSequence, Tensor> GRU::forward_with_packed_input(const PackedSequence& input,
                                                                  const Tensor& hx) {
  auto [out, h_n, unused] = run_packed(input, hx, Tensor());
  return {out, h_n};
}

}  // namespace ember::nn
