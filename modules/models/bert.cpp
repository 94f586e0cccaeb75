// BERT as transformers' modeling_bert.py: post-LayerNorm layers, separate q/k/v projections,
// learned positions and token types, erf GELU.
#include "ember/models/bert.hpp"

#include <cmath>
#include <limits>

#include "ember/autograd.hpp"
#include "ember/checkpoint.hpp"
#include "ember/error.hpp"
#include "ember/nn/attention.hpp"
#include "ember/ops.hpp"

namespace ember::models {

namespace F = nn::functional;

BertEmbeddings::BertEmbeddings(const BertConfig& c)
    : word_embeddings(
          nn::EmbeddingOptions(c.vocab_size, c.hidden_size).padding_idx(c.pad_token_id)),
      position_embeddings(c.max_position_embeddings, c.hidden_size),
      token_type_embeddings(c.type_vocab_size, c.hidden_size),
      LayerNorm({c.hidden_size}, c.layer_norm_eps),
      dropout(c.hidden_dropout_prob) {
  register_module("word_embeddings", word_embeddings);
  register_module("position_embeddings", position_embeddings);
  register_module("token_type_embeddings", token_type_embeddings);
  register_module("LayerNorm", LayerNorm);
  register_module("dropout", dropout);
}

Tensor BertEmbeddings::forward(const IndexTensor& input_ids, const IndexTensor& token_type_ids) {
  EMBER_CHECK_SHAPE(input_ids.dim() == 2, "BertEmbeddings: input_ids must be [B, T], got ",
                    detail::shape_str(input_ids.shape()));
  const int64_t B = input_ids.size(0), T = input_ids.size(1);
  const int64_t max_positions = position_embeddings.options().num_embeddings();
  EMBER_CHECK_VALUE(T <= max_positions, "BertEmbeddings: ", T,
                    " tokens exceed max_position_embeddings ", max_positions);
  IndexTensor types = token_type_ids;
  if (types.numel() == 0) types = IndexTensor(std::vector<int64_t>(B * T, 0), {B, T});
  EMBER_CHECK_SHAPE(types.shape() == input_ids.shape(), "BertEmbeddings: token_type_ids ",
                    detail::shape_str(types.shape()), " must match input_ids ",
                    detail::shape_str(input_ids.shape()));
  std::vector<int64_t> p(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) p[t] = t;
  Tensor x = word_embeddings(input_ids) + token_type_embeddings(types);
  return dropout(LayerNorm(x + position_embeddings(IndexTensor(p, {1, T}))));
}

BertResidualOutput::BertResidualOutput(const BertConfig& c, int64_t in_features)
    : dense(in_features, c.hidden_size),
      LayerNorm({c.hidden_size}, c.layer_norm_eps),
      dropout(c.hidden_dropout_prob) {
  register_module("dense", dense);
  register_module("LayerNorm", LayerNorm);
  register_module("dropout", dropout);
}

Tensor BertResidualOutput::forward(const Tensor& hidden, const Tensor& input) {
  return LayerNorm(dropout(dense(hidden)) + input);
}

BertSelfAttention::BertSelfAttention(const BertConfig& c)
    : query(c.hidden_size, c.hidden_size),
      key(c.hidden_size, c.hidden_size),
      value(c.hidden_size, c.hidden_size),
      heads_(c.num_attention_heads),
      attention_dropout_(c.attention_probs_dropout_prob) {
  register_module("query", query);
  register_module("key", key);
  register_module("value", value);
}

Tensor BertSelfAttention::forward(const Tensor& x, const Tensor& bias) {
  const int64_t B = x.size(0), T = x.size(1), H = x.size(2), hd = H / heads_;
  auto split = [&](const Tensor& t) { return t.reshape({B, T, heads_, hd}).permute({0, 2, 1, 3}); };
  const double p = is_training() ? attention_dropout_ : 0.0;
  Tensor a =
      F::scaled_dot_product_attention(split(query(x)), split(key(x)), split(value(x)), bias, p);
  return a.permute({0, 2, 1, 3}).reshape({B, T, H});
}

BertAttention::BertAttention(const BertConfig& c) : self(c), output(c, c.hidden_size) {
  register_module("self", self);
  register_module("output", output);
}

BertLayer::Intermediate::Intermediate(const BertConfig& c)
    : dense(c.hidden_size, c.intermediate_size) {
  register_module("dense", dense);
}

BertLayer::BertLayer(const BertConfig& c)
    : attention(c), intermediate(c), output(c, c.intermediate_size), activation_(c.hidden_act) {
  register_module("attention", attention);
  register_module("intermediate", intermediate);
  register_module("output", output);
}

Tensor BertLayer::forward(const Tensor& x, const Tensor& bias) {
  Tensor a = attention.forward(x, bias);
  return output.forward(activation(activation_, intermediate.dense(a)), a);
}

BertModel::Pooler::Pooler(int64_t hidden) : dense(hidden, hidden) {
  register_module("dense", dense);
}

BertModel::BertModel(const BertConfig& c, bool add_pooling_layer) : embeddings(c), config_(c) {
  c.validate();
  register_module("embeddings", embeddings);
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) encoder.layer.push_back(BertLayer(c));
  encoder.register_module("layer", encoder.layer);
  register_module("encoder", encoder);
  if (add_pooling_layer)
    pooler = register_module("pooler", std::make_shared<Pooler>(c.hidden_size));
}

