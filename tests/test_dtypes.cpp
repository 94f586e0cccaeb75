// Dtypes: float64, bfloat16 and bool storage, conversion, factories and printing; bool masks
// with PyTorch's meaning, checked against PyTorch 1.13 (tests/golden/make_golden_dtypes.py).
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <ember/ember.hpp>
#include <sstream>

#include "golden.hpp"

using namespace ember;
namespace F = ember::nn::functional;

namespace {
const golden::File& dtypes_file() {
  static const golden::File file = golden::load("dtypes.txt");
  return file;
}
Tensor bool_tensor(const golden::Value& v) {
  return tensor(std::vector<double>(v.values.begin(), v.values.end()), v.shape, kBool);
}
std::string printed(const Tensor& t) {
  std::ostringstream out;
  out << t;
  return out.str();
}
}  // namespace

TEST_CASE("dtypes: sizes, names and PyTorch's promotion") {
  CHECK(element_size(kFloat32) == 4);
  CHECK(element_size(kFloat64) == 8);
  CHECK(element_size(kBFloat16) == 2);
  CHECK(element_size(kBool) == 1);
  CHECK(std::string(dtype_name(kBFloat16)) == "bfloat16");
  CHECK(promote_types(kBool, kFloat32) == kFloat32);
  CHECK(promote_types(kBFloat16, kFloat32) == kFloat32);
  CHECK(promote_types(kFloat64, kBFloat16) == kFloat64);
  CHECK(promote_types(kBool, kBFloat16) == kBFloat16);
  CHECK(promote_types(kBool, kBool) == kBool);
}

TEST_CASE("dtypes: factories, to(), item and printing") {
  Tensor d = tensor({0.1, 1.0 / 3.0}, {2}, kFloat64);
  CHECK(d.dtype() == kFloat64);
  CHECK(d.select(0, 0).item<double>() == 0.1);  // exact: the storage holds doubles
  CHECK(d.select(0, 1).item<double>() == 1.0 / 3.0);
  CHECK(d.to(kFloat32).select(0, 0).item<double>() == double(0.1f));
  CHECK(d.to(kFloat64).impl() == d.impl());  // the same tensor, as PyTorch's

  CHECK(zeros({2, 3}, kBool).dtype() == kBool);
  CHECK(ones({2}, kBFloat16).to_vector() == std::vector<float>{1.f, 1.f});
  CHECK(full({3}, 2.5, kFloat64).to_vector() == std::vector<float>{2.5f, 2.5f, 2.5f});
  CHECK(ones_like(zeros({2}, kBool)).dtype() == kBool);
  CHECK(tensor({2.0, 0.0, -0.5}, {3}, kBool).to_vector() == std::vector<float>{1.f, 0.f, 1.f});
  CHECK(full({1}, NAN, kBool).item() == 1.f);  // nonzero, NaN included, is true

  // to() of a view converts in the view's order; to(kBool) of floats is `!= 0`.
  Tensor x = tensor({1, 0, 2, 0, 3, 4}, {2, 3});
  Tensor xt = x.t().to(kFloat64);
  CHECK(xt.shape() == Shape{3, 2});
  CHECK(xt.to_vector() == std::vector<float>{1, 0, 0, 3, 2, 4});
  CHECK(x.t().to(kBool).to_vector() == std::vector<float>{1, 0, 0, 1, 1, 1});
  CHECK(xt.t().contiguous().to_vector() == x.to_vector());  // a float64 view made contiguous
  CHECK(xt.clone().dtype() == kFloat64);
  CHECK(*xt.data_ptr<double>() == 1.0);
  CHECK_THROWS_AS(xt.data_ptr<float>(), DtypeError);

  CHECK(printed(tensor({1, 0, 1}, {3}, kBool)) == "tensor([ True, False,  True])");
  CHECK(printed(tensor({1.5, 2}, {2}, kFloat64)) ==
        "tensor([1.5000, 2.0000], dtype=torch.float64)");
  CHECK(printed(ones({1}, kBFloat16)) == "tensor([1.], dtype=torch.bfloat16)");
  CHECK(printed(tensor({1, 0}, Shape{2})) == "tensor([1., 0.])");
}

