// What autocast keeps for backward: gelu, relu and silu keep their input in bfloat16, the fused
// attention runs its products on bfloat16 operands (float32's on the float32 path) and keeps q,
// k, v and its weights in bfloat16 on either path, cross_entropy keeps the logits in bfloat16. Each
// is checked against the float32 op on the rounded values, and for the bytes it holds
// (cache_stats().requested_bytes).
#include <doctest/doctest.h>

#include <ember/ember.hpp>

using namespace ember;
namespace F = ember::nn::functional;

namespace {
Tensor bf16_rounded(const Tensor& t) { return t.detach().to(kBFloat16).to(kFloat32); }

// What the products of the attention, conv1d and the LSTM's input side multiply on this
// process's path (ember/autocast.hpp): bfloat16-rounded operands, or on the float32 path the
// float32 kernels' own values (tests/CMakeLists.txt runs these cases on every path).
bool bf16_products() { return autocast::products() != autocast::Products::float32; }
Tensor multiplied(const Tensor& t) { return bf16_products() ? bf16_rounded(t) : t.detach(); }

float relative_gap(const Tensor& a, const Tensor& b) {
  return amax(abs(a - b), {}).item() / amax(abs(b), {}).item();
}

bool same_values(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.to_vector() == b.to_vector();
}

// The bytes the graph of f(x) holds once its input handle is gone: x is made inside, from a
// leaf, as an intermediate activation is.
template <class F>
int64_t bytes_kept(const Tensor& leaf, bool autocast_on, F f) {
  autocast::Guard guard(kBFloat16, autocast_on);
  const int64_t before = cache_stats().requested_bytes;
  Tensor y = f(leaf * 1.f);
  return cache_stats().requested_bytes - before;
}
}  // namespace

TEST_CASE("autocast: gelu, relu and silu keep their input in bfloat16; the output is float32's") {
  manual_seed(11);
  Tensor x = (randn({64, 300}) * 3.f).requires_grad_();
  Tensor g = randn({64, 300});
  const std::vector<std::pair<const char*, Tensor (*)(const Tensor&)>> ops = {
      {"gelu", [](const Tensor& t) { return gelu(t); }},
      {"gelu tanh", [](const Tensor& t) { return gelu(t, "tanh"); }},
      {"relu", [](const Tensor& t) { return relu(t); }},
      {"silu", [](const Tensor& t) { return silu(t); }}};
  for (const auto& [name, op] : ops) {
    CAPTURE(name);
    x.clear_grad();
    Tensor y;
    {
      autocast::Guard guard;
      y = op(x);
    }
    CHECK(same_values(y, op(x.detach())));  // forward reads the float32 input
    y.backward(g);
    // Backward is float32's derivative at the rounded input, bit for bit.
    Tensor xr = bf16_rounded(x).requires_grad_();
    op(xr).backward(g);
    CHECK(same_values(x.grad(), xr.grad()));
    // The graph keeps the output (4 bytes an element) and a 2-byte copy of the input, where
    // float32 keeps the input itself.
    const int64_t n = x.numel();
    CHECK(bytes_kept(x, true, op) == 6 * n);
    CHECK(bytes_kept(x, false, op) == 8 * n);
    // No backward will read it, no copy: inference under autocast, or an input without grad.
    {
      NoGradGuard no_grad;
      CHECK(bytes_kept(x, true, op) == 4 * n);
    }
    CHECK(bytes_kept(x.detach(), true, op) == 4 * n);
  }
}

