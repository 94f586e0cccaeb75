// MultiheadAttention's attention weights as a differentiable output (issue 21, item 5): a loss
// on them reaches the query/key projections as PyTorch's does (golden/mha_weights.txt), a
// gradcheck of the weights alone, and functional::multi_head_attention_forward against the
// layer.
#include "golden.hpp"
#include "gradcheck.hpp"

using namespace ember;
namespace F = ember::nn::functional;

namespace {

// The golden files hold masks as numbers: a key padding mask's 0/1 is PyTorch's bool one.
Tensor mask_or_none(const golden::Case& c, const char* key) {
  if (!c.count(key)) return Tensor();
  Tensor m = c.at(key).tensor();
  return std::string(key) == "kpm" ? m.to(kBool) : m;
}

}  // namespace

TEST_CASE("golden: a loss on MultiheadAttention's weights gets PyTorch's gradients") {
  static const golden::File file = golden::load("mha_weights.txt");
  struct Config {
    const char* name;
    nn::MultiheadAttentionOptions options;
    bool self_attention, average;
  };
  const Config configs[] = {
      {"mha_self", nn::MultiheadAttentionOptions(8, 2), true, true},
      {"mha_self_batch_first_kpm", nn::MultiheadAttentionOptions(8, 2).batch_first(true), true,
       true},
      {"mha_mask3d_kpm", nn::MultiheadAttentionOptions(8, 2), true, true},
      {"mha_cross", nn::MultiheadAttentionOptions(8, 2), false, true},
      {"mha_kdim_vdim", nn::MultiheadAttentionOptions(8, 2).kdim(5).vdim(3), false, true},
      {"mha_no_bias_per_head", nn::MultiheadAttentionOptions(8, 2).bias(false), true, false},
      {"mha_unbatched", nn::MultiheadAttentionOptions(8, 2), true, true},
  };
  for (const Config& config : configs) {
    SUBCASE(config.name) {
      const golden::Case& c = file.at(config.name);
      nn::MultiheadAttention mha(config.options);
      golden::load_params(mha, c, "param.");
      Tensor q = c.at("query").tensor(true), k = q, v = q;
      if (!config.self_attention) k = c.at("key").tensor(true), v = c.at("value").tensor(true);
      auto [out, weights] =
          mha(q, k, v, mask_or_none(c, "kpm"), true, mask_or_none(c, "mask"), config.average);
      golden::check_close(out, c.at("out"), "out");
      golden::check_close(weights, c.at("weights"), "weights");
      REQUIRE(weights.requires_grad());
      Tensor loss = sum(out * c.at("gout").tensor()) + sum(weights * c.at("gweights").tensor());
      loss.backward();
      golden::check_close_scaled(q.grad(), c.at("grad_query"), "grad_query");
      if (!config.self_attention) {
        golden::check_close_scaled(k.grad(), c.at("grad_key"), "grad_key");
        golden::check_close_scaled(v.grad(), c.at("grad_value"), "grad_value");
      }
      for (auto& [name, p] : mha.named_parameters())
        golden::check_close_scaled(p.grad(), c.at("grad." + name), name);
    }
  }
}

