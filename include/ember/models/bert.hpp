// BERT with the hub's names (bert.embeddings.word_embeddings, bert.encoder.layer.0.attention.
// self.query, ..., cls.predictions.decoder tied to the word embeddings, classifier), so the hub's
// model.safetensors loads as it is and what Ember saves loads back there. BertEmbeddings is the
// seed's three embeddings (examples/bert_embeddings.hpp) built from a BertConfig.
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

class BertEmbeddings : public nn::Module {
 public:
  explicit BertEmbeddings(const BertConfig& config);
  // input_ids, token_type_ids [B, T] (token types undefined: all 0) -> [B, T, hidden_size].
  Tensor forward(const IndexTensor& input_ids, const IndexTensor& token_type_ids = IndexTensor());

  nn::Embedding word_embeddings, position_embeddings, token_type_embeddings;
  nn::LayerNorm LayerNorm;  // NOLINT(readability-identifier-naming): the hub's name
  nn::Dropout dropout;
};

// Two Linear layers and a residual LayerNorm: BertSelfOutput and BertOutput.
class BertResidualOutput : public nn::Module {
 public:
  BertResidualOutput(const BertConfig& config, int64_t in_features);
  Tensor forward(const Tensor& hidden, const Tensor& input);

  nn::Linear dense;
  nn::LayerNorm LayerNorm;  // NOLINT(readability-identifier-naming)
  nn::Dropout dropout;
};

class BertSelfAttention : public nn::Module {
 public:
  explicit BertSelfAttention(const BertConfig& config);
  Tensor forward(const Tensor& x, const Tensor& bias);  // bias [B, 1, 1, T] added to the scores

  nn::Linear query, key, value;

 private:
  int64_t heads_;
  double attention_dropout_;
};

class BertAttention : public nn::Module {
 public:
  explicit BertAttention(const BertConfig& config);
  Tensor forward(const Tensor& x, const Tensor& bias) {
    return output.forward(self.forward(x, bias), x);
  }

  BertSelfAttention self;
  BertResidualOutput output;
};

class BertLayer : public nn::Module {
 public:
  explicit BertLayer(const BertConfig& config);
  Tensor forward(const Tensor& x, const Tensor& bias);

  BertAttention attention;
  struct Intermediate : nn::Module {
    explicit Intermediate(const BertConfig& config);
    nn::Linear dense;
  } intermediate;
  BertResidualOutput output;

 private:
  std::string activation_;
};

class BertModel : public nn::Module {
 public:
  explicit BertModel(const BertConfig& config, bool add_pooling_layer = true);
  // Sequence output [B, T, H]. attention_mask [B, T], float or bool as the hub's: 1 or True =
  // attend, 0 or False = padding (undefined: all attend); as the hub, padding keys get the
  // float32 minimum added to their scores.
  Tensor forward(const IndexTensor& input_ids, const IndexTensor& token_type_ids = IndexTensor(),
                 const Tensor& attention_mask = Tensor());
  // tanh(dense(first token)): the pooler's output [B, H].
  Tensor pool(const Tensor& sequence_output);

  BertEmbeddings embeddings;
  struct Encoder : nn::Module {
    nn::ModuleList layer;
  } encoder;
  struct Pooler : nn::Module {
    explicit Pooler(int64_t hidden);
    nn::Linear dense;
  };
  std::shared_ptr<Pooler> pooler;  // null without the pooling layer

  const BertConfig& config() const { return config_; }

 private:
  BertConfig config_;
};

// The parts BERT's heads share: init as the hub's, and reading hub files.
class BertPreTrainedModel : public nn::Module {
 public:
  explicit BertPreTrainedModel(const BertConfig& config) : config_(config) {}
  void init_weights();
  const BertConfig& config() const { return config_; }
  // Returns the keys the file lacked that start fresh (a classifier on a pre-trained encoder).
  std::vector<std::string> load_safetensors(const std::string& path);
  void save_pretrained(const std::string& dir) const;

 protected:
  virtual std::vector<std::string> fresh_keys() const { return {}; }
  BertConfig config_;
};

class BertForMaskedLM : public BertPreTrainedModel {
 public:
  explicit BertForMaskedLM(const BertConfig& config);
  Tensor forward(const IndexTensor& input_ids, const IndexTensor& token_type_ids = IndexTensor(),
                 const Tensor& attention_mask = Tensor());  // logits [B, T, vocab_size]
  // Cross entropy over the positions whose label is not -100.
  static Tensor loss(const Tensor& logits, const IndexTensor& labels);
  static std::unique_ptr<BertForMaskedLM> from_pretrained(const std::string& dir);

  BertModel bert;
  struct Transform : nn::Module {
    explicit Transform(const BertConfig& config);
    nn::Linear dense;
    nn::LayerNorm LayerNorm;  // NOLINT(readability-identifier-naming)
  };
  struct Predictions : nn::Module {
    explicit Predictions(const BertConfig& config);
    Transform transform;
    nn::Linear decoder;  // weight tied to bert.embeddings.word_embeddings, bias to `bias`
    Tensor bias;
  };
  struct Head : nn::Module {
    explicit Head(const BertConfig& config);
    Predictions predictions;
  } cls;
};

class BertForSequenceClassification : public BertPreTrainedModel {
 public:
  explicit BertForSequenceClassification(const BertConfig& config);
  Tensor forward(const IndexTensor& input_ids, const IndexTensor& token_type_ids = IndexTensor(),
                 const Tensor& attention_mask = Tensor());  // logits [B, num_labels]
  static std::unique_ptr<BertForSequenceClassification> from_pretrained(const std::string& dir);

  BertModel bert;
  nn::Dropout dropout;
  nn::Linear classifier;

 protected:
  // A checkpoint of a pre-trained (or masked-LM) BERT has no classifier, and may have no pooler.
  std::vector<std::string> fresh_keys() const override;
};

}  // namespace ember::models
