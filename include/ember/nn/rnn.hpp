// Recurrent layers as PyTorch's: nn::RNN (tanh / relu), nn::LSTM, nn::GRU, their cells, and
// nn::utils::rnn::PackedSequence for batches of different lengths. Parameter names, shapes
// and gate order (LSTM i,f,g,o; GRU r,z,n) are PyTorch's, so a PyTorch state_dict loads.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "ember/index_tensor.hpp"
#include "ember/nn/module.hpp"
#include "ember/options.hpp"

namespace ember::nn {

namespace quantized::dynamic {
class LSTM;
}

namespace utils::rnn {

// Time-major packed rows: step t holds batch_sizes[t] rows, the sequences sorted longest
// first. sorted_indices / unsorted_indices are empty when the input was already sorted.
struct PackedSequence {
  Tensor data;  // [sum(lengths), features]
  IndexTensor batch_sizes;
  IndexTensor sorted_indices;
  IndexTensor unsorted_indices;
};

// input [T, B, *] ([B, T, *] with batch_first); differentiable, padded steps get zero
// gradient. With enforce_sorted the lengths must not increase.
PackedSequence pack_padded_sequence(const Tensor& input, const std::vector<int64_t>& lengths,
                                    bool batch_first = false, bool enforce_sorted = true);
PackedSequence pack_padded_sequence(const Tensor& input, const IndexTensor& lengths,
                                    bool batch_first = false, bool enforce_sorted = true);
// Back to [T, B, *] (or [B, T, *]) in the original batch order, padded with padding_value up
// to total_length steps (-1: the longest); also returns the lengths.
std::tuple<Tensor, IndexTensor> pad_packed_sequence(const PackedSequence& sequence,
                                                    bool batch_first = false,
                                                    double padding_value = 0.0,
                                                    int64_t total_length = -1);

}  // namespace utils::rnn

namespace functional {

// The recurrence of a layer: PyTorch's modes RNN_TANH, RNN_RELU, LSTM and GRU.
enum class RnnMode { kTanh, kReLU, kLSTM, kGRU };
// Row blocks of w_ih / w_hh per hidden unit: 1, 4 (LSTM i,f,g,o) or 3 (GRU r,z,n).
int64_t rnn_gate_count(RnnMode mode);

struct RNNFuncOptions {
  EMBER_ARG(int64_t, num_layers) = 1;
  EMBER_ARG(double, dropout) = 0.0;  // on each layer's output but the last, when train
  EMBER_ARG(bool, train) = true;
  EMBER_ARG(bool, bidirectional) = false;
  EMBER_ARG(bool, batch_first) = false;  // padded input and output [B, T, *]; read in place
};

// A whole recurrent layer stack, as torch.rnn_tanh / rnn_relu / lstm / gru (PyTorch's _VF ops,
// not public there). params are the layer's flat weights in PyTorch's order: per layer, per
// direction, w_ih, w_hh and, with has_biases, b_ih, b_hh. input [T, B, I] (or [B, T, I], or
// unbatched [T, I]); hx, cx [num_layers * D, B, H] ([.., H] unbatched) or undefined (zeros);
// cx only for LSTM. Returns (output, h_n, c_n), c_n undefined but for LSTM. Errors name the
// layer (RNN, LSTM, GRU). One fused op per layer and direction (src/ops/rnn.cpp).
std::tuple<Tensor, Tensor, Tensor> rnn(RnnMode mode, const Tensor& input, const Tensor& hx,
                                       const Tensor& cx, const std::vector<Tensor>& params,
                                       bool has_biases, const RNNFuncOptions& options = {});
// The same over packed rows (batch_first is ignored); hx / cx in the caller's batch order.
std::tuple<utils::rnn::PackedSequence, Tensor, Tensor> rnn(
    RnnMode mode, const utils::rnn::PackedSequence& input, const Tensor& hx, const Tensor& cx,
    const std::vector<Tensor>& params, bool has_biases, const RNNFuncOptions& options = {});

// One step, as torch.rnn_tanh_cell / rnn_relu_cell / lstm_cell / gru_cell: input [B, I] or
// [I], hx (and cx) [B, H] or [H] (required), w_ih [G*H, I], w_hh [G*H, H], biases [G*H] or
// undefined. Returns h' (lstm_cell: h' and c').
Tensor rnn_tanh_cell(const Tensor& input, const Tensor& hx, const Tensor& w_ih, const Tensor& w_hh,
                     const Tensor& b_ih = Tensor(), const Tensor& b_hh = Tensor());
Tensor rnn_relu_cell(const Tensor& input, const Tensor& hx, const Tensor& w_ih, const Tensor& w_hh,
                     const Tensor& b_ih = Tensor(), const Tensor& b_hh = Tensor());
std::tuple<Tensor, Tensor> lstm_cell(const Tensor& input, const std::tuple<Tensor, Tensor>& hx,
                                     const Tensor& w_ih, const Tensor& w_hh,
                                     const Tensor& b_ih = Tensor(), const Tensor& b_hh = Tensor());
Tensor gru_cell(const Tensor& input, const Tensor& hx, const Tensor& w_ih, const Tensor& w_hh,
                const Tensor& b_ih = Tensor(), const Tensor& b_hh = Tensor());

}  // namespace functional

enum class RNNNonlinearity { kTanh, kReLU };
constexpr RNNNonlinearity kTanh = RNNNonlinearity::kTanh;
constexpr RNNNonlinearity kReLU = RNNNonlinearity::kReLU;

#define EMBER_RNN_OPTIONS(Name)                                                             \
  Name(int64_t input_size, int64_t hidden_size)                                             \
      : input_size_(input_size), hidden_size_(hidden_size) {}                               \
  EMBER_ARG(int64_t, input_size);                                                           \
  EMBER_ARG(int64_t, hidden_size);                                                          \
  EMBER_ARG(int64_t, num_layers) = 1;                                                       \
  EMBER_ARG(bool, bias) = true;                                                             \
  EMBER_ARG(bool, batch_first) = false; /* input and output [B, T, *] */                    \
  EMBER_ARG(double, dropout) = 0.0;     /* on each layer's output but the last, training */ \
  EMBER_ARG(bool, bidirectional) = false

struct RNNOptions {
  EMBER_RNN_OPTIONS(RNNOptions);
  EMBER_ARG(RNNNonlinearity, nonlinearity) = kTanh;
};
struct LSTMOptions {
  EMBER_RNN_OPTIONS(LSTMOptions);
};
struct GRUOptions {
  EMBER_RNN_OPTIONS(GRUOptions);
};

// What the three layers share: the parameters of every layer and direction, and the run.
class RNNBase : public Module {
 public:
  // Every weight and bias in PyTorch's order: per layer, per direction, w_ih, w_hh, b_ih, b_hh.
  const std::vector<Tensor>& all_weights() const { return flat_weights_; }
  void reset_parameters();  // U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), as PyTorch
  std::string extra_repr() const override;

