// generate(): prefill the left-padded prompts once, then one token per step through the KV cache.
#include "ember/models/generation.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <set>

#include "ember/autograd.hpp"
#include "ember/error.hpp"
#include "ember/ops.hpp"

namespace ember::models {

namespace {

void check_config(const GenerationConfig& c) {
  EMBER_CHECK_VALUE(c.max_new_tokens >= 0, "generate: max_new_tokens must be >= 0, got ",
                    c.max_new_tokens);
  EMBER_CHECK_VALUE(c.temperature > 0, "generate: temperature must be > 0, got ", c.temperature);
  EMBER_CHECK_VALUE(c.top_k >= 0, "generate: top_k must be >= 0, got ", c.top_k);
  EMBER_CHECK_VALUE(c.top_p > 0 && c.top_p <= 1, "generate: top_p must be in (0, 1], got ",
                    c.top_p);
  EMBER_CHECK_VALUE(c.repetition_penalty > 0, "generate: repetition_penalty must be > 0, got ",
                    c.repetition_penalty);
}

// Puts the model back in its mode whatever happens.
struct EvalScope {
  explicit EvalScope(nn::Module& m) : model(m), was_training(m.is_training()) { m.eval(); }
  ~EvalScope() { model.train(was_training); }
  EvalScope(const EvalScope&) = delete;
  EvalScope& operator=(const EvalScope&) = delete;
  nn::Module& model;
  bool was_training;
};

}  // namespace

int64_t next_token(std::vector<float> logits, const std::vector<int64_t>& seen,
                   const GenerationConfig& c, std::mt19937_64& engine) {
  const int64_t V = static_cast<int64_t>(logits.size());
  EMBER_CHECK_VALUE(V > 0, "next_token: empty logits");
  if (c.repetition_penalty != 1.0) {
    // CTRL's penalty, as the hub's: shrink a seen token's logit toward (and past) zero.
    const float pen = static_cast<float>(c.repetition_penalty);
    for (int64_t t : std::set<int64_t>(seen.begin(), seen.end())) {
      if (t < 0 || t >= V) continue;
      float& l = logits[t];
      l = l < 0 ? l * pen : l / pen;
    }
  }
  if (!c.do_sample) return std::max_element(logits.begin(), logits.end()) - logits.begin();

  const float inf = std::numeric_limits<float>::infinity();
  for (float& l : logits) l = static_cast<float>(l / c.temperature);
  if (c.top_k > 0 && c.top_k < V) {
    std::vector<float> sorted = logits;
    std::nth_element(sorted.begin(), sorted.begin() + (c.top_k - 1), sorted.end(),
                     std::greater<>());
    const float kth = sorted[c.top_k - 1];
    for (float& l : logits)
      if (l < kth) l = -inf;
  }
  const float top = *std::max_element(logits.begin(), logits.end());
  std::vector<double> p(static_cast<size_t>(V));
  double total = 0;
  for (int64_t i = 0; i < V; ++i) total += p[i] = std::exp(double(logits[i]) - double(top));
  for (double& x : p) x /= total;
  if (c.top_p < 1.0) {
    // The smallest set of most likely tokens whose mass reaches top_p (at least one token).
    std::vector<int64_t> order(static_cast<size_t>(V));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return p[a] > p[b]; });
    double mass = 0;
    size_t keep = 0;
    while (keep < order.size() && (keep == 0 || mass < c.top_p)) mass += p[order[keep++]];
    for (size_t i = keep; i < order.size(); ++i) p[order[i]] = 0;
    for (double& x : p) x /= mass;
  }
  // 53 random bits: the same draw on every platform (std's distributions are not portable).
  const double u = static_cast<double>(engine() >> 11) * 0x1.0p-53;
  double cum = 0;
  int64_t last = 0;
  for (int64_t i = 0; i < V; ++i) {
    if (p[i] <= 0) continue;
    last = i;
    cum += p[i];
    if (u < cum) return i;
  }
  return last;  // rounding left u above the total
}

