// Attention, MultiheadAttention, the Transformer encoder, the fused layer_norm and positional
// embeddings against PyTorch 1.13 (golden/attention.txt, trained_*.safetensors), gradcheck on
// small shapes, and the errors a user can cause.
#include "float64_checks.hpp"
#include "golden.hpp"
#include "gradcheck.hpp"

using namespace ember;
namespace F = ember::nn::functional;

namespace {
const golden::File& attention_file() {
  static const golden::File file = golden::load("attention.txt");
  return file;
}

void check_param_grads(nn::Module& m, const golden::Case& c) {
  for (auto& [name, p] : m.named_parameters())
    golden::check_close_scaled(p.grad(), c.at("grad." + name), name);
}

// PyTorch's bool key padding mask, written as 0/1: Ember's float form of it.
// The golden files hold masks as numbers: a key padding mask's 0/1 is PyTorch's bool one.
Tensor mask_or_none(const golden::Case& c, const char* key) {
  if (!c.count(key)) return Tensor();
  Tensor m = c.at(key).tensor();
  return std::string(key) == "kpm" ? m.to(kBool) : m;
}
}  // namespace

TEST_CASE("golden: layer_norm is one fused node with PyTorch's values and gradients") {
  for (const char* name : {"layer_norm_affine", "layer_norm_2d_plain"}) {
    SUBCASE(name) {
      const golden::Case& c = attention_file().at(name);
      bool affine = c.count("param.weight") > 0;
      Shape norm = affine ? Shape{5} : Shape{2, 4};
      nn::LayerNorm ln(norm, 1e-5, affine);
      if (affine) golden::load_params(ln, c, "param.");
      Tensor x = c.at("x").tensor(true);
      Tensor out = ln(x);
      CHECK(std::string(out.grad_fn()->name) == "native_layer_norm");
      CHECK(out.grad_fn()->inputs.size() == (affine ? 3u : 1u));
      golden::check_close(out, c.at("out"), "out");
      out.backward(c.at("gout").tensor());
      golden::check_close_scaled(x.grad(), c.at("grad_x"), "grad_x");
      check_param_grads(ln, c);
    }
  }
}

TEST_CASE("golden: scaled_dot_product_attention with masks, causal, 4-D inputs") {
  for (const char* name :
       {"sdpa_plain", "sdpa_mask", "sdpa_mask_broadcast", "sdpa_causal", "sdpa_4d_causal_mask"}) {
    SUBCASE(name) {
      const golden::Case& c = attention_file().at(name);
      Tensor q = c.at("q").tensor(true), k = c.at("k").tensor(true), v = c.at("v").tensor(true);
      bool causal = std::string(name).find("causal") != std::string::npos;
      Tensor out = F::scaled_dot_product_attention(q, k, v, mask_or_none(c, "mask"), 0.0, causal);
      golden::check_close(out, c.at("out"), "out");
      out.backward(c.at("gout").tensor());
      golden::check_close_scaled(q.grad(), c.at("grad_q"), "grad_q");
      golden::check_close_scaled(k.grad(), c.at("grad_k"), "grad_k");
      golden::check_close_scaled(v.grad(), c.at("grad_v"), "grad_v");
    }
  }
}

TEST_CASE("golden: MultiheadAttention with each option and mask") {
  struct Config {
    const char* name;
    nn::MultiheadAttentionOptions options;
    bool self_attention, average;
  };
  const Config configs[] = {
      {"mha_self", nn::MultiheadAttentionOptions(8, 2), true, true},
      {"mha_self_batch_first_kpm", nn::MultiheadAttentionOptions(8, 2).batch_first(true), true,
       true},
      {"mha_self_causal", nn::MultiheadAttentionOptions(8, 2), true, true},
      {"mha_mask3d_kpm", nn::MultiheadAttentionOptions(8, 2), true, true},
      {"mha_cross", nn::MultiheadAttentionOptions(8, 2), false, true},
      {"mha_kdim_vdim", nn::MultiheadAttentionOptions(8, 2).kdim(5).vdim(3), false, true},
      {"mha_no_bias_per_head", nn::MultiheadAttentionOptions(8, 2).bias(false), true, false},
      {"mha_unbatched", nn::MultiheadAttentionOptions(8, 2), true, true},
  };
  for (const Config& config : configs) {
    SUBCASE(config.name) {
      const golden::Case& c = attention_file().at(config.name);
      nn::MultiheadAttention mha(config.options);
      golden::load_params(mha, c, "param.");
      Tensor q = c.at("query").tensor(true), k = q, v = q;
      if (!config.self_attention) k = c.at("key").tensor(true), v = c.at("value").tensor(true);
      auto [out, weights] =
          mha(q, k, v, mask_or_none(c, "kpm"), true, mask_or_none(c, "mask"), config.average);
      golden::check_close(out, c.at("out"), "out");
      golden::check_close(weights, c.at("weights"), "weights");
      out.backward(c.at("gout").tensor());
      golden::check_close_scaled(q.grad(), c.at("grad_query"), "grad_query");
      if (!config.self_attention) {
        golden::check_close_scaled(k.grad(), c.at("grad_key"), "grad_key");
        golden::check_close_scaled(v.grad(), c.at("grad_value"), "grad_value");
      }
      check_param_grads(mha, c);
    }
  }
}

