// int8 dynamic quantization: Linear and LSTM against PyTorch 1.13's own quantize_dynamic
// (golden/make_golden_quantized.py, onednn engine, per-channel qint8 weights, 7-bit inputs),
// the 8-bit path against the int8 arithmetic done in double, errors, what quantize_dynamic
// swaps, no gradient, and weights changed after quantization.
#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <ember/ember.hpp>
#include <set>
#include <sstream>

#include "golden.hpp"

using namespace ember;
using nn::utils::rnn::pack_padded_sequence;
using nn::utils::rnn::pad_packed_sequence;

namespace {

const golden::File& file() {
  static const golden::File f = golden::load("quantized.txt");
  return f;
}

// PyTorch rounds x / scale where Ember rounds x * (1 / scale): the two can differ by one step
// at an exact tie, which moves an output by at most one input step times a weight. Outside ties
// the results agree to float32 rounding: 1e-5 of the output's largest value.
void check_near(const Tensor& got, const golden::Value& want, const std::string& what) {
  double largest = 0;
  for (double v : want.values) largest = std::max(largest, std::abs(v));
  golden::check_close(got, want, what, 1e-5, std::max(1e-6, 1e-5 * largest));
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("quantized Linear matches PyTorch's quantize_dynamic (onednn, reduce_range)") {
  for (const char* name : {"linear", "linear_3d_nobias", "linear_nonnegative", "linear_negative",
                           "linear_zero_input", "linear_wide"}) {
    INFO(name);
    const golden::Case& c = file().at(name);
    const Shape& ws = c.at("w").shape;
    const bool bias = c.count("b") > 0;
    nn::Linear linear(ws[1], ws[0], bias);
    {
      NoGradGuard g;
      linear.weight.copy_(c.at("w").tensor());
      if (bias) linear.bias.copy_(c.at("b").tensor());
    }
    auto names = nn::quantize_dynamic(linear, nn::QuantizeDynamicOptions().reduce_range(true));
    CHECK(names == std::vector<std::string>{""});
    REQUIRE(linear.dynamic_quantized);
    const auto& packed = linear.dynamic_quantized->packed();
    // The int8 weight is PyTorch's, value for value; its scales to float32 rounding.
    std::vector<double> wq(packed.weight.begin(), packed.weight.end());
    CHECK(wq == c.at("wq").values);
    golden::check_close(tensor(packed.scale, Shape{ws[0]}), c.at("ws"), "scales", 1e-6, 0);
    check_near(linear(c.at("x").tensor()), c.at("out"), std::string(name) + " out");
  }
}

TEST_CASE("quantized LSTM matches PyTorch's quantize_dynamic, padded and packed") {
  for (const char* name : {"lstm", "lstm_h0", "lstm_bidir_2layer_batch_first", "lstm_packed_sorted",
                           "lstm_packed_unsorted_bidir_2layer"}) {
    INFO(name);
    const golden::Case& c = file().at(name);
    const std::vector<double>& cfg = c.at("cfg").values;
    const Tensor x = c.at("x").tensor();
    const bool batch_first = cfg[2] != 0, packed = cfg[4] != 0;
    const int64_t input_size = x.size(-1), hidden = c.at("p.weight_hh_l0").shape[1];
    nn::LSTM lstm(nn::LSTMOptions(input_size, hidden)
                      .num_layers(static_cast<int64_t>(cfg[0]))
                      .bias(cfg[1] != 0)
                      .batch_first(batch_first)
                      .bidirectional(cfg[3] != 0));
    golden::load_params(lstm, c, "p.");
    nn::quantize_dynamic(lstm, nn::QuantizeDynamicOptions().reduce_range(true));
    std::optional<nn::LSTM::State> hx;
    if (c.count("h0")) hx = nn::LSTM::State{c.at("h0").tensor(), c.at("c0").tensor()};
    Tensor out, hn, cn;
    if (packed) {
      auto seq = pack_padded_sequence(x, c.at("lengths").index(), batch_first, cfg[5] != 0);
      auto [po, state] = lstm(seq, hx);
      out = std::get<0>(pad_packed_sequence(po, batch_first));
      std::tie(hn, cn) = state;
    } else {
      auto [o, state] = lstm(x, hx);
      out = o;
      std::tie(hn, cn) = state;
    }
    check_near(out, c.at("out"), std::string(name) + " out");
    check_near(hn, c.at("hn"), std::string(name) + " h_n");
    check_near(cn, c.at("cn"), std::string(name) + " c_n");
  }
}

TEST_CASE("8-bit inputs: the int8 arithmetic, done in double") {
  manual_seed(5);
  nn::Linear linear(37, 19);
  Tensor x = randn({6, 37}) * 1.5f + 0.3f;
  nn::quantize_dynamic(linear, nn::QuantizeDynamicOptions().reduce_range(false));
  const auto& p = linear.dynamic_quantized->packed();
  std::vector<float> xs = x.to_vector();
  float lo = 0, hi = 0;
  for (float v : xs) lo = std::min(lo, v), hi = std::max(hi, v);
  auto a = quantized::choose_activation_params(lo, hi, /*reduce_range=*/false);
  CHECK(a.zero_point > 0);
  CHECK(a.zero_point < 255);
  std::vector<float> want(6 * 19);
  for (int64_t i = 0; i < 6; ++i)
    for (int64_t n = 0; n < 19; ++n) {
      double acc = 0;
      for (int64_t k = 0; k < 37; ++k) {
        double q = std::clamp(
            static_cast<double>(std::nearbyint(xs[i * 37 + k] * (1.f / a.scale)) + a.zero_point),
            0.0, 255.0);
        acc += (q - a.zero_point) * p.weight[n * 37 + k];
      }
      want[i * 19 + n] = static_cast<float>(acc * a.scale * p.scale[n] + p.bias[n]);
    }
  golden::Value v{{6, 19}, std::vector<double>(want.begin(), want.end())};
  golden::check_close(linear(x), v, "8-bit linear", 1e-5, 1e-6);
  // ... and near the float layer: within a few input and weight steps.
  Tensor exact = ember::linear(x, linear.weight, linear.bias);
  CHECK(max(abs(linear(x) - exact)).item() < 0.05f);
}

TEST_CASE("quantized LSTM: unbatched input is a batch of one; bias=False near the float layer") {
  manual_seed(7);
  nn::LSTM lstm(nn::LSTMOptions(5, 6).num_layers(2).bidirectional(true));
  Tensor x = randn({4, 5});
  nn::LSTM::State hx{randn({4, 6}) * 0.5f, randn({4, 6}) * 0.5f};
  auto [float_out, float_state] = lstm(x, hx);
  nn::quantize_dynamic(lstm);
  auto [out, state] = lstm(x, hx);
  CHECK(out.shape() == Shape{4, 12});
  CHECK(std::get<0>(state).shape() == Shape{4, 6});
  auto [out1, state1] = lstm(
      x.unsqueeze(1), nn::LSTM::State{std::get<0>(hx).unsqueeze(1), std::get<1>(hx).unsqueeze(1)});
  CHECK(out.to_vector() == out1.squeeze(1).to_vector());
  CHECK(std::get<1>(state).to_vector() == std::get<1>(state1).squeeze(1).to_vector());
  CHECK(max(abs(out - float_out)).item() < 0.05f);

  nn::LSTM nobias(nn::LSTMOptions(5, 6).bias(false).batch_first(true));
  Tensor xb = randn({3, 7, 5});
  Tensor want = std::get<0>(nobias(xb));
  nn::quantize_dynamic(nobias);
  Tensor got = std::get<0>(nobias(xb));
  CHECK(got.shape() == Shape{3, 7, 6});
  float err = max(abs(got - want)).item();
  CHECK(err > 0.f);  // it did run in int8
  CHECK(err < 0.05f);
}

TEST_CASE("quantize_dynamic swaps exactly Linear and LSTM, in place") {
  struct Model : nn::Module {
    nn::Embedding emb{10, 8};
    nn::Linear fc{8, 8};
    nn::LSTM lstm{8, 8};
    nn::GRU gru{8, 8};
    nn::Conv1d conv{nn::Conv1dOptions(8, 8, 3)};
    nn::MultiheadAttention mha{nn::MultiheadAttentionOptions(8, 2)};
    nn::TransformerEncoderLayer layer{nn::TransformerEncoderLayerOptions(8, 2).dim_feedforward(16)};
    Model() {
      register_module("emb", emb);
      register_module("fc", fc);
      register_module("lstm", lstm);
      register_module("gru", gru);
      register_module("conv", conv);
      register_module("mha", mha);
      register_module("layer", layer);
    }
  } model;
  StateDict before = model.state_dict();
  auto names = nn::quantize_dynamic(model);
  std::set<std::string> got(names.begin(), names.end());
  CHECK(got == std::set<std::string>{"fc", "lstm", "layer.linear1", "layer.linear2"});
  CHECK(!model.is_training());
  CHECK(model.fc.dynamic_quantized);
  CHECK(model.lstm.dynamic_quantized);
  CHECK(!model.mha.out_proj.dynamic_quantized);  // PyTorch's NonDynamicallyQuantizableLinear
  CHECK(!model.layer.self_attn.out_proj.dynamic_quantized);
  std::ostringstream printed;
  printed << model;
  CHECK(printed.str().find("(fc): DynamicQuantizedLinear(in_features=8, out_features=8, "
                           "dtype=torch.qint8, qscheme=torch.per_channel_affine") !=
        std::string::npos);
  CHECK(printed.str().find("(lstm): DynamicQuantizedLSTM(8, 8, dtype=torch.qint8") !=
        std::string::npos);
  CHECK(printed.str().find("(gru): GRU(8, 8)") != std::string::npos);
  // Twice is once: nothing left to quantize.
  CHECK(nn::quantize_dynamic(model).empty());
  // The state_dict keeps the float names and values.
  StateDict after = model.state_dict();
  CHECK(after.size() == before.size());
  for (const auto& [k, v] : before) {
    INFO(k);
    REQUIRE(after.count(k));
    CHECK(after.at(k).to_vector() == v.to_vector());
  }
  // Only what the options name.
  nn::Linear a(4, 4);
  nn::LSTM b(4, 4);
  struct Two : nn::Module {
    nn::Linear& a;
    nn::LSTM& b;
    Two(nn::Linear& a_, nn::LSTM& b_) : a(a_), b(b_) {
      register_module("a", a);
      register_module("b", b);
    }
  } two(a, b);
  CHECK(nn::quantize_dynamic(two, nn::QuantizeDynamicOptions().linear(false)) ==
        std::vector<std::string>{"b"});
  CHECK(!a.dynamic_quantized);
}

TEST_CASE("a quantized layer records no gradient, even for an input that requires one") {
  manual_seed(3);
  nn::Linear fc(6, 3);
  nn::quantize_dynamic(fc);
  Tensor x = randn({2, 6}, /*requires_grad=*/true);
  Tensor y = fc(x);
  CHECK(!y.requires_grad());
  CHECK(y.shape() == Shape{2, 3});
  nn::LSTM lstm(6, 3);
  nn::quantize_dynamic(lstm);
  auto [out, state] = lstm(x.unsqueeze(1));
  CHECK(!out.requires_grad());
  CHECK(!std::get<0>(state).requires_grad());
}

TEST_CASE("a weight changed after quantize_dynamic is quantized again at the next call") {
  manual_seed(4);
  nn::Linear fc(16, 8), other(16, 8);
  Tensor x = randn({5, 16});
  nn::quantize_dynamic(fc);
  Tensor before = fc(x);
  fc.load_state_dict(other.state_dict());  // bumps the versions
  nn::quantize_dynamic(other);
  CHECK(fc(x).to_vector() == other(x).to_vector());
  CHECK(fc(x).to_vector() != before.to_vector());

  nn::LSTM lstm(4, 5), lstm2(4, 5);
  Tensor s = randn({3, 2, 4});
  nn::quantize_dynamic(lstm);
  nn::quantize_dynamic(lstm2);
  lstm.load_state_dict(lstm2.state_dict());
  CHECK(std::get<0>(lstm(s)).to_vector() == std::get<0>(lstm2(s)).to_vector());
}

TEST_CASE("quantized Linear gives the same bits on 1 and 2 threads") {
  manual_seed(6);
  nn::Linear fc(512, 384);
  nn::quantize_dynamic(fc);
  Tensor x = randn({64, 512});
  int saved = get_num_threads();
  set_num_threads(1);
  std::vector<float> one = fc(x).to_vector();
  set_num_threads(2);
  std::vector<float> two = fc(x).to_vector();
  set_num_threads(saved);
  CHECK(one == two);
}

TEST_CASE("quantized layers: errors name the layer and the values") {
  nn::Linear fc(4, 3);
  nn::quantize_dynamic(fc);
  std::string m = message_of([&] { fc(zeros({2, 5})); });
  CHECK(m ==
        "DynamicQuantizedLinear: input shape [2,5] does not match weight [3, 4] "
        "(expected [*, 4])");
  CHECK_THROWS_AS(fc(zeros({2, 5})), ShapeError);
  CHECK_THROWS_AS(fc(zeros({2, 4}).to(kFloat64)), DtypeError);
  m = message_of([&] { fc(full({1, 4}, std::nanf(""))); });
  CHECK(m.find("holds an inf or a NaN") != std::string::npos);
  CHECK_THROWS_AS(fc(full({1, 4}, INFINITY)), ValueError);

  nn::LSTM lstm(nn::LSTMOptions(4, 3).batch_first(true));
  nn::quantize_dynamic(lstm);
  m = message_of([&] { lstm(zeros({2, 5, 6})); });
  CHECK(m ==
        "DynamicQuantizedLSTM: input shape [2,5,6] does not match input_size 4 "
        "(expected [B, T, 4] or [T, 4])");
  CHECK_THROWS_AS(lstm(zeros({2, 5, 6})), ShapeError);
  m = message_of([&] {
    lstm(zeros({2, 5, 4}), nn::LSTM::State{zeros({1, 3, 3}), zeros({1, 2, 3})});
  });
  CHECK(m == "DynamicQuantizedLSTM: expected h0 [1,2,3], got [1,3,3]");

  Tensor w = zeros({3, 4});
  m = message_of([&] { quantized::pack_linear_weight(w, zeros({4})); });
  CHECK(m == "pack_linear_weight: expected bias [3] for weight [3,4], got [4]");
  {
    NoGradGuard g;
    fc.weight.fill_(INFINITY);
  }
  m = message_of([&] { fc(zeros({1, 4})); });
  CHECK(m == "DynamicQuantizedLinear: weight[0, 0] is inf; only finite weights can be quantized");
}

TEST_CASE("the oneDNN path (CPUs without VNNI) gives the VNNI kernel's bits") {
  manual_seed(8);
  for (auto [m, k, n] : std::vector<std::array<int64_t, 3>>{
           {1, 3, 1}, {5, 37, 19}, {33, 64, 130}, {64, 256, 96}, {7, 1000, 3}}) {
    INFO(m << "x" << k << "->" << n);
    Tensor w = randn({n, k}) * 0.2f, b = randn({n});
    quantized::PackedLinearWeight p = quantized::pack_linear_weight(w, b);
    quantized::PackedLinearWeight plain = p;
    plain.packed.clear();  // what pack_linear_weight makes on a CPU without the VNNI kernel
    Tensor x = randn({m, k}) + 0.1f;
    for (bool reduce_range : {false, true}) {
      std::vector<float> a = quantized::linear_dynamic(x, p, reduce_range).to_vector();
      std::vector<float> c = quantized::linear_dynamic(x, plain, reduce_range).to_vector();
      CHECK(a == c);
    }
  }
}
