// nn::quantized::dynamic::Linear / LSTM and nn::quantize_dynamic: shells over the int8 kernels
// of ember/quantized.hpp that keep their int8 weights in step with the float ones they read.
#include "ember/nn/quantized.hpp"

#include <algorithm>
#include <atomic>
#include <set>

#include "ember/autograd.hpp"
#include "ember/nn/attention.hpp"

namespace ember::nn {

namespace quantized::dynamic {

namespace {

WeightSource source(const Tensor& t) { return {t, t.defined() ? t.version() : 0}; }

std::string dims(const Shape& s) { return detail::shape_str(s); }

}  // namespace

Linear::Linear(const nn::Linear& linear, bool reduce_range)
    : weight_(source(linear.weight)), bias_(source(linear.bias)), reduce_range_(reduce_range) {
  packed_ = std::make_shared<const ember::quantized::PackedLinearWeight>(
      ember::quantized::pack_linear_weight(linear.weight, linear.bias, name()));
  register_buffer("weight", linear.weight);
  if (linear.bias.defined()) register_buffer("bias", linear.bias);
}

void Linear::refresh() const {
  if (!weight_.changed() && !bias_.changed()) return;
  // Two threads may both see the change: each packs the same values, the last store wins.
  auto fresh = std::make_shared<const ember::quantized::PackedLinearWeight>(
      ember::quantized::pack_linear_weight(weight_.tensor, bias_.tensor, name()));
  std::atomic_store(&packed_, fresh);
  weight_ = source(weight_.tensor);
  bias_ = source(bias_.tensor);
}

const ember::quantized::PackedLinearWeight& Linear::packed() const {
  refresh();
  return *std::atomic_load(&packed_);
}

Tensor Linear::forward(const Tensor& input) {
  refresh();
  auto p = std::atomic_load(&packed_);
  return ember::quantized::linear_dynamic(input, *p, reduce_range_, name());
}

Tensor Linear::weight() const { return ember::quantized::dequantize(packed()); }

std::string Linear::extra_repr() const {
  const auto& p = *std::atomic_load(&packed_);
  return "in_features=" + std::to_string(p.in_features) +
         ", out_features=" + std::to_string(p.out_features) +
         ", dtype=torch.qint8, qscheme=torch.per_channel_affine" +
         (reduce_range_ ? ", reduce_range=True" : "");
}

LSTM::LSTM(const nn::LSTM& lstm, bool reduce_range)
    : options_(lstm.options), reduce_range_(reduce_range) {
  const std::vector<Tensor>& w = lstm.all_weights();
  const int64_t D = options_.bidirectional() ? 2 : 1, per = options_.bias() ? 4 : 2;
  auto named = lstm.named_parameters(false);
  for (int64_t l = 0; l < options_.num_layers(); ++l)
    for (int64_t d = 0; d < D; ++d) {
      const size_t at = static_cast<size_t>((l * D + d) * per);
      Direction dir;
      dir.w_ih = source(w[at]);
      dir.w_hh = source(w[at + 1]);
      if (options_.bias()) {
        dir.b_ih = source(w[at + 2]);
        dir.b_hh = source(w[at + 3]);
      }
      directions_.push_back(std::move(dir));
    }
  for (auto& [n, t] : named) register_buffer(n, t);
  for (Direction& dir : directions_) {
    dir.ih = ember::quantized::pack_linear_weight(dir.w_ih.tensor, dir.b_ih.tensor, name());
    dir.hh = ember::quantized::pack_linear_weight(dir.w_hh.tensor, dir.b_hh.tensor, name());
  }
}

void LSTM::refresh() {
  for (Direction& dir : directions_) {
    if (dir.w_ih.changed() || dir.b_ih.changed()) {
      dir.ih = ember::quantized::pack_linear_weight(dir.w_ih.tensor, dir.b_ih.tensor, name());
      dir.w_ih = source(dir.w_ih.tensor);
      dir.b_ih = source(dir.b_ih.tensor);
    }
    if (dir.w_hh.changed() || dir.b_hh.changed()) {
      dir.hh = ember::quantized::pack_linear_weight(dir.w_hh.tensor, dir.b_hh.tensor, name());
      dir.w_hh = source(dir.w_hh.tensor);
      dir.b_hh = source(dir.b_hh.tensor);
    }
  }
}

std::string LSTM::extra_repr() const {
  const LSTMOptions& o = options_;
  std::string s = std::to_string(o.input_size()) + ", " + std::to_string(o.hidden_size());
  if (o.num_layers() != 1) s += ", num_layers=" + std::to_string(o.num_layers());
  if (!o.bias()) s += ", bias=False";
  if (o.batch_first()) s += ", batch_first=True";
  if (o.bidirectional()) s += ", bidirectional=True";
  return s + ", dtype=torch.qint8" + (reduce_range_ ? ", reduce_range=True" : "");
}

void LSTM::initial_state(const std::optional<State>& hx, int64_t batch, bool unbatched,
                         const std::vector<int64_t>& order, std::vector<float>& h,
                         std::vector<float>& c) const {
  const int64_t LD = static_cast<int64_t>(directions_.size()), H = options_.hidden_size();
  h.assign(static_cast<size_t>(LD * batch * H), 0.f);
  c.assign(h.size(), 0.f);
  if (!hx) return;
  const Shape want = unbatched ? Shape{LD, H} : Shape{LD, batch, H};
  const char* names[] = {"h0", "c0"};
  std::vector<float>* outs[] = {&h, &c};
  for (int k = 0; k < 2; ++k) {
    const Tensor& s = k == 0 ? std::get<0>(*hx) : std::get<1>(*hx);
    EMBER_CHECK_SHAPE(s.defined() && s.shape() == want, name(), ": expected ", names[k], " ",
                      dims(want), ", got ",
                      s.defined() ? dims(s.shape()) : std::string("an undefined tensor"));
    std::vector<float> v = s.to_vector();
    for (int64_t l = 0; l < LD; ++l)
      for (int64_t b = 0; b < batch; ++b) {
        const int64_t from = order.empty() ? b : order[b];
        std::copy_n(v.begin() + (l * batch + from) * H, H, outs[k]->begin() + (l * batch + b) * H);
      }
  }
}

void LSTM::run(const float* x, const std::vector<int64_t>& batch_sizes, std::vector<float>& h,
               std::vector<float>& c, float* result) {
  refresh();
  const int64_t D = options_.bidirectional() ? 2 : 1, H = options_.hidden_size();
  const int64_t B = batch_sizes.empty() ? 0 : batch_sizes[0], L = options_.num_layers();
  int64_t rows = 0;
  for (int64_t b : batch_sizes) rows += b;
  // Between layers: buffers reused from call to call (fresh ones cost page faults).
  thread_local std::vector<float> between[2];
  const float* in = x;
  for (int64_t l = 0; l < L; ++l) {
    float* out = result;
    if (l + 1 < L) {
      std::vector<float>& buffer = between[l % 2];
      if (buffer.size() < static_cast<size_t>(rows * D * H))
        buffer.resize(static_cast<size_t>(rows * D * H));
      out = buffer.data();
    }
    for (int64_t d = 0; d < D; ++d) {
      const Direction& dir = directions_[static_cast<size_t>(l * D + d)];
      const int64_t state = (l * D + d) * B * H;
      ember::quantized::lstm_layer_dynamic(in, batch_sizes, dir.ih, dir.hh, d == 1, reduce_range_,
                                           h.data() + state, c.data() + state, out + d * H, D * H);
    }
    in = out;
  }
}

std::tuple<Tensor, LSTM::State> LSTM::forward(const Tensor& input, const std::optional<State>& hx) {
  const int64_t I = options_.input_size(), H = options_.hidden_size();
  const int64_t D = options_.bidirectional() ? 2 : 1;
  EMBER_CHECK_VALUE(input.defined(), name(), ": the input is an undefined tensor");
  EMBER_CHECK_DTYPE(input.dtype() == kFloat32, name(), ": expected a float32 input, got ",
                    dtype_name(input.dtype()));
  EMBER_CHECK_SHAPE((input.dim() == 2 || input.dim() == 3) && input.size(-1) == I, name(),
                    ": input shape ", dims(input.shape()), " does not match input_size ", I,
                    " (expected ", options_.batch_first() ? "[B, T, " : "[T, B, ", I, "] or [T, ",
                    I, "])");
  const bool unbatched = input.dim() == 2, bf = options_.batch_first() && !unbatched;
  Tensor x = unbatched ? input.unsqueeze(1) : bf ? input.transpose(0, 1) : input;  // [T, B, I]
  const int64_t T = x.size(0), B = x.size(1);
  EMBER_CHECK_SHAPE(T > 0 && B > 0, name(), ": expected a non-empty input, got shape ",
                    dims(input.shape()));
  std::vector<float> h, c;
  initial_state(hx, B, unbatched, {}, h, c);
  const Tensor rows = x.contiguous();
  auto storage = std::make_shared<Storage>(T * B * D * H, kFloat32);
  run(rows.data_ptr(), std::vector<int64_t>(T, B), h, c, storage->data());
  Tensor y(storage, {T, B, D * H});
  if (unbatched)
    y = y.squeeze(1);
  else if (bf)
    y = y.transpose(0, 1).contiguous();
  const int64_t LD = static_cast<int64_t>(directions_.size());
  Shape state = unbatched ? Shape{LD, H} : Shape{LD, B, H};
  return {y, State{tensor(std::move(h), state), tensor(std::move(c), state)}};
}

std::tuple<utils::rnn::PackedSequence, LSTM::State> LSTM::forward_with_packed_input(
    const utils::rnn::PackedSequence& input, const std::optional<State>& hx) {
  const int64_t I = options_.input_size(), H = options_.hidden_size();
  const int64_t D = options_.bidirectional() ? 2 : 1;
  EMBER_CHECK_SHAPE(input.data.defined() && input.data.dim() == 2 && input.data.size(1) == I,
                    name(), ": packed data shape ",
                    input.data.defined() ? dims(input.data.shape()) : std::string("undefined"),
                    " does not match input_size ", I, " (expected [N, ", I, "])");
  EMBER_CHECK_DTYPE(input.data.dtype() == kFloat32, name(), ": expected float32 packed data, got ",
                    dtype_name(input.data.dtype()));
  std::vector<int64_t> sizes = input.batch_sizes.to_vector();
  EMBER_CHECK_SHAPE(!sizes.empty() && sizes[0] > 0, name(), ": empty batch_sizes");
  int64_t rows = 0;
  for (size_t t = 0; t < sizes.size(); ++t) {
    EMBER_CHECK_SHAPE(sizes[t] > 0 && (t == 0 || sizes[t] <= sizes[t - 1]), name(),
                      ": batch_sizes must be positive and non-increasing, got ", sizes[t],
                      " at step ", t);
    rows += sizes[t];
  }
  EMBER_CHECK_SHAPE(rows == input.data.size(0), name(), ": batch_sizes sum to ", rows,
                    " rows but the packed data has ", input.data.size(0));
  const int64_t B = sizes[0];
  std::vector<int64_t> sorted = input.sorted_indices.to_vector();
  std::vector<int64_t> unsorted = input.unsorted_indices.to_vector();
  EMBER_CHECK_SHAPE(sorted.size() == unsorted.size() &&
                        (sorted.empty() || static_cast<int64_t>(sorted.size()) == B),
                    name(), ": sorted_indices (", sorted.size(), ") and unsorted_indices (",
                    unsorted.size(), ") must both be empty or both hold ", B, " indices");
  for (size_t i = 0; i < sorted.size(); ++i)
    EMBER_CHECK_INDEX(sorted[i] >= 0 && sorted[i] < B && unsorted[i] >= 0 && unsorted[i] < B,
                      name(), ": sorted / unsorted index out of range for batch ", B);
  std::vector<float> h, c;
  initial_state(hx, B, false, sorted, h, c);
  const Tensor data = input.data.contiguous();
  auto storage = std::make_shared<Storage>(rows * D * H, kFloat32);
  run(data.data_ptr(), sizes, h, c, storage->data());
  utils::rnn::PackedSequence result{Tensor(storage, {rows, D * H}), input.batch_sizes,
                                    input.sorted_indices, input.unsorted_indices};
  // The final state back in the caller's batch order.
  const int64_t LD = static_cast<int64_t>(directions_.size());
  auto unsort = [&](const std::vector<float>& s) {
    std::vector<float> o(s.size());
    for (int64_t l = 0; l < LD; ++l)
      for (int64_t b = 0; b < B; ++b) {
        const int64_t from = unsorted.empty() ? b : unsorted[b];
        std::copy_n(s.begin() + (l * B + from) * H, H, o.begin() + (l * B + b) * H);
      }
    return tensor(std::move(o), {LD, B, H});
  };
  return {result, State{unsort(h), unsort(c)}};
}

}  // namespace quantized::dynamic

std::vector<std::string> quantize_dynamic(Module& model, const QuantizeDynamicOptions& options) {
  model.eval();
  auto modules = model.named_modules();
  // PyTorch's NonDynamicallyQuantizableLinear: the attention op reads out_proj's weight itself.
  std::set<const Module*> kept;
  for (auto& [n, m] : modules)
    if (auto* mha = dynamic_cast<MultiheadAttention*>(m)) kept.insert(&mha->out_proj);
  std::vector<std::string> names;
  for (auto& [n, m] : modules) {
    if (kept.count(m)) continue;
    if (auto* linear = dynamic_cast<nn::Linear*>(m); linear && options.linear()) {
      if (linear->dynamic_quantized) continue;
      linear->dynamic_quantized =
          std::make_shared<quantized::dynamic::Linear>(*linear, options.reduce_range());
      names.push_back(n);
    } else if (auto* lstm = dynamic_cast<nn::LSTM*>(m); lstm && options.lstm()) {
      if (lstm->dynamic_quantized) continue;
      lstm->dynamic_quantized =
          std::make_shared<quantized::dynamic::LSTM>(*lstm, options.reduce_range());
      names.push_back(n);
    }
  }
  return names;
}

}  // namespace ember::nn
