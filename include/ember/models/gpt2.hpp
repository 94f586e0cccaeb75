// GPT-2 with the hub's names (transformer.wte, transformer.h.0.attn.c_attn, ..., lm_head tied to
// transformer.wte), so a model.safetensors from the hub or from transformers' save_pretrained
// loads as it is, and what Ember saves loads back there.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ember/index_tensor.hpp"
#include "ember/models/common.hpp"
#include "ember/models/config.hpp"
#include "ember/nn/containers.hpp"
#include "ember/nn/embedding.hpp"
#include "ember/nn/layers.hpp"
#include "ember/nn/linear.hpp"

namespace ember::models {

// The keys and values of every layer so far, [B, n_head, S, head_dim] each: decoding one more
// token attends to them instead of recomputing the prefix. Grows by one cat per step.
struct KVCache {
  std::vector<Tensor> keys, values;  // one per layer; undefined before the first forward
  int64_t length() const { return keys.empty() || !keys[0].defined() ? 0 : keys[0].size(2); }
};

class GPT2Attention : public nn::Module {
 public:
  explicit GPT2Attention(const GPT2Config& config);
  // x [B, T, E]; mask: undefined (causal over x alone) or a float [B or 1, 1, T, S] bias added
  // to the scores. `key`, `value` (a cache's slots) get this step's keys and values appended.
  Tensor forward(const Tensor& x, const Tensor& mask, Tensor* key = nullptr,
                 Tensor* value = nullptr);

  Conv1D c_attn, c_proj;
  nn::Dropout resid_dropout;

 private:
  int64_t n_head_;
  double attn_pdrop_;
};

class GPT2MLP : public nn::Module {
 public:
  explicit GPT2MLP(const GPT2Config& config);
  Tensor forward(const Tensor& x);

  Conv1D c_fc, c_proj;
  nn::Dropout dropout;

 private:
  std::string activation_;
};

class GPT2Block : public nn::Module {
 public:
  explicit GPT2Block(const GPT2Config& config);
  Tensor forward(const Tensor& x, const Tensor& mask, Tensor* key = nullptr,
                 Tensor* value = nullptr);

  nn::LayerNorm ln_1;
  GPT2Attention attn;
  nn::LayerNorm ln_2;
  GPT2MLP mlp;
};

class GPT2Model : public nn::Module {
 public:
  explicit GPT2Model(const GPT2Config& config);
  // input_ids [B, T] -> hidden states [B, T, n_embd]. attention_mask [B, past + T], float or
  // bool, as the hub's (1 or True = attend, 0 or False = padding), may be undefined.
  // position_ids [B, T] default to past .. past + T - 1. With a cache, the new keys and values
  // are appended to it.
  Tensor forward(const IndexTensor& input_ids, KVCache* cache = nullptr,
                 const Tensor& attention_mask = Tensor(),
                 const IndexTensor& position_ids = IndexTensor());

  nn::Embedding wte, wpe;
  nn::Dropout drop;
  nn::ModuleList h;
  nn::LayerNorm ln_f;

 private:
  GPT2Config config_;
  friend class GPT2LMHeadModel;
};

class GPT2LMHeadModel : public nn::Module {
 public:
  explicit GPT2LMHeadModel(const GPT2Config& config);
  // Logits [B, T, vocab_size]; arguments as GPT2Model::forward.
  Tensor forward(const IndexTensor& input_ids, KVCache* cache = nullptr,
                 const Tensor& attention_mask = Tensor(),
                 const IndexTensor& position_ids = IndexTensor());

  // The hub's causal LM loss: token t predicts token t + 1; labels -100 are ignored.
  static Tensor loss(const Tensor& logits, const IndexTensor& labels);

  // GPT-2's init (normal(0, initializer_range), c_proj scaled by 1/sqrt(2 n_layer)).
  void init_weights();
  const GPT2Config& config() const { return config_; }

  // A folder holding config.json and model.safetensors (hub names; the hub's files omit the
  // tied lm_head.weight and keep attn.bias buffers, both accepted; unprefixed GPT2Model keys
  // are read as transformer.*).
  static std::unique_ptr<GPT2LMHeadModel> from_pretrained(const std::string& dir);
  void load_safetensors(const std::string& path);
  void save_pretrained(const std::string& dir) const;

  GPT2Model transformer;
  nn::Linear lm_head;

 private:
  GPT2Config config_;
};

}  // namespace ember::models