TEST_CASE("golden: TransformerEncoderLayer, relu/gelu, norm_first both ways, masks") {
  for (const char* name : {"encoder_layer_relu_post", "encoder_layer_relu_pre",
                           "encoder_layer_gelu_post_bf", "encoder_layer_gelu_pre_bf"}) {
    SUBCASE(name) {
      const golden::Case& c = attention_file().at(name);
      std::string n = name;
      nn::TransformerEncoderLayer layer(
          nn::TransformerEncoderLayerOptions(8, 2)
              .dim_feedforward(12)
              .dropout(0.0)
              .activation(n.find("gelu") != std::string::npos ? "gelu" : "relu")
              .norm_first(n.find("_pre") != std::string::npos)
              .batch_first(n.find("_bf") != std::string::npos));
      golden::load_params(layer, c, "param.");
      Tensor x = c.at("x").tensor(true);
      Tensor out = layer(x, c.at("mask").tensor(), c.at("kpm").tensor().to(kBool));
      golden::check_close(out, c.at("out"), "out");
      out.backward(c.at("gout").tensor());
      golden::check_close_scaled(x.grad(), c.at("grad_x"), "grad_x");
      check_param_grads(layer, c);
    }
  }
}

TEST_CASE("golden: TransformerEncoder, two layers and a final norm") {
  for (bool pre : {false, true}) {
    CAPTURE(pre);
    const golden::Case& c =
        attention_file().at(pre ? "encoder_2_layers_pre" : "encoder_2_layers_norm");
    nn::TransformerEncoder enc(nn::TransformerEncoderLayerOptions(8, 2)
                                   .dim_feedforward(12)
                                   .dropout(0.0)
                                   .norm_first(pre)
                                   .batch_first(true),
                               2, /*norm=*/true);
    CHECK(enc.state_dict().count("layers.1.linear2.bias") == 1);
    CHECK(enc.state_dict().count("layers.0.self_attn.in_proj_weight") == 1);
    golden::load_params(enc, c, "param.");
    Tensor x = c.at("x").tensor(true);
    Tensor out = enc(x, c.at("mask").tensor(), c.at("kpm").tensor().to(kBool));
    golden::check_close(out, c.at("out"), "out");
    out.backward(c.at("gout").tensor());
    golden::check_close_scaled(x.grad(), c.at("grad_x"), "grad_x");
    check_param_grads(enc, c);
  }
}

TEST_CASE("golden: sinusoidal positional table, learned positions add their rows") {
  const golden::Case& c = attention_file().at("positional");
  nn::SinusoidalPositionalEmbedding pe(50, 6);
  golden::check_close(pe.pe, c.at("pe"), "pe");
  CHECK(pe.named_parameters().empty());
  Tensor x = randn({3, 2, 6});
  Tensor y = pe(x);
  CHECK(y.to_vector()[6 * 2 + 1] == doctest::Approx(x.to_vector()[6 * 2 + 1] + pe.pe.data()(1, 1)));

  nn::LearnedPositionalEmbedding learned(10, 4, /*batch_first=*/true);
  CHECK(learned.state_dict().count("weight") == 1);
  Tensor z = learned(zeros({2, 3, 4}));
  CHECK(z.data()(1, 2, 3) == learned.weight.data()(2, 3));
  sum(z).backward();
  CHECK(learned.weight.grad().data()(2, 0) == 2.f);  // two sentences read row 2
  CHECK(learned.weight.grad().data()(5, 0) == 0.f);
  CHECK_THROWS_WITH_AS(learned(zeros({1, 11, 4})),
                       "LearnedPositionalEmbedding: sequence length 11 is longer than max_len 10",
                       ShapeError);
}

