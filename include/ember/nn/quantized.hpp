// int8 dynamic quantization for inference, as PyTorch's torch.ao.quantization.quantize_dynamic:
// Linear and LSTM weights become per-output-channel symmetric int8, inputs are quantized at
// every call (uint8 with a zero point, one scale per call), products run in int32 (Ember's
// AVX512-VNNI kernel, else oneDNN's; ember/quantized.hpp has the kernels).
//
//   nn::quantize_dynamic(model);        // in place: every Linear and LSTM now runs int8
//   Tensor logits = model.forward(x);   // no grad is recorded through a quantized layer
//
// In place, unlike PyTorch's default copy (its inplace=True): an Ember model holds its layers
// as C++ members that its forward calls directly, and a member cannot change type, so each
// Linear / LSTM keeps its place and hands its forward to the int8 module it now holds
// (`linear.dynamic_quantized`). Printing shows PyTorch's names (DynamicQuantizedLinear).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "ember/nn/linear.hpp"
#include "ember/nn/module.hpp"
#include "ember/nn/rnn.hpp"
#include "ember/options.hpp"
#include "ember/quantized.hpp"

namespace ember::nn {

namespace quantized::dynamic {

// The float tensors an int8 module was made from, and their versions then: a weight changed
// since (load_state_dict, an optimizer step, copy_) is quantized again at the next call, so the
// int8 weights always stand for the float ones a state_dict holds.
struct WeightSource {
  Tensor tensor;
  uint64_t version = 0;
  bool changed() const { return tensor.defined() && tensor.version() != version; }
};

// y = x W^T + b with W per-channel int8, x quantized per call; as
// torch.nn.quantized.dynamic.Linear. Its state_dict holds the float weight and bias it reads
// (shared with the float Linear); the output never requires grad.
class Linear : public TensorModule {
 public:
  // PyTorch's from_float: quantizes linear's weight now. reduce_range: inputs on 7 bits
  // (ember::quantized::default_reduce_range() says when that is needed).
  explicit Linear(const nn::Linear& linear,
                  bool reduce_range = ember::quantized::default_reduce_range());
  Tensor forward(const Tensor& input) override;
  std::string name() const override { return "DynamicQuantizedLinear"; }
  std::string extra_repr() const override;
  // The float32 values of the int8 weight (q * scale), as PyTorch's .weight().dequantize().
  Tensor weight() const;
  const ember::quantized::PackedLinearWeight& packed() const;
  bool reduce_range() const { return reduce_range_; }

 private:
  void refresh() const;
  mutable WeightSource weight_, bias_;
  bool reduce_range_;
  mutable std::shared_ptr<const ember::quantized::PackedLinearWeight> packed_;
};

// nn::LSTM on int8 weights, as torch.nn.quantized.dynamic.LSTM: every option of nn::LSTM
// (num_layers, bias, batch_first, bidirectional; dropout is not applied: inference), padded,
// unbatched and packed input, (h0, c0) given or zeros. The input projection of a sequence is
// one int8 product (one input scale for the whole sequence, padded or packed); the hidden
// product is one per step (h quantized per step), as PyTorch's. State dict: the float LSTM's
// weights.
class LSTM : public Module {
 public:
  using State = nn::LSTM::State;
  explicit LSTM(const nn::LSTM& lstm, bool reduce_range = ember::quantized::default_reduce_range());
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
  std::string name() const override { return "DynamicQuantizedLSTM"; }
  std::string extra_repr() const override;
  bool reduce_range() const { return reduce_range_; }

 private:
  struct Direction {
    WeightSource w_ih, w_hh, b_ih, b_hh;
    ember::quantized::PackedLinearWeight ih, hh;
  };
  void refresh();
  // Runs the stack on time-major rows x [N, I] with per-step batch sizes; h, c [L*D, B, H] in
  // (initial state, sorted order) and out (final). Writes the output rows [N, D*H] to result.
  void run(const float* x, const std::vector<int64_t>& batch_sizes, std::vector<float>& h,
           std::vector<float>& c, float* result);
  void initial_state(const std::optional<State>& hx, int64_t batch, bool unbatched,
                     const std::vector<int64_t>& order, std::vector<float>& h,
                     std::vector<float>& c) const;

  LSTMOptions options_;
  bool reduce_range_;
  std::vector<Direction> directions_;  // per layer, per direction
};

}  // namespace quantized::dynamic

struct QuantizeDynamicOptions {
  EMBER_ARG(bool, linear) = true;  // quantize nn::Linear (PyTorch's {nn.Linear, nn.LSTM} set)
  EMBER_ARG(bool, lstm) = true;    // quantize nn::LSTM
  // Inputs on 7 bits, as PyTorch on every CPU; the default takes 8 bits where VNNI is present.
  EMBER_ARG(bool, reduce_range) = ember::quantized::default_reduce_range();
};

// Quantizes, in place, every nn::Linear and nn::LSTM of `model` (the model itself included)
// and returns their dotted names. As PyTorch, a MultiheadAttention's out_proj is left float
// (its weight is read by the attention op, not called as a layer); a layer already quantized
// is left as it is. The model is put in eval mode. Parameters keep their float values (what
// state_dict saves; see docs/guide.md, "Quantization") and stop requiring grad.
std::vector<std::string> quantize_dynamic(Module& model,
                                          const QuantizeDynamicOptions& options = {});

}  // namespace ember::nn
