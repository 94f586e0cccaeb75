// functional::rnn and the cell functions: the layers and directions of a recurrent stack over
// the fused kernel of rnn.cpp. A padded batch runs as packed rows with every step full, so
// both inputs share one path; each kernel's result is split into outputs and states by views.
#include <string>
#include <utility>

#include "ember/nn/functional.hpp"
#include "ember/nn/rnn.hpp"
#include "ember/ops.hpp"
#include "rnn_kernel.hpp"

namespace ember::nn::functional {

using utils::rnn::PackedSequence;

namespace {

const char* layer_name(RnnMode mode) {
  return mode == RnnMode::kLSTM ? "LSTM" : mode == RnnMode::kGRU ? "GRU" : "RNN";
}

// Every defined tensor in the input's dtype: the kernel computes in it, and, as PyTorch's,
// does not promote (a float64 input needs a float64 layer).
void check_dtype(const char* op, const Tensor& input, const std::string& name, const Tensor& t) {
  EMBER_CHECK_DTYPE(!t.defined() || t.dtype() == input.dtype(), op, ": expected ", name,
                    " to have the input's dtype ", dtype_name(input.dtype()), ", got ",
                    dtype_name(t.dtype()));
}

// The sizes every layer of a stack shares, read from its flat weights.
struct StackShape {
  int64_t input_size, hidden_size, directions, per;
};

StackShape stack_shape(RnnMode mode, const std::vector<Tensor>& params, bool has_biases,
                       const RNNFuncOptions& o) {
  const char* layer = layer_name(mode);
  const int64_t D = o.bidirectional() ? 2 : 1, per = has_biases ? 4 : 2;
  EMBER_CHECK_VALUE(o.num_layers() >= 1, layer, ": num_layers must be at least 1, got ",
                    o.num_layers());
  EMBER_CHECK_VALUE(static_cast<int64_t>(params.size()) == o.num_layers() * D * per, layer,
                    ": expected ", o.num_layers() * D * per, " weights (", o.num_layers(),
                    " layers, ", D, " directions, ", per, " each), got ", params.size());
  EMBER_CHECK_SHAPE(params[0].dim() == 2 && params[1].dim() == 2, layer,
                    ": w_ih and w_hh must be 2-D, got ",
                    ember::detail::shape_str(params[0].shape()), " and ",
                    ember::detail::shape_str(params[1].shape()));
  return {params[0].size(1), params[1].size(1), D, per};
}

// The input's dtype for the states and the flat weights, named as the module's parameters.
void check_dtypes(RnnMode mode, const Tensor& input, const Tensor& hx, const Tensor& cx,
                  const std::vector<Tensor>& params, const StackShape& ss) {
  const char* layer = layer_name(mode);
  check_dtype(layer, input, "h_0", hx);
  check_dtype(layer, input, "c_0", cx);
  const char* kinds[] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};
  for (size_t k = 0; k < params.size(); ++k) {
    const int64_t i = static_cast<int64_t>(k) / ss.per;  // layer * D + direction
    check_dtype(layer, input,
                ember::detail::cat(kinds[static_cast<int64_t>(k) % ss.per], "_l", i / ss.directions,
                                   i % ss.directions == 1 ? "_reverse" : ""),
                params[k]);
  }
}

// Runs every layer and direction over packed rows; hx / cx are [L * D, batch, H] or undefined.
std::tuple<Tensor, Tensor, Tensor> stack(RnnMode mode, const Tensor& rows,
                                         const std::vector<int64_t>& batch_sizes, int64_t batch,
                                         const Tensor& hx, const Tensor& cx,
                                         const std::vector<Tensor>& params, const StackShape& ss,
                                         const RNNFuncOptions& o, bool batch_major) {
  const bool lstm = mode == RnnMode::kLSTM;
  const int64_t D = ss.directions, H = ss.hidden_size, L = o.num_layers();
  const Shape want{L * D, batch, H};
  for (const Tensor* state : {&hx, &cx}) {
    if (!state->defined()) continue;
    EMBER_CHECK_SHAPE(state->shape() == want, layer_name(mode), ": expected hidden state ",
                      state == &hx ? "h_0" : "c_0", " of shape ", ember::detail::shape_str(want),
                      ", got ", ember::detail::shape_str(state->shape()));
  }
  Tensor h_all = hx.defined() ? hx.reshape({L * D * batch, H}) : Tensor();
  Tensor c_all = cx.defined() ? cx.reshape({L * D * batch, H}) : Tensor();
  Tensor zero_state = zeros({batch, H}, rows.dtype());
  const bool bias = ss.per == 4;
  std::vector<Tensor> h_n, c_n;
  Tensor layer_in = rows;
  for (int64_t l = 0; l < L; ++l) {
    std::vector<Tensor> outs;
    for (int64_t d = 0; d < D; ++d) {
      const int64_t k = l * D + d;
      const Tensor* w = &params[static_cast<size_t>(k * ss.per)];
      Tensor h0 = h_all.defined() ? h_all.narrow(0, k * batch, batch) : zero_state;
      Tensor c0;
      if (lstm) c0 = c_all.defined() ? c_all.narrow(0, k * batch, batch) : zero_state;
      Tensor res =
          detail::rnn_layer(mode, layer_in, batch_sizes, h0, c0, w[0], w[1], bias ? w[2] : Tensor(),
                            bias ? w[3] : Tensor(), d == 1, batch_major);
      const int64_t n = layer_in.size(0);
      outs.push_back(res.narrow(0, 0, n));
      h_n.push_back(res.narrow(0, n, batch));
      if (lstm) c_n.push_back(res.narrow(0, n + batch, batch));
    }
    layer_in = D == 2 ? cat(outs, 1) : outs[0];
    if (o.dropout() > 0 && o.train() && l + 1 < L)
      layer_in = functional::dropout(layer_in, o.dropout(), true);
  }
  return {layer_in, ember::stack(h_n, 0), lstm ? ember::stack(c_n, 0) : Tensor()};
}

}  // namespace

