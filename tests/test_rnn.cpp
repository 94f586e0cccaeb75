// Recurrent layers: gradcheck of the fused kernels and of every layer, packing round trips,
// padded steps, and the errors a user can cause.
#include <doctest/doctest.h>

#include <ember/ember.hpp>
#include <sstream>

#include "../src/ops/rnn_kernel.hpp"
#include "gradcheck.hpp"

using namespace ember;
using nn::detail::RnnMode;
using nn::utils::rnn::pack_padded_sequence;
using nn::utils::rnn::pad_packed_sequence;
namespace functional = nn::functional;

namespace {

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

// inputs followed by the module's parameters (in registration order, a layer's flat weights).
std::vector<Tensor> with_parameters(std::vector<Tensor> inputs, const nn::Module& module) {
  for (const Tensor& p : module.parameters()) inputs.push_back(p.detach().requires_grad_(true));
  return inputs;
}

std::vector<double> doubles(const Tensor& t) { return ember::detail::values_as_double(t); }

// a[first ..]: a stack's flat weights among gradcheck's inputs.
std::vector<Tensor> weights(const std::vector<Tensor>& a, size_t first) {
  return std::vector<Tensor>(a.begin() + static_cast<std::ptrdiff_t>(first), a.end());
}

}  // namespace

TEST_CASE("rnn kernel gradcheck: every mode, both directions, packed steps, no bias") {
  const int64_t I = 3, H = 2, B = 3;
  const std::vector<int64_t> sizes{3, 2, 2, 1};  // lengths 4, 3, 1
  for (RnnMode mode : {RnnMode::kTanh, RnnMode::kReLU, RnnMode::kLSTM, RnnMode::kGRU}) {
    for (bool reverse : {false, true}) {
      for (bool bias : {true, false}) {
        CAPTURE(static_cast<int>(mode));
        CAPTURE(reverse);
        CAPTURE(bias);
        manual_seed(3);
        const int64_t G = nn::detail::gate_count(mode) * H;
        const bool lstm = mode == RnnMode::kLSTM;
        // x, h0, w_ih, w_hh, then c0 (LSTM) and the biases when present.
        std::vector<Tensor> inputs{randn({8, I}, true), randn({B, H}, true),
                                   (rand({G, I}) - 0.5f).requires_grad_(true),
                                   (rand({G, H}) - 0.5f).requires_grad_(true)};
        if (lstm) inputs.push_back(randn({B, H}, true));
        if (bias) inputs.push_back(randn({G}, true)), inputs.push_back(randn({G}, true));
        CHECK_GRADCHECK(
            [&](const std::vector<Tensor>& a) {
              size_t k = 4;
              Tensor c0 = lstm ? a[k++] : Tensor();
              Tensor b_ih = bias ? a[k++] : Tensor(), b_hh = bias ? a[k] : Tensor();
              return nn::detail::rnn_layer(mode, a[0], sizes, a[1], c0, a[2], a[3], b_ih, b_hh,
                                           reverse);
            },
            inputs);
      }
    }
  }
}

