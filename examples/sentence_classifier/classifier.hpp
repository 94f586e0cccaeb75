// The sentence classifier behind ember-classify, fastText's model with a hidden layer: the
// mean of the embeddings of a sentence's words, hashed word n-grams and character n-grams
// (EmbeddingBag) -> Linear -> ReLU -> Linear. Training loop, evaluation, model directory and
// the int8 quantized table.
#pragma once

#include <ember/ember.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "parallel.hpp"

namespace classifier {

using namespace ember;

struct Config {
  std::string model = "bag";  // bag, cnn, lstm or transformer
  int64_t epochs = 5;         // as fastText
  int64_t dim = 64;
  int64_t hidden = 128;
  std::optional<double> lr;  // default: 0.01 for adam, 0.5 for sgd
  bool lr_decay = true;      // linearly to 0 over the run, as fastText
  int64_t batch_size = 32;
  int64_t max_len = 64;  // words kept per sentence (before n-grams are added)
  std::string optimizer = "adam";
  bool dense = false;      // true: dense embedding gradients (Adam rewrites the whole table)
  bool bf16 = false;       // true: the forward under bfloat16 autocast (ember/autocast.hpp)
  std::string pretrained;  // word-vector file; empty for none
  bool freeze = false;
  uint64_t seed = 1;
  bool lower = true;  // Unicode case folding when tokenizing
  // Word bigrams; buckets < 0: twice the training set's tokens, at most 100,000 (a small set
  // gets a small table; past that, more buckets mostly add rows no n-gram trains).
  text::NgramOptions ngrams{2, 0, 0, -1};
  int64_t min_count = 1;
  int threads = 2;
  int64_t early_stop = 0;  // with a validation set: stop after this many epochs without gain
  Parallel parallel;       // under mpirun: this rank's place (batch_size stays the global batch)
};

// A batch: every sentence's feature ids back to back and where each sentence starts (what the
// bag model reads), and the same ids padded to [B, L] with kPadId plus a bool mask, True at
// padded positions (`padded == kPadId`, what the sequence models read).
constexpr int64_t kPadId = 1;  // "<pad>" in every vocabulary ember-classify builds
struct Batch {
  IndexTensor ids, offsets;
  IndexTensor padded;
  Tensor padding;
};

// What ember-classify trains. New kinds (cnn, lstm, ...) derive from it and are made by
// make_network; the training loop only calls forward.
struct Network : nn::Module {
  virtual Tensor forward(const Batch& batch) = 0;  // logits [B, C]
  virtual std::string kind() const = 0;            // what make_network builds it from
  int64_t hidden_size = 0;                         // NetworkShape::hidden, saved with the model
};

struct NetworkShape {
  std::string kind = "bag";
  int64_t rows, dim, hidden, classes;  // rows: vocabulary + buckets
  Tensor pretrained;                   // [rows, dim] initial table, or undefined
  bool sparse = true;
  int64_t max_len = 64;  // longest sentence, in tokens (the transformer's position table)
};

std::unique_ptr<Network> make_network(const NetworkShape& shape);

struct BagClassifier : Network {
  nn::EmbeddingBag emb;
  nn::Linear fc1, fc2;
  BagClassifier(const nn::EmbeddingBagOptions& embedding, int64_t hidden, int64_t classes);
  Tensor forward(const Batch& batch) override;
  std::string kind() const override { return "bag"; }
};

// cnn, lstm and transformer (sequence_models.cpp): sentences as padded word sequences.
std::unique_ptr<Network> make_sequence_network(const NetworkShape& shape);

// Everything a trained model needs to run: the network, its vocabulary, labels and features.
struct Model {
  text::Vocab vocab;
  text::LabelSet labels;
  int64_t max_len;
  text::NgramOptions ngrams;
  std::unique_ptr<Network> net;

  // Feature ids of one sentence: known words, then character and word n-grams.
  std::vector<int64_t> encode(const std::string& sentence) const;
  std::vector<std::vector<int64_t>> encode(const std::vector<std::string>& sentences,
                                           int threads = 1) const;
  // Class probabilities [N, C] for sentences, in eval mode.
  Tensor probabilities(const std::vector<std::string>& sentences) const;
  std::vector<int64_t> predict(const std::vector<std::string>& sentences) const;
  Tensor table() const;  // the embedding table [rows, dim]

  // DIR/model.safetensors, DIR/vocab.txt, DIR/labels.txt; each written atomically. With
  // `quantized`, the table goes to DIR/table.q8 as int8 rows with a float scale each.
  void save(const std::string& dir, bool quantized = false) const;
  // Throws ember::IoError naming the missing, truncated or malformed file.
  static Model load(const std::string& dir);
};

Batch make_batch(const std::vector<const std::vector<int64_t>*>& sentences);

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
  int64_t k = 1;
  double precision_at_k = 0, recall_at_k = 0;   // as fastText's test: over labels predicted
  std::vector<std::vector<int64_t>> confusion;  // [true class][predicted class]
  std::vector<double> precision, recall, f1;
};

// k < 0: all classes. Predictions below `threshold` are not counted for P@k / R@k.
Evaluation evaluate(const Model& model, const std::vector<text::Example>& examples, int64_t k = 1,
                    double threshold = 0.0);

// The top k (all when k < 0) classes of each row of probs [N, C] with probability >= threshold,
// most probable first: (class, probability) pairs.
std::vector<std::vector<std::pair<int64_t, float>>> top_k(const Tensor& probs, int64_t k,
                                                          double threshold);

}  // namespace classifier