TEST_CASE("dtypes: errors name the op and the dtype") {
  Tensor mask = tensor({1, 0}, {2}, kBool);
  CHECK_THROWS_WITH_AS(mask.requires_grad_(), doctest::Contains("floating dtype"), DtypeError);
  Tensor b = ones({2}, kBFloat16);
  CHECK_THROWS_WITH_AS(exp(b), doctest::Contains("exp: got a bfloat16 tensor"), DtypeError);
  CHECK_THROWS_WITH_AS(masked_fill(ones({2}), tensor({1, 0}), 0.f),
                       doctest::Contains("masked_fill: expected a bool mask but got a float32"),
                       DtypeError);
  CHECK_THROWS_WITH_AS(where(tensor({1, 0}), ones({2}), zeros({2})),
                       doctest::Contains("where: expected a bool condition"), DtypeError);
  CHECK_THROWS_WITH_AS(F::masked_mean(ones({2, 3, 4}), ones({2, 3}), 1),
                       doctest::Contains("masked_mean"), DtypeError);
  CHECK_THROWS_WITH_AS(mask - mask, doctest::Contains("sub: subtracting two bool"), DtypeError);
  CHECK_THROWS_WITH_AS(~ones({2}), doctest::Contains("operator~"), DtypeError);
  CHECK_THROWS_WITH_AS(mean(mask), doctest::Contains("mean: a bool tensor has no mean"),
                       DtypeError);
  CHECK(mask.to(kFloat32).mean().item() == 0.5f);
}

TEST_CASE("dtypes: to() is differentiable between float dtypes") {
  Tensor x = tensor({0.1f, 1.f + 1.f / 512, -3.f}, {3}, true);
  Tensor y = x.to(kFloat64).to(kFloat32) * 2.f;
  y.sum().backward();
  CHECK(x.grad().to_vector() == std::vector<float>{2.f, 2.f, 2.f});
  // Through bfloat16: the values round (1 + 2^-9 is a tie, to even: 1), the gradient too.
  Tensor z = x.to(kBFloat16);
  CHECK(z.to_vector()[1] == 1.f);
  x.clear_grad();
  (z.to(kFloat32) * tensor({1.f, 1.f + 1.f / 256, 1.f})).sum().backward();
  CHECK(x.grad().to_vector() == std::vector<float>{1.f, 1.f, 1.f});  // 1 + 2^-8 rounds to 1
  CHECK_FALSE(x.to(kBool).requires_grad());
}

TEST_CASE("golden: float32 to bfloat16 rounds to nearest even, as PyTorch") {
  const golden::Case& c = dtypes_file().at("bf16");
  const auto& x_bits = c.at("x_bits").values;
  const auto& want = c.at("bits").values;
  const auto& back = c.at("back").values;
  std::vector<float> x(x_bits.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const uint32_t u = static_cast<uint32_t>(x_bits[i]);
    std::memcpy(&x[i], &u, sizeof u);
  }
  Tensor b = tensor(x, Shape{static_cast<int64_t>(x.size())}).to(kBFloat16);
  const BFloat16* got = b.data_ptr<BFloat16>();
  const std::vector<float> got_back = b.to_vector();
  for (size_t i = 0; i < x.size(); ++i) {
    INFO("element ", i, " bits ", x_bits[i]);
    if (std::isnan(x[i])) {  // PyTorch's NaN bits differ by path (0x7fc0 or 0xffff): a NaN
      CHECK(std::isnan(got_back[i]));
      continue;
    }
    CHECK(got[i].bits == static_cast<uint16_t>(want[i]));
    CHECK(got_back[i] == static_cast<float>(back[i]));
  }
  const golden::Case& d = dtypes_file().at("f64_to_bf16");
  Tensor from64 = d.at("x").tensor().to(kFloat64).to(kBFloat16);
  for (int64_t i = 0; i < from64.numel(); ++i)
    CHECK(from64.data_ptr<BFloat16>()[i].bits == static_cast<uint16_t>(d.at("bits").values[i]));
}