TEST_CASE("rnn layers gradcheck through stacking, directions, packing and states") {
  // The modules' parameters become gradcheck inputs too (converted to float64 with the rest):
  // the stack's routing of every layer's and direction's weight gradient is checked as well.
  manual_seed(5);
  nn::LSTM lstm(nn::LSTMOptions(2, 3).num_layers(2).bidirectional(true).batch_first(true));
  nn::GRU gru(nn::GRUOptions(2, 3).num_layers(2).bidirectional(true));
  nn::RNN rnn(nn::RNNOptions(2, 3).num_layers(2));
  const auto two_bidirectional = functional::RNNFuncOptions().num_layers(2).bidirectional(true);
  const std::vector<int64_t> lengths{2, 4, 3};
  CHECK_GRADCHECK(
      [&](const std::vector<Tensor>& a) {
        auto packed = pack_padded_sequence(a[0], lengths, true, false);
        auto [out, h_n, c_n] = functional::rnn(RnnMode::kLSTM, packed, a[1], a[2], weights(a, 3),
                                               true, two_bidirectional);
        Tensor padded = std::get<0>(pad_packed_sequence(out, true));
        return cat({padded.flatten(), h_n.flatten(), c_n.flatten()});
      },
      with_parameters({randn({3, 4, 2}, true), randn({4, 3, 3}, true), randn({4, 3, 3}, true)},
                      lstm));
  CHECK_GRADCHECK(
      [&](const std::vector<Tensor>& a) {
        auto [out, h_n, unused] = functional::rnn(RnnMode::kGRU, a[0], a[1], Tensor(),
                                                  weights(a, 2), true, two_bidirectional);
        return cat({out.flatten(), h_n.flatten()});
      },
      with_parameters({randn({4, 2, 2}, true), randn({4, 2, 3}, true)}, gru));
  CHECK_GRADCHECK(
      [&](const std::vector<Tensor>& a) {
        auto [out, h_n, unused] =
            functional::rnn(RnnMode::kTanh, a[0], Tensor(), Tensor(), weights(a, 1), true,
                            functional::RNNFuncOptions().num_layers(2));
        return cat({out.flatten(), h_n.flatten()});
      },
      with_parameters({randn({3, 2, 2}, true)}, rnn));
  nn::LSTMCell lstm_cell(2, 3);
  nn::GRUCell gru_cell(2, 3);
  nn::RNNCell rnn_cell(nn::RNNCellOptions(2, 3).nonlinearity(nn::kReLU));
  std::vector<Tensor> inputs{randn({2, 2}, true), randn({2, 3}, true), randn({2, 3}, true)};
  for (const nn::Module* cell :
       {static_cast<const nn::Module*>(&lstm_cell), static_cast<const nn::Module*>(&gru_cell),
        static_cast<const nn::Module*>(&rnn_cell)})
    inputs = with_parameters(inputs, *cell);
  CHECK_GRADCHECK(
      [&](const std::vector<Tensor>& a) {
        auto [h, c] =
            functional::lstm_cell(a[0], std::make_tuple(a[1], a[2]), a[3], a[4], a[5], a[6]);
        return cat({h, c, functional::gru_cell(a[0], a[1], a[7], a[8], a[9], a[10]),
                    functional::rnn_relu_cell(a[0], a[1], a[11], a[12], a[13], a[14])},
                   1);
      },
      inputs);
}

TEST_CASE("rnn layers in float64 compute what float32 does, to float32's rounding") {
  manual_seed(6);
  nn::LSTM lstm(nn::LSTMOptions(3, 4).num_layers(2).bidirectional(true));
  nn::GRU gru(nn::GRUOptions(3, 4).batch_first(true));
  nn::RNN rnn(nn::RNNOptions(3, 4).nonlinearity(nn::kReLU).bias(false));
  const Tensor x = randn({5, 2, 3});
  const std::vector<int64_t> lengths{5, 3};
  for (const nn::RNNBase* layer :
       {static_cast<const nn::RNNBase*>(&lstm), static_cast<const nn::RNNBase*>(&gru),
        static_cast<const nn::RNNBase*>(&rnn)}) {
    const RnnMode mode = layer == &lstm  ? RnnMode::kLSTM
                         : layer == &gru ? RnnMode::kGRU
                                         : RnnMode::kReLU;
    CAPTURE(static_cast<int>(mode));
    const auto options = functional::RNNFuncOptions()
                             .num_layers(layer == &lstm ? 2 : 1)
                             .bidirectional(layer == &lstm)
                             .batch_first(layer == &gru);
    const bool bias = layer != &rnn;
    const Tensor input = layer == &gru ? x.transpose(0, 1).contiguous() : x;  // batch first
    auto run = [&](Dtype dtype) {
      std::vector<Tensor> w;
      for (const Tensor& p : layer->parameters()) w.push_back(p.detach().to(dtype));
      auto [out, h_n, c_n] =
          functional::rnn(mode, input.to(dtype), Tensor(), Tensor(), w, bias, options);
      auto packed = pack_padded_sequence(input.to(dtype), lengths, layer == &gru, true);
      auto [packed_out, packed_h, packed_c] =
          functional::rnn(mode, packed, Tensor(), Tensor(), w, bias, options);
      Tensor padded = std::get<0>(pad_packed_sequence(packed_out, layer == &gru));
      CHECK(out.dtype() == dtype);
      CHECK(padded.dtype() == dtype);
      return cat({out.flatten(), h_n.flatten(), padded.flatten(), packed_h.flatten()});
    };
    const std::vector<float> single = run(kFloat32).to_vector();
    const std::vector<double> values = doubles(run(kFloat64));
    REQUIRE(values.size() == single.size());
    for (size_t i = 0; i < values.size(); ++i)
      CHECK(values[i] == doctest::Approx(single[i]).epsilon(1e-5).scale(1));
  }
}

