// ember-lm finetune-classify: a BERT checkpoint folder (config.json, model.safetensors,
// vocab.txt) becomes a BertForSequenceClassification over the labels of a label<TAB>text file;
// the encoder starts from the checkpoint, the pooler (if absent) and classifier fresh.
#include <chrono>
#include <cmath>
#include <ember/ember.hpp>
#include <ember/models/bert.hpp>
#include <ember/optim/adam.hpp>
#include <ember/text/wordpiece.hpp>
#include <filesystem>
#include <iostream>

#include "lm.hpp"
#include "parallel.hpp"
#include "report.hpp"

using namespace ember;
using namespace ember::models;

namespace lm {

namespace {
struct Batch {
  IndexTensor ids, types, labels;
  Tensor mask;
};

Batch batch_of(const text::Tokenizer& tok, const std::vector<text::Example>& data,
               const std::vector<size_t>& order, size_t from, size_t to, int64_t max_length) {
  std::vector<std::string> texts;
  std::vector<int64_t> labels;
  for (size_t i = from; i < to; ++i) {
    texts.push_back(data[order[i]].text);
    labels.push_back(data[order[i]].label);
  }
  text::BatchEncoding enc = tok.encode_batch(texts, max_length);
  return {enc.input_ids, enc.token_type_ids, IndexTensor(labels), to_float(enc.attention_mask)};
}

// (loss, accuracy) over a data set, in eval mode; under mpirun each rank scores its shard and
// the sums are reduced.
std::pair<double, double> score(BertForSequenceClassification& model, const text::Tokenizer& tok,
                                const std::vector<text::Example>& data, int64_t batch,
                                int64_t max_length, const classifier::Parallel& parallel) {
  NoGradGuard no_grad;
  model.eval();
  std::vector<size_t> order(data.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  double loss = 0, correct = 0;
  auto [first, last] = parallel.shard(0, data.size());
  for (size_t i = first; i < last; i += static_cast<size_t>(batch)) {
    const size_t end = std::min(last, i + static_cast<size_t>(batch));
    Batch b = batch_of(tok, data, order, i, end, max_length);
    Tensor logits = model.forward(b.ids, b.types, b.mask);
    loss += nn::functional::cross_entropy(logits, b.labels).item() * double(end - i);
    correct += (argmax(logits, 1) == b.labels).sum().item();
  }
  model.train();
  return {parallel.sum(loss) / double(data.size()), parallel.sum(correct) / double(data.size())};
}
}  // namespace

double finetune_classify(const FinetuneOptions& o, std::ostream& out, bool terminal) {
  for (const std::string f : {"config.json", "model.safetensors", "vocab.txt"})
    EMBER_CHECK_IO(std::filesystem::is_regular_file(o.model + "/" + f),
                   "finetune-classify: no such file ", o.model + "/" + f);
  EMBER_CHECK_IO(std::filesystem::is_regular_file(o.train), "finetune-classify: no such file ",
                 o.train);
  text::LabelSet labels;
  std::vector<text::Example> train = text::read_tsv(o.train, labels);
  EMBER_CHECK_VALUE(!train.empty(), "finetune-classify: no examples in ", o.train);
  std::vector<text::Example> valid;
  if (!o.valid.empty()) valid = text::read_tsv(o.valid, labels, /*grow_labels=*/false);

  manual_seed(o.seed);
  BertConfig config = BertConfig::from_file(o.model + "/config.json");
  config.labels = labels.names();
  config.architectures = {"BertForSequenceClassification"};
  BertForSequenceClassification model(config);
  std::vector<std::string> fresh = model.load_safetensors(o.model + "/model.safetensors");
  out << "loaded " << o.model << "; starting fresh: ";
  for (const auto& k : fresh) out << k << " ";
  out << "\n";
  text::WordPieceTokenizer tok = text::WordPieceTokenizer::from_vocab_file(o.model + "/vocab.txt");
  const int64_t max_length = std::min(o.max_length, config.max_position_embeddings);

  // Under mpirun, as ember-lm train: --batch is global, each rank takes its slice of every batch.
  const classifier::Parallel parallel = classifier::Parallel::current();
  out << parallel.describe(o.batch);
  model.train();
  optim::AdamW opt(model.parameters(), optim::AdamWOptions(o.lr));
  std::unique_ptr<distributed::DataParallel> dp = parallel.data_parallel(model.parameters());
  classifier::Progress progress(out, terminal, o.epochs);
  std::vector<classifier::EpochStats> history;
  double accuracy = 0;
  const size_t B = static_cast<size_t>(o.batch);
  for (int64_t epoch = 1; epoch <= o.epochs; ++epoch) {
    const auto start = std::chrono::steady_clock::now();
    std::vector<size_t> order = text::shuffled_indices(train.size(), o.seed + epoch);
    double loss_sum = 0, correct = 0, seen = 0;
    const int64_t batches = static_cast<int64_t>((order.size() + B - 1) / B);
    for (int64_t bi = 0; bi < batches; ++bi) {
      const size_t lo = bi * B, hi = std::min(order.size(), lo + B);
      auto [from, to] = parallel.shard(lo, hi);  // [lo, hi) in one process
      opt.zero_grad();
      if (to > from) {
        Batch b = batch_of(tok, train, order, from, to, max_length);
        Tensor logits = model.forward(b.ids, b.types, b.mask);
        Tensor loss = nn::functional::cross_entropy(logits, b.labels);
        (loss * parallel.loss_scale(to - from, hi - lo)).backward();
        loss_sum += loss.item() * double(to - from);
        correct += (argmax(logits.detach(), 1) == b.labels).sum().item();
        seen += double(to - from);
      }
      if (dp) dp->synchronize();
      opt.step();
      const double secs =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      progress.batch(epoch, bi + 1, batches, loss_sum / std::max(seen, 1.0),
                     correct / std::max(seen, 1.0), seen / std::max(secs, 1e-9));
    }
    classifier::EpochStats stats{};
    stats.epoch = epoch;
    stats.train_loss = parallel.sum(loss_sum) / double(train.size());
    stats.train_accuracy = accuracy = parallel.sum(correct) / double(train.size());
    if (!valid.empty()) {
      auto [vloss, vacc] = score(model, tok, valid, o.batch, max_length, parallel);
      stats.valid_loss = vloss;
      stats.valid_accuracy = accuracy = vacc;
    }
    stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    stats.sentences_per_second = double(train.size()) / std::max(stats.seconds, 1e-9);
    progress.epoch(stats);
    history.push_back(stats);
  }
  if (!parallel.is_root()) return accuracy;
  model.save_pretrained(o.out);
  std::filesystem::copy_file(o.model + "/vocab.txt", o.out + "/vocab.txt",
                             std::filesystem::copy_options::overwrite_existing);
  classifier::write_history_csv(history, o.out + "/history.csv");
  classifier::write_curves_svg(history, o.out + "/curves.svg");
  out << "accuracy " << accuracy << "\nsaved " << o.out << "\n";
  return accuracy;
}

}  // namespace lm