TEST_CASE("golden: models trained in PyTorch load strictly from safetensors and agree") {
  auto path = [](const char* name) {
    return std::string(EMBER_GOLDEN_DIR) + "/trained_" + name + ".safetensors";
  };
  SUBCASE("MultiheadAttention with kdim/vdim") {
    const golden::Case& c = attention_file().at("trained_mha");
    struct MhaNet : nn::Module {
      nn::MultiheadAttention attn{
          nn::MultiheadAttentionOptions(8, 2).batch_first(true).kdim(5).vdim(3)};
      MhaNet() { register_module("attn", attn); }
    } model;
    model.load_state_dict(io::load(path("mha")));
    model.eval();
    std::vector<float> x = c.at("x").tensor().to_vector();
    auto columns = [&](int64_t lo, int64_t hi) {
      std::vector<float> out;
      for (size_t r = 0; r < x.size() / 16; ++r)
        for (int64_t j = lo; j < hi; ++j) out.push_back(x[r * 16 + j]);
      return tensor(out, {2, 4, hi - lo});
    };
    auto [out, w] = model.attn(columns(0, 8), columns(8, 13), columns(13, 16), {}, false);
    golden::check_close(out, c.at("out"), "out");
  }
  SUBCASE("TransformerEncoder, gelu, pre-norm, final norm") {
    const golden::Case& c = attention_file().at("trained_encoder");
    nn::TransformerEncoder enc(nn::TransformerEncoderLayerOptions(8, 2)
                                   .dim_feedforward(16)
                                   .activation("gelu")
                                   .batch_first(true)
                                   .norm_first(true),
                               2, true);
    enc.load_state_dict(io::load(path("encoder")));
    enc.eval();
    golden::check_close(enc(c.at("x").tensor()), c.at("out"), "out");
  }
}

TEST_CASE("gradcheck: attention, MultiheadAttention, encoder layer, layer_norm") {
  manual_seed(3);
  CHECK_GRADCHECK(
      [](const std::vector<Tensor>& x) {
        return F::scaled_dot_product_attention(x[0], x[1], x[2], Tensor(), 0.0, true);
      },
      {randn({2, 3, 2}, true), randn({2, 3, 2}, true), randn({2, 3, 2}, true)});
  CHECK_GRADCHECK([](const std::vector<Tensor>& x) { return F::layer_norm(x[0], {3}, x[1], x[2]); },
                  {randn({2, 3}, true), randn({3}, true), randn({3}, true)});
  // The modules in float64 (PyTorch's module.double()), as the inputs gradcheck converts.
  nn::MultiheadAttention mha(4, 2);
  mha.to(kFloat64);
  Tensor kpm = tensor({0, 0, 1, 0, 0, 0}, {2, 3}, kBool);
  std::vector<Tensor> inputs{randn({3, 2, 4}, true)};
  CHECK_GRADCHECK(
      [&](const std::vector<Tensor>& x) { return std::get<0>(mha(x[0], x[0], x[0], kpm)); },
      inputs);
  // Parameters too: the lambda points the module at the perturbed copies.
  nn::MultiheadAttention cross(nn::MultiheadAttentionOptions(4, 2).kdim(3).vdim(2));
  cross.to(kFloat64);
  Tensor kpm2 = tensor({0, 1, 0, 0}, {2, 2}, kBool);
  CHECK_GRADCHECK(
      [&](const std::vector<Tensor>& x) {
        cross.q_proj_weight = x[3];
        cross.k_proj_weight = x[4];
        cross.v_proj_weight = x[5];
        cross.in_proj_bias = x[6];
        cross.out_proj.weight = x[7];
        return std::get<0>(cross(x[0], x[1], x[2], kpm2));
      },
      {randn({3, 2, 4}, true), randn({2, 2, 3}, true), randn({2, 2, 2}, true), cross.q_proj_weight,
       cross.k_proj_weight, cross.v_proj_weight, randn({12}, true), cross.out_proj.weight});
  nn::TransformerEncoderLayer layer(
      nn::TransformerEncoderLayerOptions(4, 2).dim_feedforward(6).dropout(0.0).norm_first(true));
  layer.to(kFloat64);
  CHECK_GRADCHECK([&](const std::vector<Tensor>& x) { return layer(x[0]); },
                  {randn({3, 2, 4}, true)});
}

