// GPT-2 as transformers' modeling_gpt2.py: pre-LayerNorm blocks, fused q/k/v in one Conv1D,
// learned positions, the output head tied to the token table.
#include "ember/models/gpt2.hpp"

#include <cmath>
#include <limits>

#include "ember/autograd.hpp"
#include "ember/checkpoint.hpp"
#include "ember/error.hpp"
#include "ember/nn/attention.hpp"
#include "ember/ops.hpp"

namespace ember::models {

namespace F = nn::functional;

GPT2Attention::GPT2Attention(const GPT2Config& c)
    : c_attn(c.n_embd, 3 * c.n_embd),
      c_proj(c.n_embd, c.n_embd),
      resid_dropout(c.resid_pdrop),
      n_head_(c.n_head),
      attn_pdrop_(c.attn_pdrop) {
  register_module("c_attn", c_attn);
  register_module("c_proj", c_proj);
  register_module("resid_dropout", resid_dropout);
}

Tensor GPT2Attention::forward(const Tensor& x, const Tensor& mask, Tensor* key, Tensor* value) {
  EMBER_CHECK_SHAPE(x.dim() == 3, "GPT2Attention: input must be [B, T, E], got ",
                    detail::shape_str(x.shape()));
  const int64_t B = x.size(0), T = x.size(1), E = x.size(2), hd = E / n_head_;
  std::vector<Tensor> qkv = c_attn(x).split(E, 2);
  auto heads = [&](const Tensor& t) {
    return t.reshape({B, T, n_head_, hd}).permute({0, 2, 1, 3});
  };
  Tensor q = heads(qkv[0]), k = heads(qkv[1]), v = heads(qkv[2]);
  if (key != nullptr) {
    // The cache keeps whole [B, H, S, hd] tensors; this step's keys go after the prefix's.
    k = key->defined() ? cat({*key, k}, 2) : k.contiguous();
    v = value->defined() ? cat({*value, v}, 2) : v.contiguous();
    *key = k;
    *value = v;
  }
  const double p = is_training() ? attn_pdrop_ : 0.0;
  Tensor a = mask.defined() ? F::scaled_dot_product_attention(q, k, v, mask, p, false)
                            : F::scaled_dot_product_attention(q, k, v, Tensor(), p, true);
  return resid_dropout(c_proj(a.permute({0, 2, 1, 3}).reshape({B, T, E})));
}

GPT2MLP::GPT2MLP(const GPT2Config& c)
    : c_fc(c.n_embd, c.inner_dim()),
      c_proj(c.inner_dim(), c.n_embd),
      dropout(c.resid_pdrop),
      activation_(c.activation_function) {
  register_module("c_fc", c_fc);
  register_module("c_proj", c_proj);
  register_module("dropout", dropout);
}

Tensor GPT2MLP::forward(const Tensor& x) {
  return dropout(c_proj(activation(activation_, c_fc(x))));
}

GPT2Block::GPT2Block(const GPT2Config& c)
    : ln_1({c.n_embd}, c.layer_norm_epsilon),
      attn(c),
      ln_2({c.n_embd}, c.layer_norm_epsilon),
      mlp(c) {
  register_module("ln_1", ln_1);
  register_module("attn", attn);
  register_module("ln_2", ln_2);
  register_module("mlp", mlp);
}

Tensor GPT2Block::forward(const Tensor& x, const Tensor& mask, Tensor* key, Tensor* value) {
  Tensor h = x + attn.forward(ln_1(x), mask, key, value);
  return h + mlp.forward(ln_2(h));
}

GPT2Model::GPT2Model(const GPT2Config& c)
    : wte(c.vocab_size, c.n_embd),
      wpe(c.n_positions, c.n_embd),
      drop(c.embd_pdrop),
      ln_f({c.n_embd}, c.layer_norm_epsilon),
      config_(c) {
  c.validate();
  register_module("wte", wte);
  register_module("wpe", wpe);
  register_module("drop", drop);
  for (int64_t i = 0; i < c.n_layer; ++i) h.push_back(GPT2Block(c));
  register_module("h", h);
  register_module("ln_f", ln_f);
}

namespace {
// The float bias added to the scores: 0 where query i (at position past + i) may see key j,
// the float32 minimum where not (the hub's value), for causality and for padding.
Tensor attention_bias(int64_t past, int64_t T, const Tensor& attention_mask, int64_t B) {
  const int64_t S = past + T;
  const int64_t rows = attention_mask.defined() ? B : 1;
  std::vector<float> allowed;
  if (attention_mask.defined()) allowed = attention_mask.to_vector();
  std::vector<float> bias(static_cast<size_t>(rows * T * S), 0.f);
  const float hidden = std::numeric_limits<float>::lowest();
  for (int64_t b = 0; b < rows; ++b)
    for (int64_t i = 0; i < T; ++i)
      for (int64_t j = 0; j < S; ++j) {
        bool ok = j <= past + i && (allowed.empty() || allowed[b * S + j] != 0.f);
        if (!ok) bias[(b * T + i) * S + j] = hidden;
      }
  return tensor(bias, {rows, 1, T, S});
}
}  // namespace

Tensor GPT2Model::forward(const IndexTensor& input_ids, KVCache* cache,
                          const Tensor& attention_mask, const IndexTensor& position_ids) {
  EMBER_CHECK_SHAPE(input_ids.dim() == 2, "GPT2Model: input_ids must be [B, T], got ",
                    detail::shape_str(input_ids.shape()));
  const int64_t B = input_ids.size(0), T = input_ids.size(1);
  const int64_t past = cache != nullptr ? cache->length() : 0;
  EMBER_CHECK_VALUE(past + T <= config_.n_positions, "GPT2Model: ", past + T, " tokens (", past,
                    " cached + ", T, " new) exceed n_positions ", config_.n_positions);
  if (attention_mask.defined())
    EMBER_CHECK_SHAPE(attention_mask.shape() == Shape({B, past + T}),
                      "GPT2Model: attention_mask must be [B, past + T] = [", B, ", ", past + T,
                      "], got ", detail::shape_str(attention_mask.shape()));
  IndexTensor positions = position_ids;
  if (positions.numel() == 0) {
    std::vector<int64_t> p(static_cast<size_t>(T));
    for (int64_t t = 0; t < T; ++t) p[t] = past + t;
    positions = IndexTensor(p, {1, T});
  } else {
    EMBER_CHECK_SHAPE(positions.shape() == input_ids.shape(), "GPT2Model: position_ids ",
                      detail::shape_str(positions.shape()), " must match input_ids ",
                      detail::shape_str(input_ids.shape()));
  }
  Tensor x = drop(wte(input_ids) + wpe(positions));
  Tensor mask;
  if (attention_mask.defined() || past > 0) mask = attention_bias(past, T, attention_mask, B);
  if (cache != nullptr && cache->keys.empty()) {
    cache->keys.resize(h.size());
    cache->values.resize(h.size());
  }
  const bool recompute =
      config_.gradient_checkpointing && is_training() && cache == nullptr && is_grad_enabled();
  for (size_t i = 0; i < h.size(); ++i) {
    GPT2Block* block = &h.at<GPT2Block>(i);
    if (recompute) {
      x = checkpoint(
          [block, mask](const std::vector<Tensor>& in) { return block->forward(in[0], mask); },
          {x});
    } else if (cache != nullptr) {
      x = block->forward(x, mask, &cache->keys[i], &cache->values[i]);
    } else {
      x = block->forward(x, mask);
    }
  }
  return ln_f(x);
}

GPT2LMHeadModel::GPT2LMHeadModel(const GPT2Config& c)
    : transformer(c), lm_head(c.n_embd, c.vocab_size, /*bias=*/false), config_(c) {
  register_module("transformer", transformer);
  register_module("lm_head", lm_head);
  if (c.tie_word_embeddings)
    lm_head.weight = lm_head.register_parameter("weight", transformer.wte.weight);
  init_weights();
}

Tensor GPT2LMHeadModel::forward(const IndexTensor& input_ids, KVCache* cache,
                                const Tensor& attention_mask, const IndexTensor& position_ids) {
  return lm_head(transformer.forward(input_ids, cache, attention_mask, position_ids));
}

Tensor GPT2LMHeadModel::loss(const Tensor& logits, const IndexTensor& labels) {
  EMBER_CHECK_SHAPE(logits.dim() == 3 && labels.dim() == 2 && logits.size(0) == labels.size(0) &&
                        logits.size(1) == labels.size(1),
                    "GPT2LMHeadModel::loss: logits ", detail::shape_str(logits.shape()),
                    " and labels ", detail::shape_str(labels.shape()),
                    " must be [B, T, V], [B, T]");
  const int64_t B = logits.size(0), T = logits.size(1), V = logits.size(2);
  EMBER_CHECK_VALUE(T >= 2, "GPT2LMHeadModel::loss: needs at least 2 tokens, got ", T);
  // Position t's label is token t + 1's, and the last position's is ignored: the logits are
  // read as they are, never narrowed into a copy (transformers' ForCausalLMLoss does the same).
  const int64_t ignored = F::CrossEntropyOptions().ignore_index();
  std::vector<int64_t> next;
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t t = 1; t < T; ++t) next.push_back(labels[b * T + t]);
    next.push_back(ignored);
  }
  return F::cross_entropy(logits.reshape({B * T, V}), IndexTensor(next, {B * T}));
}

