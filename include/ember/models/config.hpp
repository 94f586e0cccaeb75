// GPT2Config and BertConfig: the architecture of a hub checkpoint, read from its config.json with
// the hub's key names. A key Ember does not know throws, naming the key, unless it is one of the
// hub's bookkeeping keys (architectures, torch_dtype, label2id, ...) that do not change the model:
// a checkpoint Ember would silently build wrong is worse than one it refuses.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ember::models {

struct GPT2Config {
  int64_t vocab_size = 50257;
  int64_t n_positions = 1024;
  int64_t n_embd = 768;
  int64_t n_layer = 12;
  int64_t n_head = 12;
  int64_t n_inner = 0;  // 0: 4 * n_embd (the hub's null)
  std::string activation_function = "gelu_new";
  double resid_pdrop = 0.1, embd_pdrop = 0.1, attn_pdrop = 0.1;
  double layer_norm_epsilon = 1e-5;
  double initializer_range = 0.02;
  int64_t bos_token_id = 50256, eos_token_id = 50256;
  bool tie_word_embeddings = true;
  // Ember's own: recompute each block in backward instead of keeping its activations
  // (ember::checkpoint); the hub's "gradient_checkpointing" key sets it too.
  bool gradient_checkpointing = false;

  int64_t inner_dim() const { return n_inner > 0 ? n_inner : 4 * n_embd; }
  void validate() const;  // throws naming the first inconsistent value

  static GPT2Config from_json(const std::string& text, const std::string& source = "config.json");
  static GPT2Config from_file(const std::string& path);
  std::string to_json() const;
};

struct BertConfig {
  int64_t vocab_size = 30522;
  int64_t hidden_size = 768;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 12;
  int64_t intermediate_size = 3072;
  std::string hidden_act = "gelu";
  double hidden_dropout_prob = 0.1, attention_probs_dropout_prob = 0.1;
  double classifier_dropout = -1;  // < 0: the hub's null (hidden_dropout_prob)
  int64_t max_position_embeddings = 512;
  int64_t type_vocab_size = 2;
  int64_t pad_token_id = 0;
  double layer_norm_eps = 1e-12;
  double initializer_range = 0.02;
  std::vector<std::string> labels = {"LABEL_0", "LABEL_1"};  // id2label in id order
  std::vector<std::string> architectures = {"BertForMaskedLM"};
  bool gradient_checkpointing = false;

  int64_t num_labels() const { return static_cast<int64_t>(labels.size()); }
  void validate() const;

  static BertConfig from_json(const std::string& text, const std::string& source = "config.json");
  static BertConfig from_file(const std::string& path);
  std::string to_json() const;
};

// The activations the hub's configs name ("gelu_new", "gelu", "relu", ...): true if Ember has it.
bool is_known_activation(const std::string& name);

}  // namespace ember::models