TEST_CASE("bool masks: comparisons, logical ops and promotion") {
  Tensor a = tensor({1, -2, 3, 0}, Shape{4}), b = tensor({1, 2, 0, 0}, Shape{4});
  CHECK((a == b).dtype() == kBool);
  CHECK((a == b).to_vector() == std::vector<float>{1, 0, 0, 1});
  CHECK((a > 0.f).to_vector() == std::vector<float>{1, 0, 1, 0});
  CHECK(logical_not(a).to_vector() == std::vector<float>{0, 0, 0, 1});
  CHECK((~(a > 0.f)).to_vector() == std::vector<float>{0, 1, 0, 1});
  CHECK(((a > 0.f) & (b > 0.f)).to_vector() == std::vector<float>{1, 0, 0, 0});
  CHECK(((a > 0.f) | (b > 0.f)).to_vector() == std::vector<float>{1, 1, 1, 0});
  CHECK(logical_xor(a, b).to_vector() == std::vector<float>{0, 0, 1, 0});
  IndexTensor ids({5, 1, 1}, Shape{3});
  CHECK((ids == 1).dtype() == kBool);
  CHECK((ids == 1).to_vector() == std::vector<float>{0, 1, 1});
  // x * mask counts the mask as 0/1 floats (PyTorch's promotion); sum counts the trues.
  Tensor x = tensor({1.5f, 2.f, 3.f, 4.f}, {4}, true);
  Tensor kept = x * (a > 0.f);
  CHECK(kept.dtype() == kFloat32);
  CHECK(kept.to_vector() == std::vector<float>{1.5f, 0, 3.f, 0});
  kept.sum().backward();
  CHECK(x.grad().to_vector() == std::vector<float>{1, 0, 1, 0});
  CHECK((a > 0.f).sum().item() == 2.f);
  CHECK(((a > 0.f) + (b > 0.f)).dtype() == kBool);  // bool + bool is logical or
  CHECK(((a > 0.f) * 2.f).to_vector() == std::vector<float>{2, 0, 2, 0});
  CHECK(equal(a > 0.f, tensor({1, 0, 1, 0}, {4}, kBool)));
  CHECK_FALSE(equal(a > 0.f, tensor({1, 0, 1, 0}, Shape{4})));  // another dtype
  // triu of a bool causal mask, and of a float one that holds -inf (kept, not NaN).
  Tensor causal = triu(ones({3, 3}, kBool), 1);
  CHECK(causal.dtype() == kBool);
  CHECK(causal.to_vector() == std::vector<float>{0, 1, 1, 0, 0, 1, 0, 0, 0});
  Tensor inf_mask = triu(full({2, 2}, -INFINITY));
  CHECK(inf_mask.to_vector() == std::vector<float>{-INFINITY, -INFINITY, 0, -INFINITY});
}

