// A recurrent case of golden/make_golden_rnn.py (rnn.txt, and float64_seq.txt made by
// make_golden_float64_seq.py): the layer or cell its cfg describes, PyTorch's parameters
// loaded by name, then outputs, final states and the gradients of the input, the initial
// state and every parameter, in float32 (test_rnn_golden.cpp) or float64
// (test_golden_float64_seq.cpp, the module converted with to(kFloat64)).
#pragma once

#include <optional>
#include <type_traits>

#include "golden.hpp"

namespace golden::rnn_cases {

inline ember::Tensor optional_input(const Case& c, const std::string& key, ember::Dtype dtype) {
  auto it = c.find(key);
  return it == c.end() ? ember::Tensor() : it->second.tensor(/*requires_grad=*/true, dtype);
}

inline void check_param_grads(const ember::nn::Module& module, const Case& c,
                              const std::string& name, ember::Dtype dtype) {
  for (const auto& [key, p] : module.named_parameters())
    check_close(p.grad(), c.at("g." + key), name + " grad of " + key, dtype);
}

inline ember::Tensor term(const ember::Tensor& t, const Case& c, const std::string& key,
                          ember::Dtype dtype) {
  return ember::sum(t * c.at(key).tensor(false, dtype));
}

// The module in `dtype` with the case's "p.<name>" parameters.
template <class M>
void load_module(M& m, const Case& c, ember::Dtype dtype) {
  m.to(dtype);
  load_params(m, c, "p.", dtype);
}

// cfg: kind (0 tanh, 1 relu, 2 LSTM, 3 GRU), num_layers, bias, batch_first, dropout,
// bidirectional, enforce_sorted. The sizes are those of x and weight_hh_l0.
template <class Layer, class Options>
void check_layer(const std::string& name, const Case& c, ember::Dtype dtype) {
  using namespace ember;
  INFO(name);
  const std::vector<double>& cfg = c.at("cfg").values;
  Options options(c.at("x").shape.back(), c.at("p.weight_hh_l0").shape.back());
  options.num_layers(static_cast<int64_t>(cfg[1]))
      .bias(cfg[2] != 0)
      .batch_first(cfg[3] != 0)
      .dropout(cfg[4])
      .bidirectional(cfg[5] != 0);
  if constexpr (std::is_same_v<Options, nn::RNNOptions>)
    options.nonlinearity(cfg[0] == 1 ? nn::kReLU : nn::kTanh);
  Layer layer(options);
  load_module(layer, c, dtype);
  constexpr bool lstm = std::is_same_v<Layer, nn::LSTM>;
  Tensor x = c.at("x").tensor(true, dtype), h0 = optional_input(c, "h0", dtype),
         c0 = optional_input(c, "c0", dtype);
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
    using nn::utils::rnn::pack_padded_sequence, nn::utils::rnn::pad_packed_sequence;
    auto packed =
        pack_padded_sequence(x, c.at("lengths").index(), options.batch_first(), cfg[6] != 0);
    out = std::get<0>(pad_packed_sequence(call(packed), options.batch_first()));
  } else {
    out = call(x);
  }
  Tensor loss = term(out, c, "gout", dtype) + term(hn, c, "ghn", dtype);
  if (lstm) loss = loss + term(cn, c, "gcn", dtype);
  loss.backward();
  check_close(out, c.at("out"), name + " out", dtype);
  check_close(hn, c.at("hn"), name + " h_n", dtype);
  if (lstm) check_close(cn, c.at("cn"), name + " c_n", dtype);
  check_close(x.grad(), c.at("grad_x"), name + " grad x", dtype);
  if (h0.defined()) check_close(h0.grad(), c.at("grad_h0"), name + " grad h0", dtype);
  if (c0.defined()) check_close(c0.grad(), c.at("grad_c0"), name + " grad c0", dtype);
  check_param_grads(layer, c, name, dtype);
}

// cfg: kind, 1, bias.
template <class Cell>
void check_cell(const std::string& name, const Case& c, ember::Dtype dtype) {
  using namespace ember;
  INFO(name);
  const std::vector<double>& cfg = c.at("cfg").values;
  Cell cell(nn::RNNCellOptions(c.at("x").shape.back(), c.at("p.weight_hh").shape.back())
                .bias(cfg[2] != 0)
                .nonlinearity(cfg[0] == 1 ? nn::kReLU : nn::kTanh));
  load_module(cell, c, dtype);
  Tensor x = c.at("x").tensor(true, dtype), h0 = optional_input(c, "h0", dtype),
         c0 = optional_input(c, "c0", dtype);
  Tensor h, cs;
  if constexpr (std::is_same_v<Cell, nn::LSTMCell>) {
    std::optional<std::tuple<Tensor, Tensor>> state;
    if (h0.defined()) state = std::make_tuple(h0, c0);
    std::tie(h, cs) = cell(x, state);
  } else {
    h = cell(x, h0);
  }
  Tensor loss = term(h, c, "gout", dtype);
  if (cs.defined()) loss = loss + term(cs, c, "gcn", dtype);
  loss.backward();
  check_close(h, c.at("out"), name + " h'", dtype);
  if (cs.defined()) check_close(cs, c.at("cn"), name + " c'", dtype);
  check_close(x.grad(), c.at("grad_x"), name + " grad x", dtype);
  if (h0.defined()) check_close(h0.grad(), c.at("grad_h0"), name + " grad hx", dtype);
  if (c0.defined()) check_close(c0.grad(), c.at("grad_c0"), name + " grad cx", dtype);
  check_param_grads(cell, c, name, dtype);
}

// Any layer case (cfg's kind picks RNN, LSTM or GRU).
inline void check_any_layer(const std::string& name, const Case& c, ember::Dtype dtype) {
  using namespace ember;
  switch (static_cast<int>(c.at("cfg").values[0])) {
    case 0:
    case 1:
      return check_layer<nn::RNN, nn::RNNOptions>(name, c, dtype);
    case 2:
      return check_layer<nn::LSTM, nn::LSTMOptions>(name, c, dtype);
    default:
      return check_layer<nn::GRU, nn::GRUOptions>(name, c, dtype);
  }
}

// Any cell case ("cell_..." cases).
inline void check_any_cell(const std::string& name, const Case& c, ember::Dtype dtype) {
  using namespace ember;
  switch (static_cast<int>(c.at("cfg").values[0])) {
    case 0:
    case 1:
      return check_cell<nn::RNNCell>(name, c, dtype);
    case 2:
      return check_cell<nn::LSTMCell>(name, c, dtype);
    default:
      return check_cell<nn::GRUCell>(name, c, dtype);
  }
}

}  // namespace golden::rnn_cases
