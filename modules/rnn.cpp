// nn::RNN, nn::LSTM, nn::GRU: PyTorch's parameters over the fused layer op of rnn_kernel.cpp.
// A padded batch runs as packed rows with every step full, so both inputs share one path.
#include "ember/nn/rnn.hpp"

#include <cmath>

#include "ember/nn/functional.hpp"
#include "ember/nn/init.hpp"
#include "ember/ops.hpp"
#include "rnn_kernel.hpp"

namespace ember::nn {

using detail::RnnMode;
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
  const int64_t gates = detail::gate_count(static_cast<RnnMode>(mode)) * c.hidden_size;
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
  if (c.dropout != 0) s += ", dropout=" + std::to_string(c.dropout);
  if (c.bidirectional) s += ", bidirectional=True";
  return s;
}

std::tuple<Tensor, Tensor, Tensor> RNNBase::stack(const Tensor& rows,
                                                  const std::vector<int64_t>& batch_sizes,
                                                  int64_t batch, const Tensor& hx, const Tensor& cx,
                                                  bool batch_major) {
  const Config& c = config_;
  const auto mode = static_cast<RnnMode>(mode_);
  const bool lstm = mode == RnnMode::kLSTM;
  const int64_t D = c.bidirectional ? 2 : 1, H = c.hidden_size, L = c.num_layers;
  const Shape want{L * D, batch, H};
  for (const Tensor* state : {&hx, &cx}) {
    if (!state->defined()) continue;
    EMBER_CHECK_SHAPE(state->shape() == want, layer_, ": expected hidden state ",
                      state == &hx ? "h_0" : "c_0", " of shape ", ember::detail::shape_str(want),
                      ", got ", ember::detail::shape_str(state->shape()));
  }
  Tensor h_all = hx.defined() ? hx.reshape({L * D * batch, H}) : Tensor();
  Tensor c_all = cx.defined() ? cx.reshape({L * D * batch, H}) : Tensor();
  Tensor zero_state = zeros({batch, H});
  const size_t per = c.bias ? 4 : 2;
  std::vector<Tensor> h_n, c_n;
  Tensor layer_in = rows;
  for (int64_t l = 0; l < L; ++l) {
    std::vector<Tensor> outs;
    for (int64_t d = 0; d < D; ++d) {
      const int64_t k = l * D + d;
      const Tensor* w = &flat_weights_[static_cast<size_t>(k) * per];
      Tensor h0 = h_all.defined() ? detail::narrow_rows(h_all, k * batch, batch) : zero_state;
      Tensor c0;
      if (lstm) c0 = c_all.defined() ? detail::narrow_rows(c_all, k * batch, batch) : zero_state;
      Tensor res = detail::rnn_layer(mode, layer_in, batch_sizes, h0, c0, w[0], w[1],
                                     c.bias ? w[2] : Tensor(), c.bias ? w[3] : Tensor(), d == 1,
                                     batch_major);
      const int64_t n = layer_in.size(0);
      outs.push_back(detail::narrow_rows(res, 0, n));
      h_n.push_back(detail::narrow_rows(res, n, batch));
      if (lstm) c_n.push_back(detail::narrow_rows(res, n + batch, batch));
    }
    layer_in = D == 2 ? cat(outs, 1) : outs[0];
    if (c.dropout > 0 && is_training() && l + 1 < L)
      layer_in = functional::dropout(layer_in, c.dropout, true);
  }
  return {layer_in, ember::stack(h_n, 0), lstm ? ember::stack(c_n, 0) : Tensor()};
}

