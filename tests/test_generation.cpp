// Generation with the KV cache and activation checkpointing, on the small GPT-2 of
// tests/golden/hf_gpt2 (made by make_golden_hf.py).
#include <doctest/doctest.h>

#include <cmath>
#include <ember/checkpoint.hpp>
#include <ember/ember.hpp>
#include <ember/models/generation.hpp>
#include <ember/models/gpt2.hpp>

using namespace ember;
using namespace ember::models;

namespace {
std::unique_ptr<GPT2LMHeadModel> small_gpt2() {
  auto m = GPT2LMHeadModel::from_pretrained(std::string(EMBER_GOLDEN_DIR) + "/hf_gpt2");
  m->eval();
  return m;
}

float max_abs_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  std::vector<float> x = a.contiguous().to_vector(), y = b.contiguous().to_vector();
  float worst = 0;
  for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, std::abs(x[i] - y[i]));
  return worst;
}
}  // namespace

TEST_CASE("generation: decoding through the KV cache gives the full forward's logits") {
  auto model = small_gpt2();
  NoGradGuard no_grad;
  std::vector<int64_t> v;
  for (int64_t i = 0; i < 20; ++i) v.push_back((i * 37 + 5) % 80);
  IndexTensor ids(v, {2, 10});
  Tensor full = model->forward(ids);
  KVCache cache;
  std::vector<int64_t> prefix;
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t t = 0; t < 6; ++t) prefix.push_back(v[b * 10 + t]);
  Tensor first = model->forward(IndexTensor(prefix, {2, 6}), &cache);
  CHECK(max_abs_diff(first, full.narrow(1, 0, 6)) < 1e-5f);
  for (int64_t t = 6; t < 10; ++t) {
    Tensor step = model->forward(IndexTensor({v[t], v[10 + t]}).reshape({2, 1}), &cache);
    CHECK(cache.length() == t + 1);
    CHECK(max_abs_diff(step, full.narrow(1, t, 1)) < 1e-5f);
  }
}

TEST_CASE("generation: greedy with the cache equals an uncached full-forward loop") {
  auto model = small_gpt2();
  std::vector<std::vector<int64_t>> prompts = {{3, 14, 15, 9, 26}, {5, 35}, {8, 9, 7, 9}};
  GenerationConfig config;
  config.max_new_tokens = 15;
  std::vector<std::vector<int64_t>> cached = generate(*model, prompts, config);
  config.use_cache = false;
  std::vector<std::vector<int64_t>> uncached = generate(*model, prompts, config);
  CHECK(cached == uncached);
  for (const auto& row : cached) CHECK(row.size() == 15);

  // Each prompt alone (no padding) gives what it gave in the left-padded batch.
  config.use_cache = true;
  for (size_t i = 0; i < prompts.size(); ++i)
    CHECK(generate(*model, {prompts[i]}, config)[0] == cached[i]);

  // A hand-written loop over full forwards, token by token, for the first prompt.
  NoGradGuard no_grad;
  std::vector<int64_t> seq = prompts[0];
  for (int64_t step = 0; step < 15; ++step) {
    const int64_t T = static_cast<int64_t>(seq.size());
    Tensor logits = model->forward(IndexTensor(seq, {1, T}));
    seq.push_back(argmax(logits.select(1, T - 1).reshape({80})).item());
  }
  CHECK(std::vector<int64_t>(seq.begin() + 5, seq.end()) == cached[0]);
}

TEST_CASE("generation: sampling is reproducible for a seed, stop tokens end a row") {
  auto model = small_gpt2();
  std::vector<std::vector<int64_t>> prompts = {{1, 2, 3}, {4}};
  GenerationConfig config;
  config.max_new_tokens = 12;
  config.do_sample = true;
  config.temperature = 1.5;
  config.top_k = 20;
  config.top_p = 0.9;
  config.repetition_penalty = 1.3;
  config.seed = 7;
  auto a = generate(*model, prompts, config);
  auto b = generate(*model, prompts, config);
  CHECK(a == b);
  config.seed = 8;
  CHECK(generate(*model, prompts, config) != a);

  config.seed = 7;
  config.stop_tokens = {a[0][3]};
  auto stopped = generate(*model, prompts, config);
  CHECK(stopped[0].size() <= 4);
  CHECK(stopped[0].back() == a[0][3]);

  // top_k = 1 leaves one token: sampling is then greedy.
  GenerationConfig greedy;
  greedy.max_new_tokens = 8;
  GenerationConfig k1 = greedy;
  k1.do_sample = true;
  k1.top_k = 1;
  CHECK(generate(*model, prompts, k1) == generate(*model, prompts, greedy));
}