Tensor BertModel::forward(const IndexTensor& input_ids, const IndexTensor& token_type_ids,
                          const Tensor& attention_mask) {
  Tensor x = embeddings.forward(input_ids, token_type_ids);
  Tensor bias;
  if (attention_mask.defined()) {
    EMBER_CHECK_SHAPE(attention_mask.shape() == input_ids.shape(), "BertModel: attention_mask ",
                      detail::shape_str(attention_mask.shape()), " must match input_ids ",
                      detail::shape_str(input_ids.shape()));
    // The hub's extended mask: (1 - mask) * float32 minimum, broadcast over heads and queries.
    std::vector<float> m = attention_mask.to_vector();
    for (float& v : m) v = v != 0.f ? 0.f : std::numeric_limits<float>::lowest();
    bias = tensor(m, {input_ids.size(0), 1, 1, input_ids.size(1)});
  }
  const bool recompute = config_.gradient_checkpointing && is_training() && is_grad_enabled();
  for (size_t i = 0; i < encoder.layer.size(); ++i) {
    BertLayer* layer = &encoder.layer.at<BertLayer>(i);
    if (recompute)
      x = checkpoint(
          [layer, bias](const std::vector<Tensor>& in) { return layer->forward(in[0], bias); },
          {x});
    else
      x = layer->forward(x, bias);
  }
  return x;
}

Tensor BertModel::pool(const Tensor& sequence_output) {
  EMBER_CHECK(pooler != nullptr, "BertModel::pool: this model was built without the pooling layer");
  return tanh(pooler->dense(sequence_output.select(1, 0)));
}

void BertPreTrainedModel::init_weights() {
  NoGradGuard guard;
  auto ends_with = [](const std::string& n, const std::string& s) {
    return n.size() >= s.size() && n.compare(n.size() - s.size(), s.size(), s) == 0;
  };
  for (auto& [name, p] : named_parameters()) {
    if (ends_with(name, "LayerNorm.weight"))
      p.fill_(1.f);
    else if (ends_with(name, "bias"))
      p.zero_();
    else
      normal_(p, config_.initializer_range);
    if (ends_with(name, "word_embeddings.weight")) p.select(0, config_.pad_token_id).zero_();
  }
}

std::vector<std::string> BertPreTrainedModel::load_safetensors(const std::string& path) {
  StateDict raw = read_safetensors(path), dict;
  const StateDict own = state_dict();
  auto has_prefix = [&](const std::string& prefix) {
    for (const auto& kv : own)
      if (kv.first.rfind(prefix, 0) == 0) return true;
    return false;
  };
  bool file_prefixed = false;
  for (const auto& kv : raw) file_prefixed = file_prefixed || kv.first.rfind("bert.", 0) == 0;
  for (auto& [key, value] : raw) {
    std::string name = key;
    // Older checkpoints name LayerNorm's parameters gamma and beta (TensorFlow's names).
    if (name.size() > 6 && name.compare(name.size() - 6, 6, ".gamma") == 0)
      name = name.substr(0, name.size() - 6) + ".weight";
    if (name.size() > 5 && name.compare(name.size() - 5, 5, ".beta") == 0)
      name = name.substr(0, name.size() - 5) + ".bias";
    const bool head = name.rfind("cls.", 0) == 0 || name.rfind("classifier.", 0) == 0;
    if (!file_prefixed && !head) name = "bert." + name;  // a bare BertModel checkpoint
    // Heads this model does not have, dropped as the hub's from_pretrained drops them: the
    // next-sentence head, the MLM head under a classifier, the pooler under a masked LM.
    if (name.rfind("cls.seq_relationship.", 0) == 0) continue;
    if (name.rfind("cls.predictions.", 0) == 0 && !has_prefix("cls.")) continue;
    if (name.rfind("bert.pooler.", 0) == 0 && !has_prefix("bert.pooler.")) continue;
    dict[name] = value;
  }
  if (has_prefix("cls.predictions.decoder.")) {
    if (!dict.count("cls.predictions.decoder.weight") &&
        dict.count("bert.embeddings.word_embeddings.weight"))
      dict["cls.predictions.decoder.weight"] = dict.at("bert.embeddings.word_embeddings.weight");
    if (!dict.count("cls.predictions.decoder.bias") && dict.count("cls.predictions.bias"))
      dict["cls.predictions.decoder.bias"] = dict.at("cls.predictions.bias");
  }
  return load_hub_state(*this, dict, path, fresh_keys());
}

