// Text generation for causal LMs (GPT2LMHeadModel): greedy or sampled decoding with a KV cache,
// temperature, top-k, top-p, repetition penalty, stop tokens and a seed, over a batch of prompts
// of different lengths (left-padded, as the hub's generate() wants for decoder-only models).
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "ember/models/gpt2.hpp"

namespace ember::models {

struct GenerationConfig {
  int64_t max_new_tokens = 20;
  bool do_sample = false;            // false: greedy (argmax after the repetition penalty)
  double temperature = 1.0;          // > 0; divides the logits before sampling
  int64_t top_k = 0;                 // 0: off; else keep the k most likely tokens
  double top_p = 1.0;                // 1: off; else the smallest set with mass >= top_p
  double repetition_penalty = 1.0;   // > 1 discourages tokens already in the sequence (CTRL's rule)
  std::vector<int64_t> stop_tokens;  // a row ends after emitting one of these (it is kept)
  uint64_t seed = 0;                 // sampling draws from its own stream: same seed, same text
  int64_t pad_token_id = 0;          // what left padding and finished rows hold
  bool use_cache = true;             // false: run the whole sequence every step (for tests)
};

// Each prompt (at least one token) continued by up to max_new_tokens; returns the new tokens
// only, per prompt. Runs in eval mode without recording; the model's mode is restored after.
std::vector<std::vector<int64_t>> generate(GPT2LMHeadModel& model,
                                           const std::vector<std::vector<int64_t>>& prompts,
                                           const GenerationConfig& config = {});

// Picks the next token from one row of logits (the rules above; `seen` are the tokens so far,
// for the repetition penalty). Exposed for tests and for callers with a model of their own.
int64_t next_token(std::vector<float> logits, const std::vector<int64_t>& seen,
                   const GenerationConfig& config, std::mt19937_64& engine);

}  // namespace ember::models