TEST_CASE("golden: the PyTorch mask idioms ported literally") {
  const golden::File& file = dtypes_file();
  SUBCASE("a bool causal mask from triu(ones(T, T, bool), 1) in MultiheadAttention") {
    const golden::Case& c = file.at("mha_causal");
    nn::MultiheadAttention mha(nn::MultiheadAttentionOptions(8, 2).batch_first(true));
    golden::load_params(mha, c, "param.");
    Tensor x = c.at("x").tensor(true);
    const int64_t T = x.size(1);
    auto [out, weights] = mha(x, x, x, Tensor(), true, triu(ones({T, T}, kBool), 1));
    golden::check_close(out, c.at("out"), "out");
    golden::check_close(weights, c.at("weights"), "weights");
    out.backward(c.at("gout").tensor());
    golden::check_close(x.grad(), c.at("gx"), "gx");
    // The float form of the same mask gives the same output.
    auto [out_float, w_float] =
        mha(x, x, x, Tensor(), true, nn::generate_square_subsequent_mask(T));
    golden::check_close(out_float, c.at("out"), "out with the float mask");
  }
  SUBCASE("key_padding_mask = ids == pad, and a float key_padding_mask added to the scores") {
    const golden::Case& c = file.at("mha_padding");
    nn::MultiheadAttention mha(nn::MultiheadAttentionOptions(8, 2).batch_first(true));
    golden::load_params(mha, c, "param.");
    Tensor x = c.at("x").tensor(true);
    const IndexTensor ids = c.at("ids").index();
    auto [out, unused] = mha(x, x, x, ids == 1, false);
    golden::check_close(out, c.at("out"), "out");
    out.backward(c.at("gout").tensor());
    golden::check_close(x.grad(), c.at("gx"), "gx");
    auto [out_float, unused2] = mha(x, x, x, c.at("float_mask").tensor(), false);
    golden::check_close(out_float, c.at("out_float"), "out with a float key_padding_mask");
  }
  SUBCASE("masked_fill(x, mask, -inf) then softmax") {
    const golden::Case& c = file.at("masked_fill");
    Tensor x = c.at("x").tensor(true);
    Tensor y = softmax(masked_fill(x, bool_tensor(c.at("mask")), -INFINITY), -1);
    golden::check_close(y, c.at("y"), "y");
    y.backward(c.at("gout").tensor());
    golden::check_close(x.grad(), c.at("gx"), "gx");
  }
  SUBCASE("where(mask, a, b) with a mask from a comparison, b broadcast") {
    const golden::Case& c = file.at("where");
    Tensor a = c.at("a").tensor(true), b = c.at("b").tensor(true);
    Tensor y = where(a > 0.f, a, b);
    golden::check_close(y, c.at("y"), "y");
    y.backward(c.at("gout").tensor());
    golden::check_close(a.grad(), c.at("ga"), "ga");
    golden::check_close(b.grad(), c.at("gb"), "gb");
  }
  SUBCASE("where(mask, a, 0.) with a scalar side, as torch.where") {
    const golden::Case& c = file.at("where");
    Tensor a = c.at("a").tensor(true);
    Tensor y = where(a > 0.f, a, 0.f);
    CHECK(equal(y, relu(a.detach())));
    y.sum().backward();
    CHECK(equal(a.grad(), (a.detach() > 0.f).to(kFloat32)));
    CHECK(equal(where(a > 0.f, 1.f, a.detach()), where(a > 0.f, ones_like(a), a.detach())));
  }
  SUBCASE("scaled_dot_product_attention with a bool mask: True takes part (PyTorch 2)") {
    const golden::Case& c = file.at("sdpa_bool");
    Tensor q = c.at("q").tensor(true), k = c.at("k").tensor(true), v = c.at("v").tensor(true);
    Tensor y = F::scaled_dot_product_attention(q, k, v, bool_tensor(c.at("mask")));
    golden::check_close(y, c.at("y"), "y");
    y.backward(c.at("gout").tensor());
    golden::check_close(q.grad(), c.at("gq"), "gq");
    golden::check_close(k.grad(), c.at("gk"), "gk");
    golden::check_close(v.grad(), c.at("gv"), "gv");
  }
}

TEST_CASE("bool masks: join, gather, views, any and all") {
  Tensor m = tensor({1, 0, 0, 1, 1, 1}, {2, 3}, kBool);
  Tensor joined = cat({m, m.narrow(0, 0, 1)}, 0);
  CHECK(joined.dtype() == kBool);
  CHECK(joined.to_vector() == std::vector<float>{1, 0, 0, 1, 1, 1, 1, 0, 0});
  CHECK(stack({m, ~m}, 0).shape() == Shape{2, 2, 3});
  CHECK(stack({m, ~m}, 0).select(0, 1).to_vector() == std::vector<float>{0, 1, 1, 0, 0, 0});
  CHECK(index_select(m, 1, IndexTensor{2, 0}).to_vector() == std::vector<float>{0, 1, 1, 1});
  CHECK(m.t().contiguous().to_vector() == std::vector<float>{1, 1, 0, 1, 0, 1});
  CHECK(m.unsqueeze(0).expand({2, 2, 3}).dtype() == kBool);
  CHECK(any(m).item() == 1.f);
  CHECK(all(m).item() == 0.f);
  CHECK(all(m, 1).to_vector() == std::vector<float>{0, 1});
  CHECK(any(m, 0, true).shape() == Shape{1, 3});
  CHECK(any(m, 0).dtype() == kBool);
}