TEST_CASE("autocast: the fused attention on bfloat16 operands, kept in bfloat16") {
  manual_seed(12);
  const int64_t B = 2, H = 3, L = 7, S = 9, D = 16;
  Tensor q = randn({B, H, L, D}, true), k = randn({B, H, S, D}, true),
         v = randn({B, H, S, D}, true);
  Tensor g = randn({B, H, L, D});
  Tensor allowed = rand({L, S}) > 0.3f;  // sdpa's bool mask: True takes part
  struct Case {
    const char* name;
    Tensor mask;
    bool causal;
  };
  for (const Case& c : {Case{"no mask", Tensor(), false}, Case{"bool mask", allowed, false},
                        Case{"causal", Tensor(), true}}) {
    CAPTURE(c.name);
    for (Tensor* t : {&q, &k, &v}) t->clear_grad();
    Tensor y;
    {
      autocast::Guard guard;
      y = F::scaled_dot_product_attention(q, k, v, c.mask, 0.0, c.causal && S >= L);
    }
    y.backward(g);
    // float32 attention of the rounded inputs: autocast differs by the rounding of the weights
    // and of the gradients it multiplies (bfloat16's 8 bits), not more.
    Tensor qr = multiplied(q).requires_grad_(), kr = multiplied(k).requires_grad_(),
           vr = multiplied(v).requires_grad_();
    Tensor yr = F::scaled_dot_product_attention(qr, kr, vr, c.mask, 0.0, c.causal && S >= L);
    yr.backward(g);
    CHECK(y.dtype() == kFloat32);
    CHECK(relative_gap(y, yr) < 1e-2f);
    CHECK(relative_gap(q.grad(), qr.grad()) < 2e-2f);
    CHECK(relative_gap(k.grad(), kr.grad()) < 2e-2f);
    CHECK(relative_gap(v.grad(), vr.grad()) < 2e-2f);
    if (!bf16_products())  // the float32 path's forward is float32's, bit for bit
      CHECK(same_values(y, yr));
  }
  SUBCASE("with dropout: the same seeded masks as float32's") {
    Tensor y, yr;
    {
      manual_seed(3);
      autocast::Guard guard;
      y = F::scaled_dot_product_attention(q, k, v, Tensor(), 0.25, false);
    }
    manual_seed(3);
    yr = F::scaled_dot_product_attention(multiplied(q), multiplied(k), multiplied(v), Tensor(),
                                         0.25, false);
    CHECK(relative_gap(y, yr) < 1e-2f);
  }
  SUBCASE("q, k and v read from one packed projection, as GPT-2's attention") {
    Tensor qkv = randn({B, L, 3 * H * D}, true);
    auto heads = [&](const Tensor& t) { return t.reshape({B, L, H, D}).permute({0, 2, 1, 3}); };
    auto attend = [&](const Tensor& packed) {
      std::vector<Tensor> parts = packed.split(H * D, 2);
      return F::scaled_dot_product_attention(heads(parts[0]), heads(parts[1]), heads(parts[2]),
                                             Tensor(), 0.0, true);
    };
    Tensor gl = randn({B, H, L, D});
    {
      autocast::Guard guard;
      attend(qkv).backward(gl);
    }
    Tensor qkv_r = multiplied(qkv).requires_grad_();
    attend(qkv_r).backward(gl);
    CHECK(relative_gap(qkv.grad(), qkv_r.grad()) < 2e-2f);
  }
  SUBCASE("the graph keeps half of float32's bytes") {
    auto attend = [&](const Tensor& x) {
      return F::scaled_dot_product_attention(x, x * 1.f, x * 1.f, Tensor(), 0.0, false);
    };
    Tensor x = randn({B, H, L, D}, true);
    // float32: q, k and v (3 of x's size) and the weights [B*H, L, L]; autocast: their bfloat16
    // copies. The output (float32) both.
    const int64_t n = x.numel(), w = B * H * L * L, out = 4 * n;
    // Both paths: the float32 path multiplies float32's operands but keeps the same copies.
    CHECK(bytes_kept(x, false, attend) == 3 * 4 * n + 4 * w + out);
    CHECK(bytes_kept(x, true, attend) == 3 * 2 * n + 2 * w + out);
  }
}

TEST_CASE("autocast: MultiheadAttention without weights runs the bfloat16 attention") {
  manual_seed(13);
  nn::MultiheadAttention mha(nn::MultiheadAttentionOptions(32, 4).batch_first(true));
  Tensor x = randn({2, 5, 32}, true);
  Tensor pad = tensor({0.f, 0.f, 0.f, 1.f, 1.f, 0.f, 0.f, 0.f, 0.f, 1.f}, {2, 5}) >
               0.5f;  // True: not allowed
  Tensor y32 = std::get<0>(mha(x, x, x, pad, false));
  Tensor y;
  {
    autocast::Guard guard;
    y = std::get<0>(mha(x, x, x, pad, false));
    // Asked for the weights, it attends in float32: they come from float32 probabilities.
    Tensor w = std::get<1>(mha(x, x, x, pad, true));
    CHECK(relative_gap(sum(w, {-1}), ones({2, 5})) < 1e-5f);
  }
  CHECK(relative_gap(y, y32) < 3e-2f);
  sum(y).backward();
  CHECK(x.grad().defined());
  CHECK(mha.in_proj_weight.grad().defined());
}