TEST_CASE("generation: next_token's filters") {
  std::mt19937_64 engine(1);
  GenerationConfig c;
  CHECK(next_token({0.f, 3.f, 1.f}, {}, c, engine) == 1);
  c.repetition_penalty = 10.0;  // 3 / 10 < 1: token 2 wins once token 1 is penalised
  CHECK(next_token({0.f, 3.f, 1.f}, {1}, c, engine) == 2);
  c = GenerationConfig();
  c.do_sample = true;
  c.top_p = 0.5;  // token 1 alone holds more than half the mass
  for (int i = 0; i < 20; ++i) CHECK(next_token({0.f, 5.f, 1.f}, {}, c, engine) == 1);
  c.top_p = 1.0;
  c.top_k = 2;  // token 0 is never drawn
  for (int i = 0; i < 50; ++i) CHECK(next_token({-1.f, 0.f, 0.f}, {}, c, engine) != 0);
}

TEST_CASE("generation: bad input throws with the values") {
  auto model = small_gpt2();
  std::vector<int64_t> long_prompt(33, 1);
  CHECK_THROWS_WITH_AS(generate(*model, {long_prompt}),
                       doctest::Contains("longer than the model's context (n_positions 32)"),
                       ValueError);
  CHECK_THROWS_AS(generate(*model, {{}}), ValueError);
  CHECK_THROWS_AS(generate(*model, {{80}}), IndexError);
  GenerationConfig bad;
  bad.temperature = 0;
  CHECK_THROWS_WITH(generate(*model, {{1}}, bad), doctest::Contains("temperature must be > 0"));
}

TEST_CASE("checkpoint: recomputing in backward gives the same gradients") {
  manual_seed(3);
  Tensor w = randn({4, 4}, true), x = randn({3, 4}, true);
  auto block = [&](const std::vector<Tensor>& in) {
    return nn::functional::dropout(tanh(matmul(in[0], w)), 0.3, true) * in[0];
  };
  manual_seed(11);
  block({x}).sum().backward();
  Tensor gw = w.grad().clone(), gx = x.grad().clone();
  w.clear_grad();
  x.clear_grad();
  manual_seed(11);
  Tensor y = checkpoint(block, {x});
  CHECK(y.grad_fn() != nullptr);
  y.sum().backward();
  CHECK(equal(w.grad(), gw));  // the same dropout masks: the random stream was restored
  CHECK(equal(x.grad(), gx));
}

TEST_CASE("checkpoint: GPT-2 with gradient_checkpointing has the same gradients") {
  GPT2Config c;
  c.vocab_size = 50;
  c.n_positions = 16;
  c.n_embd = 16;
  c.n_layer = 3;
  c.n_head = 2;  // dropout stays on (0.1): recomputation must redraw the same masks
  manual_seed(5);
  GPT2LMHeadModel plain(c);
  c.gradient_checkpointing = true;
  GPT2LMHeadModel recomputed(c);
  recomputed.load_state_dict(plain.state_dict());
  IndexTensor ids({1, 5, 9, 2, 7, 7, 3, 4, 40, 41, 0, 12}, {2, 6});
  manual_seed(21);
  GPT2LMHeadModel::loss(plain.forward(ids), ids).backward();
  manual_seed(21);
  GPT2LMHeadModel::loss(recomputed.forward(ids), ids).backward();
  auto a = plain.named_parameters(), b = recomputed.named_parameters();
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    INFO(a[i].first);
    CHECK(a[i].first == b[i].first);
    CHECK(max_abs_diff(a[i].second.grad(), b[i].second.grad()) < 1e-6f);
  }
}