 protected:
  struct Config {
    int64_t input_size, hidden_size, num_layers;
    bool bias, batch_first;
    double dropout;
    bool bidirectional;
  };
  template <class Options>
  static Config config_of(const Options& o) {
    return {o.input_size(),  o.hidden_size(), o.num_layers(),   o.bias(),
            o.batch_first(), o.dropout(),     o.bidirectional()};
  }
  RNNBase(const char* layer, int mode, const Config& config);
  // functional::rnn over this layer's weights and options (padded or packed input).
  // Returns the output and h_n (and c_n for LSTM); hx / cx may be undefined (zeros).
  std::tuple<Tensor, Tensor, Tensor> run(const Tensor& input, const Tensor& hx, const Tensor& cx);
  std::tuple<utils::rnn::PackedSequence, Tensor, Tensor> run_packed(
      const utils::rnn::PackedSequence& input, const Tensor& hx, const Tensor& cx);
  functional::RNNFuncOptions func_options() const;

  const char* layer_;
  int mode_;  // functional::RnnMode
  Config config_;
  std::vector<Tensor> flat_weights_;
};

class RNN : public RNNBase {
 public:
  explicit RNN(const RNNOptions& options);
  RNN(int64_t input_size, int64_t hidden_size) : RNN(RNNOptions(input_size, hidden_size)) {}
  // (output, h_n): output [T, B, D*H], h_n [num_layers*D, B, H].
  std::tuple<Tensor, Tensor> forward(const Tensor& input, const Tensor& hx = Tensor());
  std::tuple<Tensor, Tensor> operator()(const Tensor& input, const Tensor& hx = Tensor()) {
    return forward(input, hx);
  }
  std::tuple<utils::rnn::PackedSequence, Tensor> forward_with_packed_input(
      const utils::rnn::PackedSequence& input, const Tensor& hx = Tensor());
  std::tuple<utils::rnn::PackedSequence, Tensor> operator()(const utils::rnn::PackedSequence& input,
                                                            const Tensor& hx = Tensor()) {
    return forward_with_packed_input(input, hx);
  }