TEST_CASE("rnn kernels and packing take float64 and refuse a mix of dtypes") {
  manual_seed(8);
  const Tensor x = randn({4, 2, 3}).to(kFloat64);
  auto packed = pack_padded_sequence(x, std::vector<int64_t>{4, 2});
  CHECK(packed.data.dtype() == kFloat64);
  CHECK(packed.data.shape() == Shape{6, 3});
  auto [padded, lengths] = pad_packed_sequence(packed, false, 7.f);
  CHECK(padded.dtype() == kFloat64);
  const std::vector<double> round_trip = doubles(padded), given = doubles(x);
  for (size_t i = 0; i < given.size(); ++i) {
    const bool padding = i / 3 % 2 == 1 && i / 6 >= 2;  // sequence 1 past its 2 steps
    CHECK(round_trip[i] == (padding ? 7.0 : given[i]));
  }
  nn::GRU gru(3, 4);  // float32 weights
  CHECK(error_of([&] { gru(x); }) ==
        "GRU: expected weight_ih_l0 to have the input's dtype float64, got float32");
  CHECK(error_of([&] {
          functional::rnn_tanh_cell(zeros({1, 3}), zeros({1, 4}).to(kFloat64), zeros({4, 3}),
                                    zeros({4, 4}));
        }) == "rnn_tanh_cell: expected hx to have the input's dtype float32, got float64");
  CHECK(error_of([&] {
          pack_padded_sequence(zeros({2, 1, 3}).to(kBFloat16), std::vector<int64_t>{2});
        }).rfind("pack_padded_sequence", 0) == 0);
}

TEST_CASE("padded steps never change the state and get zero gradient") {
  manual_seed(9);
  nn::LSTM lstm(nn::LSTMOptions(2, 3).batch_first(true));
  Tensor x = randn({2, 5, 2}, true);
  auto [out, state] = lstm(pack_padded_sequence(x, std::vector<int64_t>{2, 5}, true, false));
  auto [padded, lengths] = pad_packed_sequence(out, true);
  CHECK(lengths.to_vector() == std::vector<int64_t>{2, 5});
  // Sequence 0 alone, cut to its 2 steps, ends in the same state.
  Tensor first = index_select(x.detach(), 0, IndexTensor({0}));
  Tensor cut = index_select(first, 1, IndexTensor({0, 1}));
  auto [out0, state0] = lstm(cut);
  auto h = std::get<0>(state).to_vector(), h0 = std::get<0>(state0).to_vector();
  for (size_t j = 0; j < 3; ++j) CHECK(h[j] == doctest::Approx(h0[j]).epsilon(1e-6));
  sum(padded * padded).backward();
  std::vector<float> g = x.grad().to_vector();
  for (int64_t t = 2; t < 5; ++t)
    for (int64_t k = 0; k < 2; ++k) CHECK(g[static_cast<size_t>(t * 2 + k)] == 0.f);
  auto p = padded.to_vector();
  for (int64_t t = 2; t < 5; ++t)
    for (int64_t k = 0; k < 3; ++k) CHECK(p[static_cast<size_t>(t * 3 + k)] == 0.f);
}

TEST_CASE("rnn parameters: PyTorch's names, shapes and default init") {
  nn::LSTM lstm(nn::LSTMOptions(3, 4).num_layers(2).bidirectional(true));
  auto params = lstm.named_parameters();
  REQUIRE(params.size() == 16);
  CHECK(params[0].first == "weight_ih_l0");
  CHECK(params[4].first == "weight_ih_l0_reverse");
  CHECK(params[15].first == "bias_hh_l1_reverse");
  CHECK(params[8].second.shape() == Shape{16, 8});  // layer 1 reads both directions
  for (const auto& [name, p] : params)
    for (float v : p.to_vector()) CHECK(std::abs(v) <= 0.5f);
  std::ostringstream repr;
  repr << lstm << nn::GRU(nn::GRUOptions(3, 4).dropout(0.1).batch_first(true)) << "\n"
       << nn::RNNCell(nn::RNNCellOptions(3, 4).nonlinearity(nn::kReLU));
  CHECK(repr.str() ==  // PyTorch's reprs
        "LSTM(3, 4, num_layers=2, bidirectional=True)GRU(3, 4, batch_first=True, dropout=0.1)\n"
        "RNNCell(3, 4, nonlinearity=relu)");
  nn::GRU gru(nn::GRUOptions(3, 4).bias(false));
  CHECK(gru.named_parameters().size() == 2);
  CHECK(gru.named_parameters()[1].second.shape() == Shape{12, 4});
}

