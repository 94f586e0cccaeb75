// The sequence layers and attention modules in float64 against PyTorch 1.13 computing in float64
// (golden/float64_seq.txt, made by golden/make_golden_float64_seq.py with 17 digits): each
// module built as the case's cfg says, converted with to(kFloat64), PyTorch's parameters loaded
// by their names; the outputs (states, attention weights) and the gradients of every input,
// initial state and parameter within golden::kRtol64 / kAtol64, each a float64 tensor.
#include "golden_rnn_cases.hpp"

using namespace ember;

namespace {

using C = const golden::Case&;

const golden::File& seq_file() {
  static const golden::File file = golden::load("float64_seq.txt");
  return file;
}

// The cases whose names start with one of `prefixes`, each a subcase (golden::for_each_case).
template <class Body>
void for_each_case(std::initializer_list<const char*> prefixes, size_t expected, Body&& body) {
  golden::for_each_case(golden::cases_starting_with(seq_file(), prefixes), expected, body);
}

// A mask of the file: bool ones are written as 0/1 (True = not allowed), float ones added.
Tensor mask_or_none(C c, const std::string& key, bool is_bool) {
  if (!c.count(key)) return Tensor();
  return is_bool ? c.at(key).tensor().to(kBool) : c.at(key).tensor(false, kFloat64);
}

// Every parameter's gradient against the case's grad.<name>.
void check_param_grads(const nn::Module& m, C c, const std::string& name) {
  CHECK_FALSE(m.named_parameters().empty());
  for (const auto& [key, p] : m.named_parameters())
    golden::check_close(p.grad(), c.at("grad." + key), name + " grad." + key, kFloat64);
}

// cfg: is_causal. mask: bool, True where the key takes part.
void check_sdpa(const std::string& name, C c) {
  Tensor q = c.at("q").tensor(true, kFloat64), k = c.at("k").tensor(true, kFloat64),
         v = c.at("v").tensor(true, kFloat64);
  Tensor out = nn::functional::scaled_dot_product_attention(q, k, v, mask_or_none(c, "mask", true),
                                                            0.0, c.at("cfg").values[0] != 0);
  golden::check_close(out, c.at("out"), name + " out", kFloat64);
  out.backward(c.at("gout").tensor(false, kFloat64));
  golden::check_close(q.grad(), c.at("grad_q"), name + " grad_q", kFloat64);
  golden::check_close(k.grad(), c.at("grad_k"), name + " grad_k", kFloat64);
  golden::check_close(v.grad(), c.at("grad_v"), name + " grad_v", kFloat64);
}

// cfg: batch_first, kdim, vdim, bias, self-attention, average_attn_weights, need_weights,
// key_padding_mask bool, attn_mask bool, unbatched, num_heads.
void check_mha(const std::string& name, C c) {
  const std::vector<double>& cfg = c.at("cfg").values;
  const bool self_attention = cfg[4] != 0, average = cfg[5] != 0, need_weights = cfg[6] != 0;
  nn::MultiheadAttention mha(
      nn::MultiheadAttentionOptions(c.at("query").shape.back(), int64_t(cfg[10]))
          .batch_first(cfg[0] != 0)
          .kdim(int64_t(cfg[1]))
          .vdim(int64_t(cfg[2]))
          .bias(cfg[3] != 0));
  mha.to(kFloat64);
  golden::load_params(mha, c, "param.", kFloat64);
  Tensor q = c.at("query").tensor(true, kFloat64), k = q, v = q;
  if (!self_attention)
    k = c.at("key").tensor(true, kFloat64), v = c.at("value").tensor(true, kFloat64);
  auto [out, weights] = mha(q, k, v, mask_or_none(c, "kpm", cfg[7] != 0), need_weights,
                            mask_or_none(c, "mask", cfg[8] != 0), average);
  golden::check_close(out, c.at("out"), name + " out", kFloat64);
  Tensor loss = sum(out * c.at("gout").tensor(false, kFloat64));
  if (need_weights) {
    golden::check_close(weights, c.at("weights"), name + " weights", kFloat64);
    loss = loss + sum(weights * c.at("gweights").tensor(false, kFloat64));
  } else {
    CHECK_FALSE(weights.defined());
  }
  loss.backward();
  golden::check_close(q.grad(), c.at("grad_query"), name + " grad_query", kFloat64);
  if (!self_attention) {
    golden::check_close(k.grad(), c.at("grad_key"), name + " grad_key", kFloat64);
    golden::check_close(v.grad(), c.at("grad_value"), name + " grad_value", kFloat64);
  }
  check_param_grads(mha, c, name);
}

// cfg: gelu, norm_first, batch_first, layers (0: a TransformerEncoderLayer alone), a final
// norm, src_mask bool, nhead. dim_feedforward is linear1's.
void check_encoder(const std::string& name, C c) {
  const std::vector<double>& cfg = c.at("cfg").values;
  const auto layers = int64_t(cfg[3]);
  const std::string prefix = layers ? "param.layers.0." : "param.";
  const auto options = nn::TransformerEncoderLayerOptions(c.at("x").shape.back(), int64_t(cfg[6]))
                           .dim_feedforward(c.at(prefix + "linear1.weight").shape[0])
                           .dropout(0.0)
                           .activation(cfg[0] != 0 ? "gelu" : "relu")
                           .norm_first(cfg[1] != 0)
                           .batch_first(cfg[2] != 0);
  Tensor x = c.at("x").tensor(true, kFloat64);
  const Tensor mask = mask_or_none(c, "mask", cfg[5] != 0), kpm = mask_or_none(c, "kpm", true);
  auto run = [&](auto& module) {
    module.to(kFloat64);
    golden::load_params(module, c, "param.", kFloat64);
    Tensor out = module(x, mask, kpm);
    golden::check_close(out, c.at("out"), name + " out", kFloat64);
    out.backward(c.at("gout").tensor(false, kFloat64));
    golden::check_close(x.grad(), c.at("grad_x"), name + " grad_x", kFloat64);
    check_param_grads(module, c, name);
  };
  if (layers == 0) {
    nn::TransformerEncoderLayer layer(options);
    run(layer);
  } else {
    nn::TransformerEncoder encoder(options, layers, /*norm=*/cfg[4] != 0);
    run(encoder);
  }
}

}  // namespace

TEST_CASE("golden float64: RNN, LSTM and GRU layers, padded and packed, with every gradient") {
  for_each_case({"rnn_", "lstm", "gru"}, 16, [](const std::string& name, C c) {
    golden::rnn_cases::check_any_layer(name, c, kFloat64);
  });
}

TEST_CASE("golden float64: RNNCell, LSTMCell and GRUCell") {
  for_each_case({"cell_"}, 6, [](const std::string& name, C c) {
    golden::rnn_cases::check_any_cell(name, c, kFloat64);
  });
}

// float64_attention.txt has the float-mask and causal cases.
TEST_CASE("golden float64: scaled_dot_product_attention with a bool mask") {
  for_each_case({"sdpa_"}, 2, check_sdpa);
}

TEST_CASE("golden float64: MultiheadAttention with each option and mask, weights or not") {
  for_each_case({"mha_"}, 10, check_mha);
}

TEST_CASE("golden float64: TransformerEncoderLayer and TransformerEncoder") {
  for_each_case({"encoder_"}, 5, check_encoder);
}