std::tuple<Tensor, Tensor, Tensor> RNNBase::run(const Tensor& input, const Tensor& hx,
                                                const Tensor& cx) {
  const Config& c = config_;
  EMBER_CHECK_SHAPE(input.dim() == 2 || input.dim() == 3, layer_,
                    ": expected input of 2 (unbatched) or 3 dims, got shape ",
                    ember::detail::shape_str(input.shape()));
  EMBER_CHECK_SHAPE(input.size(-1) == c.input_size, layer_, ": input.size(-1) must be equal to ",
                    "input_size. Expected ", c.input_size, ", got ", input.size(-1),
                    " (input shape ", ember::detail::shape_str(input.shape()), ")");
  const bool unbatched = input.dim() == 2;
  // batch_first runs batch-major rows in place: no transpose of the input or the output.
  const bool batch_major = c.batch_first && !unbatched;
  Tensor x = unbatched ? input.unsqueeze(1) : input;
  const int64_t T = x.size(batch_major ? 1 : 0), B = x.size(batch_major ? 0 : 1);
  EMBER_CHECK_SHAPE(T > 0 && B > 0, layer_, ": expected a non-empty input, got shape ",
                    ember::detail::shape_str(input.shape()));
  auto batched_state = [&](const Tensor& s) {
    if (!s.defined() || !unbatched) return s;
    EMBER_CHECK_SHAPE(s.dim() == 2, layer_, ": expected a 2-D hidden state for unbatched input, ",
                      "got shape ", ember::detail::shape_str(s.shape()));
    return s.unsqueeze(1);
  };
  auto [rows, h_n, c_n] =
      stack(x.reshape({T * B, c.input_size}), std::vector<int64_t>(static_cast<size_t>(T), B), B,
            batched_state(hx), batched_state(cx), batch_major);
  const int64_t features = rows.size(1);
  if (unbatched) {
    return {rows, h_n.squeeze(1), c_n.defined() ? c_n.squeeze(1) : c_n};
  }
  Tensor out = rows.reshape(batch_major ? Shape{B, T, features} : Shape{T, B, features});
  return {out, h_n, c_n};
}

std::tuple<PackedSequence, Tensor, Tensor> RNNBase::run_packed(const PackedSequence& input,
                                                               const Tensor& hx, const Tensor& cx) {
  const Config& c = config_;
  const Tensor& data = input.data;
  EMBER_CHECK_SHAPE(data.dim() == 2 && data.size(1) == c.input_size, layer_,
                    ": packed input must be [N, input_size] with input_size ", c.input_size,
                    ", got shape ", ember::detail::shape_str(data.shape()));
  const std::vector<int64_t>& sizes = input.batch_sizes.to_vector();
  EMBER_CHECK_SHAPE(!sizes.empty(), layer_, ": packed input has no steps");
  const int64_t B = sizes[0];
  const bool permuted = input.sorted_indices.numel() > 0;
  auto sorted = [&](const Tensor& s) {
    return s.defined() && permuted ? index_select(s, 1, input.sorted_indices) : s;
  };
  auto [rows, h_n, c_n] = stack(data, sizes, B, sorted(hx), sorted(cx), false);
  if (permuted) {
    h_n = index_select(h_n, 1, input.unsorted_indices);
    if (c_n.defined()) c_n = index_select(c_n, 1, input.unsorted_indices);
  }
  PackedSequence out{rows, input.batch_sizes, input.sorted_indices, input.unsorted_indices};
  return {out, h_n, c_n};
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

std::string RNN::extra_repr() const {
  return RNNBase::extra_repr() + (options.nonlinearity() == kReLU ? ", nonlinearity=relu" : "");
}

LSTM::LSTM(const LSTMOptions& o)
    : RNNBase("LSTM", static_cast<int>(RnnMode::kLSTM), config_of(o)), options(o) {}

std::tuple<Tensor, LSTM::State> LSTM::forward(const Tensor& input, const std::optional<State>& hx) {
  auto [out, h_n, c_n] =
      hx ? run(input, std::get<0>(*hx), std::get<1>(*hx)) : run(input, Tensor(), Tensor());
  return {out, State{h_n, c_n}};
}

std::tuple<PackedSequence, LSTM::State> LSTM::forward_with_packed_input(
    const PackedSequence& input, const std::optional<State>& hx) {
  auto [out, h_n, c_n] = hx ? run_packed(input, std::get<0>(*hx), std::get<1>(*hx))
                            : run_packed(input, Tensor(), Tensor());
  return {out, State{h_n, c_n}};
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
