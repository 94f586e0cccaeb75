// The sentence classifier behind ember-classify: Embedding(padding_idx=1) -> masked mean ->
// Linear -> ReLU -> Linear, with its training loop, evaluation and model directory.
#pragma once

#include <ember/ember.hpp>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace classifier {

using namespace ember;

struct Config {
  int64_t epochs = 12;
  int64_t dim = 64;
  int64_t hidden = 128;
  std::optional<double> lr;  // default: 0.01 for adam, 0.5 for sgd
  int64_t batch_size = 32;
  int64_t max_len = 64;
  std::string optimizer = "adam";
  bool sparse = false;
  std::string pretrained;  // word-vector file; empty for none
  bool freeze = false;
  uint64_t seed = 1;
  bool lower = true;  // lower-case ASCII when tokenizing
};

struct SentenceClassifier : nn::Module {
  nn::Embedding emb;
  nn::Linear fc1, fc2;
  SentenceClassifier(const nn::EmbeddingOptions& embedding, int64_t hidden, int64_t classes);
  Tensor forward(const IndexTensor& ids);  // ids [B, L], padded with 1 -> logits [B, C]
};

// Everything a trained model needs to run: the network, its vocabulary and labels.
struct Model {
  text::Vocab vocab;
  text::LabelSet labels;
  int64_t max_len;
  std::unique_ptr<SentenceClassifier> net;

  std::vector<std::vector<int64_t>> encode(const std::vector<std::string>& sentences) const;
  // Class probabilities [N, C] for sentences, in eval mode.
  Tensor probabilities(const std::vector<std::string>& sentences) const;
  std::vector<int64_t> predict(const std::vector<std::string>& sentences) const;

  // DIR/model.safetensors, DIR/vocab.txt, DIR/labels.txt; each written atomically.
  void save(const std::string& dir) const;
  // Throws ember::IoError naming the missing or malformed file.
  static Model load(const std::string& dir);
};

struct EpochStats {
  int64_t epoch;
  double train_loss, train_accuracy;
  std::optional<double> valid_loss, valid_accuracy;
  double seconds, sentences_per_second;
};

// Called after every batch (for a progress bar) and after every epoch.
struct TrainCallbacks {
  std::function<void(int64_t epoch, int64_t batch, int64_t batches, double loss, double accuracy,
                     double sentences_per_second)>
      on_batch;
  std::function<void(const EpochStats&)> on_epoch;
  std::function<void(const std::string&)> on_message;  // e.g. the pretrained-vector report
};

Model train(const std::vector<text::Example>& train_set, const text::LabelSet& labels,
            const std::vector<text::Example>* valid_set, const Config& config,
            const TrainCallbacks& callbacks, std::vector<EpochStats>* history);

struct Evaluation {
  double loss = 0, accuracy = 0;
  std::vector<std::vector<int64_t>> confusion;  // [true class][predicted class]
  std::vector<double> precision, recall, f1;
};

Evaluation evaluate(const Model& model, const std::vector<text::Example>& examples);

}  // namespace classifier