  RNNOptions options;
};

class LSTM : public RNNBase {
 public:
  using State = std::tuple<Tensor, Tensor>;  // (h, c)
  explicit LSTM(const LSTMOptions& options);
  LSTM(int64_t input_size, int64_t hidden_size) : LSTM(LSTMOptions(input_size, hidden_size)) {}
  // (output, (h_n, c_n)), as LibTorch: `auto [out, state] = lstm(x);`
  std::tuple<Tensor, State> forward(const Tensor& input, const std::optional<State>& hx = {});
  std::tuple<Tensor, State> operator()(const Tensor& input, const std::optional<State>& hx = {}) {
    return forward(input, hx);
  }
  std::tuple<utils::rnn::PackedSequence, State> forward_with_packed_input(
      const utils::rnn::PackedSequence& input, const std::optional<State>& hx = {});
  std::tuple<utils::rnn::PackedSequence, State> operator()(const utils::rnn::PackedSequence& input,
                                                           const std::optional<State>& hx = {}) {
    return forward_with_packed_input(input, hx);
  }
  std::string name() const override;
  std::string extra_repr() const override;

  LSTMOptions options;
  // Set by nn::quantize_dynamic (ember/nn/quantized.hpp): forward then runs this int8 module,
  // which reads this layer's weights.
  std::shared_ptr<quantized::dynamic::LSTM> dynamic_quantized;
};

class GRU : public RNNBase {
 public:
  explicit GRU(const GRUOptions& options);
  GRU(int64_t input_size, int64_t hidden_size) : GRU(GRUOptions(input_size, hidden_size)) {}
  std::tuple<Tensor, Tensor> forward(const Tensor& input, const Tensor& hx = Tensor());
  std::tuple<Tensor, Tensor> operator()(const Tensor& input, const Tensor& hx = Tensor()) {
    return forward(input, hx);
  }
  std::tuple<utils::rnn::PackedSequence, Tensor> forward_with_packed_input(
      const utils::rnn::PackedSequence& input, const Tensor& hx = Tensor());
  std::tuple<utils::rnn::PackedSequence, Tensor> operator()(const utils::rnn::PackedSequence& input,
                                                            const Tensor& hx = Tensor()) {
    return forward_with_packed_input(input, hx);
  }

  GRUOptions options;
};

// Cells: one step on [B, I] (or unbatched [I]) with parameters weight_ih, weight_hh,
// bias_ih, bias_hh; shells over functional::rnn_tanh_cell / ... / gru_cell.
struct RNNCellOptions {
  RNNCellOptions(int64_t input_size, int64_t hidden_size)
      : input_size_(input_size), hidden_size_(hidden_size) {}
  EMBER_ARG(int64_t, input_size);
  EMBER_ARG(int64_t, hidden_size);
  EMBER_ARG(bool, bias) = true;
  EMBER_ARG(RNNNonlinearity, nonlinearity) = kTanh;
};
using LSTMCellOptions = RNNCellOptions;  // nonlinearity is ignored
using GRUCellOptions = RNNCellOptions;

class RNNCellBase : public Module {
 public:
  void reset_parameters();
  std::string extra_repr() const override;

  Tensor weight_ih, weight_hh, bias_ih, bias_hh;

 protected:
  RNNCellBase(const char* layer, int mode, const RNNCellOptions& options);
  // Returns h' (and c' for LSTM).
  std::tuple<Tensor, Tensor> step(const Tensor& input, const Tensor& hx, const Tensor& cx);

  const char* layer_;
  int mode_;
  RNNCellOptions options_;
};

class RNNCell : public RNNCellBase {
 public:
  explicit RNNCell(const RNNCellOptions& options);
  RNNCell(int64_t input_size, int64_t hidden_size)
      : RNNCell(RNNCellOptions(input_size, hidden_size)) {}
  Tensor forward(const Tensor& input, const Tensor& hx = Tensor());
  Tensor operator()(const Tensor& input, const Tensor& hx = Tensor()) { return forward(input, hx); }
};

class LSTMCell : public RNNCellBase {
 public:
  explicit LSTMCell(const LSTMCellOptions& options);
  LSTMCell(int64_t input_size, int64_t hidden_size)
      : LSTMCell(LSTMCellOptions(input_size, hidden_size)) {}
  std::tuple<Tensor, Tensor> forward(const Tensor& input,
                                     const std::optional<std::tuple<Tensor, Tensor>>& hx = {});
  std::tuple<Tensor, Tensor> operator()(const Tensor& input,
                                        const std::optional<std::tuple<Tensor, Tensor>>& hx = {}) {
    return forward(input, hx);
  }
};

class GRUCell : public RNNCellBase {
 public:
  explicit GRUCell(const GRUCellOptions& options);
  GRUCell(int64_t input_size, int64_t hidden_size)
      : GRUCell(GRUCellOptions(input_size, hidden_size)) {}
  Tensor forward(const Tensor& input, const Tensor& hx = Tensor());
  Tensor operator()(const Tensor& input, const Tensor& hx = Tensor()) { return forward(input, hx); }
};

}  // namespace ember::nn
