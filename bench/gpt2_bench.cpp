// GPT-2 training step and KV-cache generation speed on the hub-named model (ember/models),
// beside its PyTorch twin bench/gpt2_bench_torch.py (same shapes, AdamW, greedy decoding with
// past_key_values). Prints one line per figure; bench/gpt2_compare.sh runs both.
//   ember_gpt2_bench [layers dim heads vocab batch seq steps gen_tokens threads]
// Defaults: GPT-2 124M's shape (12 768 12 50257), B=4, T=64, 3 timed steps, 32 tokens, 1 thread.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ember/ember.hpp>
#include <ember/models/generation.hpp>
#include <ember/models/gpt2.hpp>
#include <ember/optim/adam.hpp>
#include <ember/parallel.hpp>

#include "bench_common.hpp"

using namespace ember;
using namespace ember::models;
using Clock = std::chrono::steady_clock;

namespace {
double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}
double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}
double rss_mb() {  // resident now, from /proc/self/statm (pages)
  long pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return static_cast<double>(resident) * 4096.0 / (1024.0 * 1024.0);
}
}  // namespace

int main(int argc, char** argv) {
  auto arg = [&](int i, int64_t d) { return argc > i ? std::atoll(argv[i]) : d; };
  GPT2Config c;
  c.n_layer = arg(1, 12);
  c.n_embd = arg(2, 768);
  c.n_head = arg(3, 12);
  c.vocab_size = arg(4, 50257);
  const int64_t B = arg(5, 4), T = arg(6, 64), steps = arg(7, 3), gen = arg(8, 32);
  set_num_threads(static_cast<int>(arg(9, 1)));
  c.n_positions = std::max<int64_t>(T, 8 + gen);
  c.resid_pdrop = c.embd_pdrop = c.attn_pdrop = 0.0;  // as the twin: no random masks to time
  c.gradient_checkpointing = std::getenv("EMBER_CHECKPOINTING") != nullptr;
  manual_seed(0);
  GPT2LMHeadModel model(c);
  optim::AdamW opt(model.parameters(), optim::AdamWOptions(1e-4));
  IndexTensor ids = randint(0, c.vocab_size, {B, T});
  std::vector<double> times, forward_s, backward_s, step_s;  // the step, and its three phases
  double before_forward_mb = 0;
  double graph_mb = 0;  // what the forward leaves allocated for backward (the last step's)
  for (int64_t s = 0; s <= steps + 1; ++s) {  // step 0 warms up the caches
    // One more step, untimed, from parameters, gradients and AdamW's state alone: the buffer
    // cache emptied, so the RSS it adds is its activations (fresh pages fault in: not timed).
    if (s == steps + 1) {
      empty_cache();
      before_forward_mb = rss_mb();
    }
    const auto t0 = Clock::now();
    opt.zero_grad();
    const int64_t live_before = cache_stats().requested_bytes;
    Tensor loss;
    {  // EMBER_AUTOCAST=1: the forward under bfloat16 autocast, as PyTorch's torch.autocast
      autocast::Guard guard(kBFloat16, std::getenv("EMBER_AUTOCAST") != nullptr);
      loss = GPT2LMHeadModel::loss(model.forward(ids), ids);
    }
    graph_mb = static_cast<double>(cache_stats().requested_bytes - live_before) / (1 << 20);
    const auto t1 = Clock::now();
    loss.backward();
    const auto t2 = Clock::now();
    opt.step();
    if (s > 0 && s <= steps) {
      times.push_back(seconds_since(t0));
      forward_s.push_back(std::chrono::duration<double>(t1 - t0).count());
      backward_s.push_back(std::chrono::duration<double>(t2 - t1).count());
      step_s.push_back(seconds_since(t2));
    }
    std::printf("step %lld loss %.6f\n", static_cast<long long>(s), loss.item());
  }
  std::printf("ember train_step_s %.4f (median of %zu) threads %d checkpointing %d autocast %d\n",
              bench::median(times), times.size(), get_num_threads(),
              c.gradient_checkpointing ? 1 : 0, std::getenv("EMBER_AUTOCAST") != nullptr ? 1 : 0);
  // Where the step goes: zero_grad and forward (with the loss), backward, AdamW (medians each).
  std::printf("ember phases_s forward %.4f backward %.4f optimizer %.4f\n",
              bench::median(forward_s), bench::median(backward_s), bench::median(step_s));
  std::printf("ember peak_rss_mb %.0f\n", peak_rss_mb());
  // What the step holds beyond parameters, gradients and optimizer state: its activations
  // (and their gradients), the peak of every step minus the last step's starting point.
  std::printf("ember activation_mb %.0f\n", peak_rss_mb() - before_forward_mb);
  // Exact, from the allocator (no cache rounding, no pages): the MiB the forward's graph holds
  // for backward (saved activations, and what the loss keeps), read after the forward. The RSS
  // figure above also counts blocks the cache keeps while others are taken.
  std::printf("ember saved_activation_mb %.1f\n", graph_mb);
  // The machine-limit model of the step (bench/gpt2_compare.sh divides by ember_limits): its
  // GEMM FLOPs (forward, and backward's two products each) and AdamW's 8 passes over the
  // parameters (zero_grad writes the gradient; the step reads param, grad, m, v, writes 3).
  const double N = static_cast<double>(B * T), d = static_cast<double>(c.n_embd);
  const double forward_flop = static_cast<double>(c.n_layer) *
                                  (24.0 * N * d * d + 4.0 * static_cast<double>(B * T * T) * d) +
                              2.0 * N * d * static_cast<double>(c.vocab_size);
  int64_t params = 0;
  for (const Tensor& p : model.parameters()) params += p.numel();
  std::printf("ember gemm_gflop %.2f adamw_bytes %.0f\n", 3.0 * forward_flop / 1e9,
              8.0 * 4.0 * static_cast<double>(params));

  std::vector<int64_t> prompt;
  for (int64_t i = 0; i < 8; ++i) prompt.push_back(ids[i]);
  GenerationConfig g;
  g.max_new_tokens = gen;
  const auto t0 = Clock::now();
  auto out = generate(model, {prompt}, g);
  const double secs = seconds_since(t0);
  std::printf("ember generate_tokens_per_s %.2f (%zu tokens after an 8-token prompt, KV cache)\n",
              static_cast<double>(out[0].size()) / secs, out[0].size());
  return 0;
}