std::tuple<Tensor, Tensor, Tensor> rnn(RnnMode mode, const Tensor& input, const Tensor& hx,
                                       const Tensor& cx, const std::vector<Tensor>& params,
                                       bool has_biases, const RNNFuncOptions& o) {
  const char* layer = layer_name(mode);
  const StackShape ss = stack_shape(mode, params, has_biases, o);
  EMBER_CHECK_SHAPE(input.dim() == 2 || input.dim() == 3, layer,
                    ": expected input of 2 (unbatched) or 3 dims, got shape ",
                    ember::detail::shape_str(input.shape()));
  EMBER_CHECK_SHAPE(input.size(-1) == ss.input_size, layer, ": input.size(-1) must be equal to ",
                    "input_size. Expected ", ss.input_size, ", got ", input.size(-1),
                    " (input shape ", ember::detail::shape_str(input.shape()), ")");
  check_dtypes(mode, input, hx, cx, params, ss);
  const bool unbatched = input.dim() == 2;
  // batch_first runs batch-major rows in place: no transpose of the input or the output.
  const bool batch_major = o.batch_first() && !unbatched;
  Tensor x = unbatched ? input.unsqueeze(1) : input;
  const int64_t T = x.size(batch_major ? 1 : 0), B = x.size(batch_major ? 0 : 1);
  EMBER_CHECK_SHAPE(T > 0 && B > 0, layer, ": expected a non-empty input, got shape ",
                    ember::detail::shape_str(input.shape()));
  auto batched_state = [&](const Tensor& s) {
    if (!s.defined() || !unbatched) return s;
    EMBER_CHECK_SHAPE(s.dim() == 2, layer, ": expected a 2-D hidden state for unbatched input, ",
                      "got shape ", ember::detail::shape_str(s.shape()));
    return s.unsqueeze(1);
  };
  auto [rows, h_n, c_n] = stack(mode, x.reshape({T * B, ss.input_size}),
                                std::vector<int64_t>(static_cast<size_t>(T), B), B,
                                batched_state(hx), batched_state(cx), params, ss, o, batch_major);
  const int64_t features = rows.size(1);
  if (unbatched) return {rows, h_n.squeeze(1), c_n.defined() ? c_n.squeeze(1) : c_n};
  Tensor out = rows.reshape(batch_major ? Shape{B, T, features} : Shape{T, B, features});
  return {out, h_n, c_n};
}

std::tuple<PackedSequence, Tensor, Tensor> rnn(RnnMode mode, const PackedSequence& input,
                                               const Tensor& hx, const Tensor& cx,
                                               const std::vector<Tensor>& params, bool has_biases,
                                               const RNNFuncOptions& o) {
  const char* layer = layer_name(mode);
  const StackShape ss = stack_shape(mode, params, has_biases, o);
  const Tensor& data = input.data;
  EMBER_CHECK_SHAPE(data.dim() == 2 && data.size(1) == ss.input_size, layer,
                    ": packed input must be [N, input_size] with input_size ", ss.input_size,
                    ", got shape ", ember::detail::shape_str(data.shape()));
  EMBER_CHECK_SHAPE(input.batch_sizes.numel() > 0, layer, ": packed input has no steps");
  check_dtypes(mode, data, hx, cx, params, ss);
  const std::vector<int64_t> sizes = detail::checked_batch_sizes(input, layer);
  const int64_t B = sizes[0];
  const bool permuted = input.sorted_indices.numel() > 0;
  auto sorted = [&](const Tensor& s) {
    return s.defined() && permuted ? index_select(s, 1, input.sorted_indices) : s;
  };
  auto [rows, h_n, c_n] = stack(mode, data, sizes, B, sorted(hx), sorted(cx), params, ss, o, false);
  if (permuted) {
    h_n = index_select(h_n, 1, input.unsorted_indices);
    if (c_n.defined()) c_n = index_select(c_n, 1, input.unsorted_indices);
  }
  PackedSequence out{rows, input.batch_sizes, input.sorted_indices, input.unsorted_indices};
  return {out, h_n, c_n};
}