TEST_CASE("attention: a query with every key masked gives zeros, not NaN") {
  Tensor q = randn({1, 2, 3}, true), k = randn({1, 2, 3}, true), v = randn({1, 2, 3}, true);
  Tensor mask = tensor({-INFINITY, -INFINITY, 0.f, 0.f}, {2, 2});
  Tensor out = F::scaled_dot_product_attention(q, k, v, mask);
  for (int64_t j = 0; j < 3; ++j) CHECK(out.data()(0, 0, j) == 0.f);
  sum(out).backward();
  for (float g : q.grad().to_vector()) CHECK(std::isfinite(g));
  CHECK(q.grad().data()(0, 0, 0) == 0.f);

  nn::MultiheadAttention mha(4, 2);
  auto [y, w] = mha(randn({2, 1, 4}), randn({2, 1, 4}), randn({2, 1, 4}), ones({1, 2}, kBool));
  for (float x : y.to_vector()) CHECK(std::isfinite(x));
  for (float x : w.to_vector()) CHECK(x == 0.f);
}

TEST_CASE("attention: dropout keeps the expectation and is off in eval") {
  manual_seed(5);
  nn::MultiheadAttention mha(nn::MultiheadAttentionOptions(4, 1).dropout(0.5));
  Tensor x = randn({6, 1, 4});
  auto [a, wa] = mha(x, x, x);
  mha.eval();
  auto [b, wb] = mha(x, x, x);
  auto [c, wc] = mha(x, x, x);
  CHECK(a.to_vector() != b.to_vector());
  CHECK(b.to_vector() == c.to_vector());
  for (float v : wa.to_vector()) CHECK((v == 0.f || v > 0.f));
}

TEST_CASE("attention errors name the layer and the values") {
  CHECK_THROWS_WITH_AS(nn::MultiheadAttention(10, 3),
                       "MultiheadAttention: embed_dim 10 must be divisible by num_heads 3",
                       ValueError);
  nn::MultiheadAttention mha(8, 2);
  CHECK_THROWS_WITH_AS(mha(zeros({5, 2, 6}), zeros({5, 2, 6}), zeros({5, 2, 6})),
                       "MultiheadAttention: query shape [5,2,6] does not match embed_dim 8",
                       ShapeError);
  Tensor x = zeros({5, 2, 8});
  CHECK_THROWS_WITH_AS(mha(x, x, x, zeros({2, 4})),
                       "MultiheadAttention: key_padding_mask shape [2,4] should be [2,5]",
                       ShapeError);
  CHECK_THROWS_WITH_AS(mha(x, x, x, {}, true, zeros({5, 4})),
                       "MultiheadAttention: attn_mask shape [5,4] should be [5,5] or [4,5,5]",
                       ShapeError);
  CHECK_THROWS_WITH_AS(
      F::scaled_dot_product_attention(zeros({2, 4, 3}), zeros({2, 6, 3}), zeros({2, 6, 5}),
                                      zeros({3, 4, 6})),
      "scaled_dot_product_attention: attn_mask shape [3,4,6] does not broadcast to the scores' "
      "shape [2,4,6]",
      ShapeError);
  CHECK_THROWS_WITH_AS(
      nn::TransformerEncoderLayer(nn::TransformerEncoderLayerOptions(8, 2).activation("tanh")),
      "TransformerEncoderLayer: activation must be \"relu\" or \"gelu\", got "
      "\"tanh\"",
      ValueError);
}

using float64_checks::check_float32_rounding;

TEST_CASE("scaled_dot_product_attention in float64: float32's values to its rounding") {
  manual_seed(12);
  const Tensor q = randn({2, 3, 4, 5}), k = randn({2, 3, 6, 5}), v = randn({2, 3, 6, 2});
  const Tensor gout = randn({2, 3, 4, 2});
  struct Case {
    const char* name;
    Tensor mask;
    double dropout_p;
    bool causal;
  };
  const Case cases[] = {
      {"plain", Tensor(), 0.0, false},
      // a float32 mask added to float64 scores (converted, as a float mask of q's dtype)
      {"float32 mask", randn({4, 6}), 0.0, false},
      {"float64 mask per head", randn({2, 3, 4, 6}).to(kFloat64), 0.0, false},
      {"bool mask, causal", randn({2, 1, 4, 6}) > 0.f, 0.0, true},
      {"dropout", Tensor(), 0.4, false},
  };
  for (const Case& c : cases) {
    SUBCASE(c.name) {
      Tensor out[2], grads[2][3];
      for (Dtype dtype : {kFloat32, kFloat64}) {
        const int i = dtype == kFloat64;
        Tensor x[3] = {q.to(dtype).detach().requires_grad_(), k.to(dtype).detach().requires_grad_(),
                       v.to(dtype).detach().requires_grad_()};
        manual_seed(4);  // one draw of the dropout mask for both dtypes
        out[i] = F::scaled_dot_product_attention(x[0], x[1], x[2], c.mask, c.dropout_p, c.causal);
        out[i].backward(gout.to(dtype));
        for (int j = 0; j < 3; ++j) grads[i][j] = x[j].grad();
      }
      check_float32_rounding(out[1], out[0], "out");
      for (int j = 0; j < 3; ++j) {
        CHECK(grads[1][j].dtype() == kFloat64);
        check_float32_rounding(grads[1][j], grads[0][j], "grad");
      }
    }
  }
}