// As PyTorch 1.13's torch.cat / torch.stack: mixed dtypes join in their promoted one
// (bool < bfloat16 < float32 < float64); a bool joins as 0/1 and gets no gradient.
TEST_CASE("cat and stack promote mixed dtypes, with gradients to the float inputs") {
  const Tensor m = tensor({1, 0, 0, 1, 1, 1}, {2, 3}, kBool);
  SUBCASE("bool with float32 is float32") {
    Tensor x = tensor({1.5f, -2, 3}, {1, 3}, true);
    Tensor joined = cat({m, x}, 0);
    CHECK(joined.dtype() == kFloat32);
    CHECK(joined.to_vector() == std::vector<float>{1, 0, 0, 1, 1, 1, 1.5f, -2, 3});
    (joined * tensor({1, 2, 3, 4, 5, 6, 7, 8, 9}, {3, 3})).sum().backward();
    CHECK(x.grad().dtype() == kFloat32);
    CHECK(x.grad().to_vector() == std::vector<float>{7, 8, 9});
    CHECK_FALSE(m.requires_grad());
    CHECK_FALSE(m.grad().defined());
    Tensor y = tensor({1, 2, 3, 4, 5, 6}, {2, 3}, true);
    Tensor stacked = stack({y, m}, 1);  // [2, 2, 3]
    CHECK(stacked.dtype() == kFloat32);
    CHECK(stacked.to_vector() == std::vector<float>{1, 2, 3, 1, 0, 0, 4, 5, 6, 1, 1, 1});
    stacked.sum().backward();
    CHECK(y.grad().to_vector() == std::vector<float>{1, 1, 1, 1, 1, 1});
  }
  SUBCASE("bool with float64 is float64; float32 with float64 is float64") {
    Tensor x = tensor({0.1, 0.2, 0.3}, {1, 3}, kFloat64, true);
    Tensor f = tensor({0.5f, 0.25f, 2}, {1, 3}, true);
    Tensor joined = cat({f, m, x}, 0);
    CHECK(joined.dtype() == kFloat64);
    CHECK(joined.select(0, 3).select(0, 0).item<double>() == 0.1);
    joined.sum().backward();
    CHECK(x.grad().dtype() == kFloat64);
    CHECK(f.grad().dtype() == kFloat32);
    CHECK(f.grad().to_vector() == std::vector<float>{1, 1, 1});
  }
  SUBCASE("bfloat16 with float32 is float32") {
    Tensor b = tensor({1.5f, -2, 3}, {1, 3}).to(kBFloat16);
    Tensor joined = cat({tensor({1, 2, 3}, {1, 3}), b}, 0);
    CHECK(joined.dtype() == kFloat32);
    CHECK(joined.to_vector() == std::vector<float>{1, 2, 3, 1.5f, -2, 3});
  }
  SUBCASE("bools alone stay bool") {
    CHECK(cat({m, ~m}, 1).dtype() == kBool);
    CHECK(stack({m, m}, 0).dtype() == kBool);
  }
}

TEST_CASE("bool masks: masked_mean keeps the trues; a mask changed in place fails backward") {
  Tensor x = tensor({1, 2, 3, 4, 5, 6}, {1, 3, 2}, true);
  IndexTensor ids({7, 9, 1}, {1, 3});
  Tensor m = F::masked_mean(x, ids != 1, 1);
  CHECK(m.to_vector() == std::vector<float>{2, 3});
  // A strided mask (a transposed view) is read in its own order.
  Tensor x2 = randn({3, 4, 2});
  Tensor strided = tensor({1, 0, 1, 1, 1, 0, 0, 1, 1, 0, 0, 1}, {4, 3}, kBool).t();
  CHECK(equal(F::masked_mean(x2, strided, 1), F::masked_mean(x2, strided.contiguous(), 1)));
  Tensor mask = tensor({1, 0}, {2}, kBool);
  Tensor y = masked_fill(tensor({1.f, 2.f}, {2}, true), mask, 0.f);
  const_cast<bool*>(mask.data_ptr<bool>())[1] = true;  // written in place, then counted
  mask.bump_version();
  CHECK_THROWS_WITH(y.sum().backward(), doctest::Contains("modified by an in-place"));
}