std::vector<std::vector<int64_t>> generate(GPT2LMHeadModel& model,
                                           const std::vector<std::vector<int64_t>>& prompts,
                                           const GenerationConfig& config) {
  check_config(config);
  EMBER_CHECK_VALUE(!prompts.empty(), "generate: no prompts");
  const int64_t B = static_cast<int64_t>(prompts.size());
  const int64_t context = model.config().n_positions, V = model.config().vocab_size;
  int64_t L = 0;
  bool padded = false;
  for (const auto& p : prompts) {
    EMBER_CHECK_VALUE(!p.empty(), "generate: a prompt is empty (it needs at least one token)");
    for (int64_t t : p)
      EMBER_CHECK_INDEX(t >= 0 && t < V, "generate: prompt token ", t,
                        " outside the vocabulary of ", V);
    padded = padded || (L != 0 && static_cast<int64_t>(p.size()) != L);
    L = std::max<int64_t>(L, static_cast<int64_t>(p.size()));
  }
  EMBER_CHECK_VALUE(L <= context, "generate: a prompt of ", L,
                    " tokens is longer than the model's context (n_positions ", context, ")");
  EvalScope eval(model);
  NoGradGuard no_grad;
  std::mt19937_64 engine(config.seed);

  // Left padding: row b's prompt ends at column L - 1; its positions start at 0 after the pads.
  std::vector<int64_t> ids(B * L, config.pad_token_id), pos(B * L, 0), last_pos(B);
  std::vector<std::vector<float>> mask(B, std::vector<float>(L, 0.f));
  std::vector<std::vector<int64_t>> seen(B), out(B);
  for (int64_t b = 0; b < B; ++b) {
    const int64_t n = static_cast<int64_t>(prompts[b].size()), pad = L - n;
    for (int64_t t = 0; t < n; ++t) {
      ids[b * L + pad + t] = prompts[b][t];
      pos[b * L + pad + t] = t;
      mask[b][pad + t] = 1.f;
    }
    last_pos[b] = n - 1;
    seen[b] = prompts[b];
  }
  auto mask_tensor = [&]() {
    if (!padded) return Tensor();
    std::vector<float> flat;
    for (const auto& row : mask) flat.insert(flat.end(), row.begin(), row.end());
    return tensor(flat, {B, static_cast<int64_t>(mask[0].size())});
  };
  KVCache cache;
  std::vector<int64_t> all_ids = ids, all_pos = pos;  // the uncached path's whole sequence
  Tensor logits = model.forward(IndexTensor(ids, {B, L}), config.use_cache ? &cache : nullptr,
                                mask_tensor(), IndexTensor(pos, {B, L}));
  std::vector<bool> done(B, false);
  int64_t S = L;
  for (int64_t step = 0; step < config.max_new_tokens; ++step) {
    const int64_t T = logits.size(1);
    std::vector<float> last = logits.select(1, T - 1).contiguous().to_vector();
    std::vector<int64_t> next(B, config.pad_token_id), next_pos(B);
    for (int64_t b = 0; b < B; ++b) {
      next_pos[b] = ++last_pos[b];
      if (done[b]) continue;
      std::vector<float> row(last.begin() + b * V, last.begin() + (b + 1) * V);
      next[b] = next_token(std::move(row), seen[b], config, engine);
      out[b].push_back(next[b]);
      seen[b].push_back(next[b]);
      const auto& stops = config.stop_tokens;
      if (std::find(stops.begin(), stops.end(), next[b]) != stops.end()) done[b] = true;
    }
    if (std::all_of(done.begin(), done.end(), [](bool d) { return d; })) break;
    if (step + 1 == config.max_new_tokens || S + 1 > context) break;  // the context is full
    for (auto& row : mask) row.push_back(1.f);
    ++S;
    if (config.use_cache) {
      logits = model.forward(IndexTensor(next, {B, 1}), &cache, mask_tensor(),
                             IndexTensor(next_pos, {B, 1}));
    } else {
      std::vector<int64_t> grown, grown_pos;
      for (int64_t b = 0; b < B; ++b) {
        grown.insert(grown.end(), all_ids.begin() + b * (S - 1),
                     all_ids.begin() + (b + 1) * (S - 1));
        grown.push_back(next[b]);
        grown_pos.insert(grown_pos.end(), all_pos.begin() + b * (S - 1),
                         all_pos.begin() + (b + 1) * (S - 1));
        grown_pos.push_back(next_pos[b]);
      }
      all_ids = grown;
      all_pos = grown_pos;
      logits = model.forward(IndexTensor(all_ids, {B, S}), nullptr, mask_tensor(),
                             IndexTensor(all_pos, {B, S}));
    }
  }
  return out;
}

}  // namespace ember::models
