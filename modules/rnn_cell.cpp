// nn::RNNCell, nn::LSTMCell, nn::GRUCell: PyTorch's parameters and init over
// functional::rnn_tanh_cell, rnn_relu_cell, lstm_cell and gru_cell.
#include <cmath>

#include "ember/nn/init.hpp"
#include "ember/nn/rnn.hpp"

namespace ember::nn {

using functional::RnnMode;

RNNCellBase::RNNCellBase(const char* layer, int mode, const RNNCellOptions& options)
    : layer_(layer), mode_(mode), options_(options) {
  const int64_t in = options.input_size(), hidden = options.hidden_size();
  EMBER_CHECK_VALUE(in > 0 && hidden > 0, layer, ": input_size and hidden_size must be ",
                    "positive, got ", in, " and ", hidden);
  const int64_t gates = functional::rnn_gate_count(static_cast<RnnMode>(mode)) * hidden;
  weight_ih = register_parameter("weight_ih", zeros({gates, in}));
  weight_hh = register_parameter("weight_hh", zeros({gates, hidden}));
  if (options.bias()) {
    bias_ih = register_parameter("bias_ih", zeros({gates}));
    bias_hh = register_parameter("bias_hh", zeros({gates}));
  }
  reset_parameters();
}

void RNNCellBase::reset_parameters() {
  double bound = 1.0 / std::sqrt(static_cast<double>(options_.hidden_size()));
  for (Tensor* w : {&weight_ih, &weight_hh, &bias_ih, &bias_hh})
    if (w->defined()) init::uniform_(*w, -bound, bound);
}

std::string RNNCellBase::extra_repr() const {
  std::string s =
      std::to_string(options_.input_size()) + ", " + std::to_string(options_.hidden_size());
  if (!options_.bias()) s += ", bias=False";
  if (static_cast<RnnMode>(mode_) == RnnMode::kReLU) s += ", nonlinearity=relu";
  return s;
}

std::tuple<Tensor, Tensor> RNNCellBase::step(const Tensor& input, const Tensor& hx,
                                             const Tensor& cx) {
  const int64_t in = options_.input_size(), hidden = options_.hidden_size();
  EMBER_CHECK_SHAPE((input.dim() == 1 || input.dim() == 2) && input.size(-1) == in, layer_,
                    ": expected input [batch, ", in, "] or [", in, "], got shape ",
                    ember::detail::shape_str(input.shape()));
  const bool unbatched = input.dim() == 1;
  const Shape want = unbatched ? Shape{hidden} : Shape{input.size(0), hidden};
  // A missing state starts at zeros; a given one is checked here to name the layer.
  auto state = [&](const Tensor& s, const char* name) {
    if (!s.defined()) return zeros(want, input.dtype());
    EMBER_CHECK_SHAPE(s.shape() == want, layer_, ": expected ", name, " of shape ",
                      ember::detail::shape_str(want), ", got ",
                      ember::detail::shape_str(s.shape()));
    return s;
  };
  const auto mode = static_cast<RnnMode>(mode_);
  const Tensor h0 = state(hx, "hx");
  switch (mode) {
    case RnnMode::kTanh:
      return {functional::rnn_tanh_cell(input, h0, weight_ih, weight_hh, bias_ih, bias_hh), {}};
    case RnnMode::kReLU:
      return {functional::rnn_relu_cell(input, h0, weight_ih, weight_hh, bias_ih, bias_hh), {}};
    case RnnMode::kGRU:
      return {functional::gru_cell(input, h0, weight_ih, weight_hh, bias_ih, bias_hh), {}};
    case RnnMode::kLSTM:
      break;
  }
  return functional::lstm_cell(input, {h0, state(cx, "cx")}, weight_ih, weight_hh, bias_ih,
                               bias_hh);
}

RNNCell::RNNCell(const RNNCellOptions& o)
    : RNNCellBase("RNNCell",
                  static_cast<int>(o.nonlinearity() == kTanh ? RnnMode::kTanh : RnnMode::kReLU),
                  o) {}

Tensor RNNCell::forward(const Tensor& input, const Tensor& hx) {
  return std::get<0>(step(input, hx, Tensor()));
}

LSTMCell::LSTMCell(const LSTMCellOptions& o)
    : RNNCellBase("LSTMCell", static_cast<int>(RnnMode::kLSTM), o) {}

std::tuple<Tensor, Tensor> LSTMCell::forward(const Tensor& input,
                                             const std::optional<std::tuple<Tensor, Tensor>>& hx) {
  return hx ? step(input, std::get<0>(*hx), std::get<1>(*hx)) : step(input, Tensor(), Tensor());
}

GRUCell::GRUCell(const GRUCellOptions& o)
    : RNNCellBase("GRUCell", static_cast<int>(RnnMode::kGRU), o) {}

Tensor GRUCell::forward(const Tensor& input, const Tensor& hx) {
  return std::get<0>(step(input, hx, Tensor()));
}

}  // namespace ember::nn