TEST_CASE("autocast: cross_entropy keeps the logits in bfloat16 and recomputes their softmax") {
  manual_seed(14);
  Tensor logits = (randn({6, 50}) * 4.f).requires_grad_();
  IndexTensor t({3, 0, 49, 7, 7, 12}, {6});
  for (double smoothing : {0.0, 0.1}) {
    CAPTURE(smoothing);
    const auto options = F::CrossEntropyOptions().label_smoothing(smoothing);
    logits.clear_grad();
    Tensor loss;
    {
      autocast::Guard guard;
      loss = F::cross_entropy(logits, t, options);
    }
    // The loss is float32's, from the float32 logits; the gradient is the softmax of the
    // rounded logits, as PyTorch's autocast gets it from its bfloat16 linear.
    CHECK(loss.item() == F::cross_entropy(logits.detach(), t, options).item());
    loss.backward();
    Tensor lr = bf16_rounded(logits).requires_grad_();
    F::cross_entropy(lr, t, options).backward();
    CHECK(relative_gap(logits.grad(), lr.grad()) < 1e-5f);
  }
  // The graph keeps 2 bytes a logit, where float32 keeps the 4-byte log-probabilities.
  Tensor big = randn({64, 1000}, true);
  IndexTensor targets = randint(0, 1000, {64});
  auto loss = [&](const Tensor& x) { return F::cross_entropy(x, targets); };
  CHECK(bytes_kept(big, false, loss) - bytes_kept(big, true, loss) == 2 * big.numel());
}

TEST_CASE("autocast: conv1d multiplies bfloat16 columns and weight, and keeps the columns") {
  manual_seed(15);
  const int64_t N = 3, C = 6, L = 20, O = 8, K = 3;
  Tensor x = randn({N, C, L}, true), w = randn({O, C / 2, K}, true), b = randn({O}, true);
  const auto options = F::Conv1dFuncOptions().bias(b).padding(1).groups(2).stride(2);
  Tensor y;
  {
    autocast::Guard guard;
    y = F::conv1d(x, w, options);
  }
  Tensor g = randn(y.shape());
  y.backward(g);
  // float32 conv1d of the rounded input and weight, its backward given the rounded gradient:
  // the same products, summed in another order.
  Tensor xr = multiplied(x).requires_grad_(), wr = multiplied(w).requires_grad_();
  Tensor yr =
      F::conv1d(xr, wr, F::Conv1dFuncOptions().bias(b.detach()).padding(1).groups(2).stride(2));
  yr.backward(multiplied(g));
  CHECK(relative_gap(y, yr) < 1e-5f);
  CHECK(relative_gap(x.grad(), xr.grad()) < 1e-5f);
  CHECK(relative_gap(w.grad(), wr.grad()) < 1e-5f);
  CHECK(relative_gap(b.grad(), sum(g, {0, 2})) < 1e-6f);  // from the float32 gradient
  // The columns [N, C * K, L_out] kept in 2 bytes instead of 4 (plus the weight's copy).
  auto conv = [&](const Tensor& in) { return F::conv1d(in, w, options); };
  const int64_t columns = N * C * K * y.size(2);
  const int64_t saved = bytes_kept(x, false, conv) - bytes_kept(x, true, conv);
  CHECK(saved == (bf16_products() ? 2 * columns - 2 * w.numel() : 0));
}

TEST_CASE("autocast: an LSTM's input projection on bfloat16 x and W_ih; the recurrence float32") {
  manual_seed(16);
  nn::LSTM lstm(nn::LSTMOptions(16, 12).batch_first(true));
  Tensor x = randn({3, 5, 16}, true), g = randn({3, 5, 12});
  Tensor y;
  {
    autocast::Guard guard;
    y = std::get<0>(lstm(x));
  }
  y.backward(g);
  // The same LSTM in float32 with x and every W_ih rounded: the same values, summed in another
  // order. Backward rounds the gates' gradient for dx and dW_ih (bfloat16's 8 bits); dW_hh
  // comes from the float32 recurrence.
  nn::LSTM ref(nn::LSTMOptions(16, 12).batch_first(true));
  ref.load_state_dict(lstm.state_dict());
  for (auto& [name, p] : ref.named_parameters())
    if (name.rfind("weight_ih", 0) == 0) {
      NoGradGuard no_grad;
      p.copy_(multiplied(p));
    }
  Tensor xr = multiplied(x).requires_grad_();
  Tensor yr = std::get<0>(ref(xr));
  yr.backward(g);
  CHECK(relative_gap(y, yr) < 1e-5f);
  CHECK(relative_gap(x.grad(), xr.grad()) < 2e-2f);
  const auto params = lstm.named_parameters(), ref_params = ref.named_parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    CAPTURE(params[i].first);
    CHECK(relative_gap(params[i].second.grad(), ref_params[i].second.grad()) < 2e-2f);
  }
  SUBCASE("two layers, bidirectional: the second layer's input is rounded too") {
    nn::LSTM deep(nn::LSTMOptions(16, 12).batch_first(true).num_layers(2).bidirectional(true));
    Tensor y2, y32 = std::get<0>(deep(x));
    {
      autocast::Guard guard;
      y2 = std::get<0>(deep(x));
    }
    CHECK(relative_gap(y2, y32) < 1e-2f);
  }
}