namespace {

// One step of the fused kernel as a single-step batch; the new h (and c) are views of its
// result.
std::tuple<Tensor, Tensor> cell(RnnMode mode, const char* op, const Tensor& input, const Tensor& hx,
                                const Tensor& cx, const Tensor& w_ih, const Tensor& w_hh,
                                const Tensor& b_ih, const Tensor& b_hh) {
  const bool lstm = mode == RnnMode::kLSTM;
  EMBER_CHECK_SHAPE(w_ih.dim() == 2 && w_hh.dim() == 2 && w_hh.size(0) == w_ih.size(0) &&
                        w_hh.size(0) == rnn_gate_count(mode) * w_hh.size(1),
                    op, ": w_ih ", ember::detail::shape_str(w_ih.shape()), " and w_hh ",
                    ember::detail::shape_str(w_hh.shape()), " should be [", rnn_gate_count(mode),
                    " * hidden_size, input_size] and [", rnn_gate_count(mode),
                    " * hidden_size, hidden_size]");
  const int64_t G = w_ih.size(0), I = w_ih.size(1), H = w_hh.size(1);
  for (const Tensor* b : {&b_ih, &b_hh})
    EMBER_CHECK_SHAPE(!b->defined() || b->shape() == Shape{G}, op, ": bias shape ",
                      ember::detail::shape_str(b->shape()), " should be [", G, "]");
  EMBER_CHECK_SHAPE((input.dim() == 1 || input.dim() == 2) && input.size(-1) == I, op,
                    ": expected input [batch, ", I, "] or [", I, "], got shape ",
                    ember::detail::shape_str(input.shape()));
  const std::pair<const char*, const Tensor*> operands[] = {
      {"hx", &hx}, {"cx", &cx}, {"w_ih", &w_ih}, {"w_hh", &w_hh}, {"b_ih", &b_ih}, {"b_hh", &b_hh}};
  for (const auto& [name, t] : operands) check_dtype(op, input, name, *t);
  const bool unbatched = input.dim() == 1;
  Tensor x = unbatched ? input.unsqueeze(0) : input;
  const int64_t B = x.size(0);
  const Shape want = unbatched ? Shape{H} : Shape{B, H};
  for (const Tensor* s : {&hx, &cx}) {
    if (s == &cx && !lstm) continue;
    EMBER_CHECK_SHAPE(s->defined() && s->shape() == want, op, ": expected ", s == &hx ? "hx" : "cx",
                      " of shape ", ember::detail::shape_str(want), ", got ",
                      s->defined() ? ember::detail::shape_str(s->shape()) : "undefined");
  }
  Tensor h0 = unbatched ? hx.unsqueeze(0) : hx;
  Tensor c0 = lstm ? (unbatched ? cx.unsqueeze(0) : cx) : Tensor();
  Tensor res = detail::rnn_layer(mode, x, {B}, h0, c0, w_ih, w_hh, b_ih, b_hh, false);
  Tensor h = res.narrow(0, 0, B);
  Tensor c = lstm ? res.narrow(0, 2 * B, B) : Tensor();
  if (unbatched) return {h.squeeze(0), c.defined() ? c.squeeze(0) : c};
  return {h, c};
}

}  // namespace

Tensor rnn_tanh_cell(const Tensor& input, const Tensor& hx, const Tensor& w_ih, const Tensor& w_hh,
                     const Tensor& b_ih, const Tensor& b_hh) {
  return std::get<0>(
      cell(RnnMode::kTanh, "rnn_tanh_cell", input, hx, Tensor(), w_ih, w_hh, b_ih, b_hh));
}

Tensor rnn_relu_cell(const Tensor& input, const Tensor& hx, const Tensor& w_ih, const Tensor& w_hh,
                     const Tensor& b_ih, const Tensor& b_hh) {
  return std::get<0>(
      cell(RnnMode::kReLU, "rnn_relu_cell", input, hx, Tensor(), w_ih, w_hh, b_ih, b_hh));
}

std::tuple<Tensor, Tensor> lstm_cell(const Tensor& input, const std::tuple<Tensor, Tensor>& hx,
                                     const Tensor& w_ih, const Tensor& w_hh, const Tensor& b_ih,
                                     const Tensor& b_hh) {
  return cell(RnnMode::kLSTM, "lstm_cell", input, std::get<0>(hx), std::get<1>(hx), w_ih, w_hh,
              b_ih, b_hh);
}

Tensor gru_cell(const Tensor& input, const Tensor& hx, const Tensor& w_ih, const Tensor& w_hh,
                const Tensor& b_ih, const Tensor& b_hh) {
  return std::get<0>(cell(RnnMode::kGRU, "gru_cell", input, hx, Tensor(), w_ih, w_hh, b_ih, b_hh));
}

}  // namespace ember::nn::functional