TEST_CASE("MultiheadAttention in float64: float32's outputs, weights and gradients") {
  for (bool separate : {false, true}) {
    CAPTURE(separate);
    auto options = nn::MultiheadAttentionOptions(8, 2).batch_first(separate);
    if (separate) options.kdim(5).vdim(3);
    manual_seed(21);
    nn::MultiheadAttention mha32(options);
    manual_seed(21);
    nn::MultiheadAttention mha64(options);
    mha64.to(kFloat64);
    const Tensor q = randn({3, 4, 8}), k = separate ? randn({3, 2, 5}) : q;
    const Tensor v = separate ? randn({3, 2, 3}) : q,
                 mask = separate ? randn({4, 2}) : randn({3, 3});
    const Tensor kpm = separate ? tensor({0, 1, 0, 0, 0, 0}, {3, 2}, kBool) : Tensor();
    Tensor out[2], weights[2], grads[2];
    for (int i : {0, 1}) {
      nn::MultiheadAttention& mha = i ? mha64 : mha32;
      const Dtype dtype = i ? kFloat64 : kFloat32;
      Tensor x = q.to(dtype).detach().requires_grad_();
      Tensor key = separate ? k.to(dtype) : x, value = separate ? v.to(dtype) : x;
      // the float32 mask added to float64 scores; the bool padding mask as it is
      std::tie(out[i], weights[i]) = mha(x, key, value, kpm, true, mask);
      (sum(out[i] * out[i]) + sum(weights[i])).backward();
      grads[i] = x.grad();
    }
    check_float32_rounding(out[1], out[0], "out");
    check_float32_rounding(weights[1], weights[0], "weights");
    check_float32_rounding(grads[1], grads[0], "grad_query");
    for (auto& [name, p] : mha64.named_parameters()) {
      CAPTURE(name);
      CHECK(p.grad().dtype() == kFloat64);
    }
  }
}

TEST_CASE("attention in float64: dtype errors and the subsequent mask's dtype") {
  const Tensor x = zeros({2, 3, 4}), y = zeros({2, 3, 4}, kFloat64);
  CHECK_THROWS_WITH_AS(F::scaled_dot_product_attention(x, y, x),
                       "scaled_dot_product_attention: expected k to have the dtype of q (float32), "
                       "got float64 (as PyTorch, convert with .to(dtype))",
                       DtypeError);
  const Tensor b = x.to(kBFloat16);
  CHECK_THROWS_WITH_AS(F::scaled_dot_product_attention(b, b, b),
                       "scaled_dot_product_attention: got a bfloat16 tensor, and "
                       "scaled_dot_product_attention computes in float32 or float64 (a bool "
                       "tensor is read only where a mask belongs); convert it first with "
                       ".to(kFloat32)",
                       DtypeError);
  nn::MultiheadAttention mha(4, 2);
  CHECK_THROWS_WITH_AS(mha(y, y, y),
                       "multi_head_attention_forward: expected in_proj_weight to have the dtype "
                       "of query (float64), got float32 (as PyTorch, convert with .to(dtype))",
                       DtypeError);

  const Tensor m64 = nn::generate_square_subsequent_mask(3, kFloat64);
  REQUIRE(m64.dtype() == kFloat64);
  const Tensor m32 = nn::generate_square_subsequent_mask(3);
  CHECK(detail::values_as_double(m64) == detail::values_as_double(m32));
  CHECK(m64.data_ptr<double>()[1] == -INFINITY);
  CHECK(m64.data_ptr<double>()[3] == 0.0);
  // As PyTorch's dtype=torch.bool: True above the diagonal, MultiheadAttention's hidden keys.
  const Tensor hidden = nn::generate_square_subsequent_mask(3, kBool);
  CHECK(equal(hidden, triu(ones({3, 3}, kBool), 1)));
}
