// ember-lm's work, apart from its command line: training a GPT-2-shaped model on a text file,
// perplexity, generation, and fine-tuning a BERT checkpoint as a sentence classifier.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace lm {

struct TrainOptions {
  std::string text, tokenizer, from, out = "ember-lm-model";
  int64_t vocab_size = 512, layers = 2, dim = 64, heads = 4, context = 64;
  int64_t epochs = 1, batch = 8, max_steps = 0;  // max_steps 0: no limit
  double lr = 3e-3, dropout = 0.0;
  uint64_t seed = 0;
  bool checkpointing = false;
};
// Trains and writes out/ (config.json, model.safetensors, vocab.json, merges.txt,
// history.csv, curves.svg). Returns the last validation perplexity.
double train(const TrainOptions& options, std::ostream& out, bool terminal);

// Perplexity of the model in `model_dir` on a text file (blocks of the model's context).
double evaluate(const std::string& model_dir, const std::string& text, std::ostream& out);

struct GenerateOptions {
  std::string model, prompt;
  int64_t max_new_tokens = 50, top_k = 0;
  double temperature = 1.0, top_p = 1.0, repetition_penalty = 1.0;
  bool greedy = false;
  uint64_t seed = 0;
};
std::string generate_text(const GenerateOptions& options);

struct FinetuneOptions {
  std::string model, train, valid, out = "ember-lm-classifier";
  int64_t epochs = 2, batch = 8, max_length = 64;
  double lr = 5e-4;
  uint64_t seed = 0;
};
// Returns the last epoch's validation accuracy (training accuracy without --valid).
double finetune_classify(const FinetuneOptions& options, std::ostream& out, bool terminal);

}  // namespace lm