TEST_CASE("rnn layers: dropout acts between layers in training only, unbatched input") {
  manual_seed(2);
  nn::GRU gru(nn::GRUOptions(2, 3).num_layers(2).dropout(0.5));
  Tensor x = randn({4, 1, 2});
  gru.eval();
  Tensor a = std::get<0>(gru(x)), b = std::get<0>(gru(x));
  CHECK(a.to_vector() == b.to_vector());
  Tensor unbatched = std::get<0>(gru(x.squeeze(1)));
  CHECK(unbatched.shape() == Shape{4, 3});
  CHECK(unbatched.to_vector() == a.to_vector());
  gru.train();
  CHECK(std::get<0>(gru(x)).to_vector() != a.to_vector());
}

TEST_CASE("rnn errors name the layer and the values") {
  nn::LSTM lstm(nn::LSTMOptions(3, 4));
  CHECK(error_of([&] {
          lstm(zeros({5, 2, 4}));
        }) ==
        "LSTM: input.size(-1) must be equal to input_size. Expected 3, got 4 (input shape "
        "[5,2,4])");
  CHECK(error_of([&] {
          lstm(zeros({5, 2, 3}), nn::LSTM::State{zeros({1, 3, 4}), zeros({1, 2, 4})});
        }) == "LSTM: expected hidden state h_0 of shape [1,2,4], got [1,3,4]");
  nn::GRU gru(3, 4);
  CHECK(error_of([&] { gru(zeros({5, 2})); }).rfind("GRU: input.size(-1)", 0) == 0);
  CHECK(error_of([&] {
          pack_padded_sequence(zeros({5, 3, 3}), std::vector<int64_t>{5, 7, 2});
        }) == "pack_padded_sequence: length 7 of sequence 1 is longer than the input's 5 steps");
  CHECK(error_of([&] {
          pack_padded_sequence(zeros({5, 3, 3}), std::vector<int64_t>{3, 5, 2});
        }) ==
        "pack_padded_sequence: lengths [3,5,2] are not sorted in decreasing order (sequence 1 "
        "has length 5 after 3); sort the batch or pass enforce_sorted=false");
  CHECK(error_of([&] {
          pack_padded_sequence(zeros({5, 3, 3}), std::vector<int64_t>{3, 2});
        }) == "pack_padded_sequence: expected 3 lengths (the batch size), got 2");
  auto packed = pack_padded_sequence(zeros({5, 2, 4}), std::vector<int64_t>{5, 2});
  CHECK(error_of([&] { lstm(packed); }) ==
        "LSTM: packed input must be [N, input_size] with input_size 3, got shape [7,4]");
  nn::RNNCell cell(3, 4);
  CHECK(error_of([&] {
          cell(zeros({2, 5}));
        }) == "RNNCell: expected input [batch, 3] or [3], got shape [2,5]");
  CHECK(error_of([] { nn::GRU bad(nn::GRUOptions(3, 0)); }) ==
        "GRU: input_size and hidden_size must be positive, got 3 and 0");
}

TEST_CASE("rnn: DESIGN.md section 1's LSTM lines, as written there") {
  manual_seed(4);
  Tensor x = randn({2, 3, 64});
  IndexTensor lengths({3, 1});
  nn::LSTM lstm(nn::LSTMOptions(/*input=*/64, /*hidden=*/128)
                    .num_layers(2)
                    .bidirectional(true)
                    .batch_first(true));
  auto [out, state] = lstm(x);  // out [B,T,256]; state = (h_n, c_n)
  auto packed = nn::utils::rnn::pack_padded_sequence(x, lengths, /*batch_first=*/true,
                                                     /*enforce_sorted=*/false);
  CHECK(out.shape() == Shape{2, 3, 256});
  CHECK(std::get<0>(state).shape() == Shape{4, 2, 128});
  CHECK(std::get<1>(state).shape() == Shape{4, 2, 128});
  auto [packed_out, packed_state] = lstm(packed);
  CHECK(packed_out.data.shape() == Shape{4, 256});
  // The full-length sequence gives the same outputs packed or not.
  auto [padded, out_lengths] = nn::utils::rnn::pad_packed_sequence(packed_out, true);
  std::vector<float> a = out.to_vector(), b = padded.to_vector();
  for (size_t i = 0; i < 3 * 256; ++i) CHECK(a[i] == doctest::Approx(b[i]).epsilon(1e-5));
  CHECK(out_lengths.to_vector() == std::vector<int64_t>{3, 1});
}