TEST_CASE("gradcheck: MultiheadAttention's weights, averaged and per head, with dropout") {
  manual_seed(4);
  // The modules in float64 (PyTorch's module.double()), as the inputs gradcheck converts.
  nn::MultiheadAttention mha(4, 2);
  mha.to(kFloat64);
  Tensor kpm = tensor({0, 0, 1, 0, 0, 0}, {2, 3}, kBool);
  for (bool average : {true, false}) {
    CAPTURE(average);
    CHECK_GRADCHECK(
        [&](const std::vector<Tensor>& x) {
          return std::get<1>(mha(x[0], x[0], x[0], kpm, true, Tensor(), average));
        },
        {randn({3, 2, 4}, true)});
  }
  // Cross attention with separate projections: the weights reach query, key and the q/k
  // projections, never value or v_proj_weight.
  nn::MultiheadAttention cross(nn::MultiheadAttentionOptions(4, 2).kdim(3).vdim(2));
  cross.to(kFloat64);
  CHECK_GRADCHECK(
      [&](const std::vector<Tensor>& x) {
        cross.q_proj_weight = x[2];
        cross.k_proj_weight = x[3];
        cross.in_proj_bias = x[4];
        const Tensor value = randn({2, 2, 2}).to(kFloat64);
        return std::get<1>(cross(x[0], x[1], value, Tensor(), true, Tensor(), false));
      },
      {randn({3, 2, 4}, true), randn({2, 2, 3}, true), cross.q_proj_weight, cross.k_proj_weight,
       randn({12}, true)});
  // Training-mode dropout: the same mask on every evaluation (seeded), scaled weights.
  nn::MultiheadAttention drop(nn::MultiheadAttentionOptions(4, 2).dropout(0.3));
  drop.to(kFloat64);
  CHECK_GRADCHECK(
      [&](const std::vector<Tensor>& x) {
        manual_seed(9);
        auto [out, w] = drop(x[0], x[0], x[0]);
        return cat({out.flatten(), w.flatten()});
      },
      {randn({3, 2, 4}, true)});
}

TEST_CASE("MultiheadAttention's weights: value gets nothing from them; no tape without grad") {
  manual_seed(6);
  nn::MultiheadAttention mha(nn::MultiheadAttentionOptions(4, 2).kdim(3).vdim(2));
  Tensor q = randn({3, 2, 4}, true), k = randn({2, 2, 3}, true), v = randn({2, 2, 2}, true);
  auto [out, w] = mha(q, k, v);
  sum(w * w).backward();
  REQUIRE(v.grad().defined() == false);
  CHECK(mha.v_proj_weight.grad().defined() == false);
  CHECK(norm(k.grad()).item() > 0.f);
  {
    NoGradGuard guard;
    CHECK_FALSE(std::get<1>(mha(q, k, v)).requires_grad());
  }
  CHECK_FALSE(std::get<1>(mha(q, k, v, Tensor(), false)).defined());
}

TEST_CASE("functional::multi_head_attention_forward is the layer, bit for bit") {
  manual_seed(8);
  for (bool batch_first : {false, true}) {
    CAPTURE(batch_first);
    nn::MultiheadAttention mha(nn::MultiheadAttentionOptions(8, 2).batch_first(batch_first));
    Tensor x = randn({3, 4, 8}, true), kpm = tensor({0, 0, 0, 1, 0, 0, 0, 0, 0}, {3, 3}, kBool);
    Tensor q = x.narrow(1, 0, 3);  // [3, 3, 8]: L = N = S = 3, a view with a gap
    auto [out, w] = mha(q, q, q, kpm, true, Tensor(), false);
    auto [f_out, f_w] = F::multi_head_attention_forward(
        q, q, q,
        F::MultiheadAttentionForwardFuncOptions(8, 2, mha.in_proj_weight, mha.in_proj_bias, 0.0,
                                                mha.out_proj.weight, mha.out_proj.bias)
            .key_padding_mask(kpm)
            .average_attn_weights(false)
            .batch_first(batch_first));
    CHECK(f_out.to_vector() == out.to_vector());
    CHECK(f_w.to_vector() == w.to_vector());
    CHECK(f_w.shape() == Shape{3, 2, 3, 3});
  }
  CHECK_THROWS_WITH_AS(F::multi_head_attention_forward(
                           randn({2, 1, 8}), randn({2, 1, 8}), randn({2, 1, 8}),
                           F::MultiheadAttentionForwardFuncOptions(8, 2, randn({24, 6}), Tensor(),
                                                                   0.0, randn({8, 8}), Tensor())),
                       "multi_head_attention_forward: in_proj_weight should be [24,8], got [24,6]",
                       ShapeError);
}