void GPT2LMHeadModel::init_weights() {
  const double std = config_.initializer_range;
  const double proj_std = std / std::sqrt(2.0 * static_cast<double>(config_.n_layer));
  NoGradGuard guard;
  for (auto& [name, p] : named_parameters()) {
    auto ends_with = [&, &n = name](const std::string& s) {
      return n.size() >= s.size() && n.compare(n.size() - s.size(), s.size(), s) == 0;
    };
    if (name.find(".ln_") != std::string::npos)
      p.fill_(ends_with(".weight") ? 1.f : 0.f);
    else if (ends_with(".bias"))
      p.zero_();
    else
      normal_(p, ends_with("c_proj.weight") ? proj_std : std);
  }
}

void GPT2LMHeadModel::load_safetensors(const std::string& path) {
  StateDict raw = read_safetensors(path), dict;
  bool prefixed = false;
  for (const auto& kv : raw) prefixed = prefixed || kv.first.rfind("transformer.", 0) == 0;
  auto ends_with = [](const std::string& n, const std::string& s) {
    return n.size() >= s.size() && n.compare(n.size() - s.size(), s.size(), s) == 0;
  };
  for (auto& [key, value] : raw) {
    // The hub's causal-mask buffers: Ember builds the mask itself.
    if (ends_with(key, ".attn.bias") || ends_with(key, ".attn.masked_bias")) continue;
    const bool head = key.rfind("lm_head.", 0) == 0;
    dict[prefixed || head ? key : "transformer." + key] = value;
  }
  if (config_.tie_word_embeddings && !dict.count("lm_head.weight") &&
      dict.count("transformer.wte.weight"))
    dict["lm_head.weight"] = dict.at("transformer.wte.weight");
  load_hub_state(*this, dict, path);
}

std::unique_ptr<GPT2LMHeadModel> GPT2LMHeadModel::from_pretrained(const std::string& dir) {
  auto model = std::make_unique<GPT2LMHeadModel>(GPT2Config::from_file(dir + "/config.json"));
  model->load_safetensors(dir + "/model.safetensors");
  return model;
}

void GPT2LMHeadModel::save_pretrained(const std::string& dir) const {
  save_hub_folder(*this, config_.to_json(), dir);
}

}  // namespace ember::models