void BertPreTrainedModel::save_pretrained(const std::string& dir) const {
  save_hub_folder(*this, config_.to_json(), dir);
}

BertForMaskedLM::Transform::Transform(const BertConfig& c)
    : dense(c.hidden_size, c.hidden_size), LayerNorm({c.hidden_size}, c.layer_norm_eps) {
  register_module("dense", dense);
  register_module("LayerNorm", LayerNorm);
}

BertForMaskedLM::Predictions::Predictions(const BertConfig& c)
    : transform(c), decoder(c.hidden_size, c.vocab_size) {
  register_module("transform", transform);
  bias = register_parameter("bias", zeros({c.vocab_size}));
  decoder.bias = decoder.register_parameter("bias", bias);
  register_module("decoder", decoder);
}

BertForMaskedLM::Head::Head(const BertConfig& c) : predictions(c) {
  register_module("predictions", predictions);
}

BertForMaskedLM::BertForMaskedLM(const BertConfig& c)
    : BertPreTrainedModel(c), bert(c, /*add_pooling_layer=*/false), cls(c) {
  register_module("bert", bert);
  register_module("cls", cls);
  nn::Linear& decoder = cls.predictions.decoder;
  decoder.weight = decoder.register_parameter("weight", bert.embeddings.word_embeddings.weight);
  init_weights();
}

Tensor BertForMaskedLM::forward(const IndexTensor& input_ids, const IndexTensor& token_type_ids,
                                const Tensor& attention_mask) {
  Predictions& p = cls.predictions;
  Tensor h = bert.forward(input_ids, token_type_ids, attention_mask);
  h = p.transform.LayerNorm(activation(config_.hidden_act, p.transform.dense(h)));
  return p.decoder(h);
}

Tensor BertForMaskedLM::loss(const Tensor& logits, const IndexTensor& labels) {
  EMBER_CHECK_SHAPE(logits.dim() == 3 && labels.numel() == logits.size(0) * logits.size(1),
                    "BertForMaskedLM::loss: logits ", detail::shape_str(logits.shape()),
                    " and labels ", detail::shape_str(labels.shape()),
                    " must be [B, T, V], [B, T]");
  const int64_t V = logits.size(2);
  return F::cross_entropy(logits.reshape({labels.numel(), V}), labels.flatten());
}

std::unique_ptr<BertForMaskedLM> BertForMaskedLM::from_pretrained(const std::string& dir) {
  auto model = std::make_unique<BertForMaskedLM>(BertConfig::from_file(dir + "/config.json"));
  model->load_safetensors(dir + "/model.safetensors");
  return model;
}

BertForSequenceClassification::BertForSequenceClassification(const BertConfig& c)
    : BertPreTrainedModel(c),
      bert(c),
      dropout(c.classifier_dropout >= 0 ? c.classifier_dropout : c.hidden_dropout_prob),
      classifier(c.hidden_size, c.num_labels()) {
  register_module("bert", bert);
  register_module("dropout", dropout);
  register_module("classifier", classifier);
  init_weights();
}

Tensor BertForSequenceClassification::forward(const IndexTensor& input_ids,
                                              const IndexTensor& token_type_ids,
                                              const Tensor& attention_mask) {
  return classifier(dropout(bert.pool(bert.forward(input_ids, token_type_ids, attention_mask))));
}

std::vector<std::string> BertForSequenceClassification::fresh_keys() const {
  return {"classifier.weight", "classifier.bias", "bert.pooler.dense.weight",
          "bert.pooler.dense.bias"};
}

std::unique_ptr<BertForSequenceClassification> BertForSequenceClassification::from_pretrained(
    const std::string& dir) {
  auto model =
      std::make_unique<BertForSequenceClassification>(BertConfig::from_file(dir + "/config.json"));
  model->load_safetensors(dir + "/model.safetensors");
  return model;
}

}  // namespace ember::models
