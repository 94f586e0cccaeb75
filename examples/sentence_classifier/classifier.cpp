// Model, training loop, evaluation and the model directory of the sentence classifier.
#include "classifier.hpp"

#include <chrono>
#include <filesystem>
#include <fstream>

namespace classifier {

namespace F = ember::nn::functional;
constexpr int64_t kPad = 1;  // "<pad>", as Vocab::build's default specials

SentenceClassifier::SentenceClassifier(const nn::EmbeddingOptions& embedding, int64_t hidden,
                                       int64_t classes)
    : emb(embedding), fc1(embedding.embedding_dim(), hidden), fc2(hidden, classes) {
  register_module("emb", emb);
  register_module("fc1", fc1);
  register_module("fc2", fc2);
}

Tensor SentenceClassifier::forward(const IndexTensor& ids) {
  Tensor x = F::masked_mean(emb(ids), ids != kPad, /*dim=*/1);
  return fc2(relu(fc1(x)));
}

std::vector<std::vector<int64_t>> Model::encode(const std::vector<std::string>& sentences) const {
  std::vector<std::vector<int64_t>> out;
  out.reserve(sentences.size());
  for (const std::string& s : sentences) {
    std::vector<int64_t> ids = vocab.encode(s);
    if (static_cast<int64_t>(ids.size()) > max_len) ids.resize(static_cast<size_t>(max_len));
    out.push_back(std::move(ids));
  }
  return out;
}

Tensor Model::probabilities(const std::vector<std::string>& sentences) const {
  NoGradGuard no_grad;
  net->eval();
  return softmax(net->forward(text::pad_sequences(encode(sentences), kPad, max_len)), 1);
}

std::vector<int64_t> Model::predict(const std::vector<std::string>& sentences) const {
  return argmax(probabilities(sentences), 1).to_vector();
}

void Model::save(const std::string& dir) const {
  std::filesystem::create_directories(dir);
  io::save(net->state_dict(), dir + "/model.safetensors",
           {{"max_len", std::to_string(max_len)}, {"lower", vocab.tokenizer().lower ? "1" : "0"}});
  vocab.save(dir + "/vocab.txt");
  labels.save(dir + "/labels.txt");
}

Model Model::load(const std::string& dir) {
  for (const char* file : {"model.safetensors", "vocab.txt", "labels.txt"}) {
    EMBER_CHECK_IO(std::filesystem::exists(dir + "/" + file), "model directory '", dir,
                   "' is missing ", file);
  }
  io::Archive archive = io::load_archive(dir + "/model.safetensors");
  auto meta = [&](const char* key) {
    auto it = archive.metadata.find(key);
    EMBER_CHECK_IO(it != archive.metadata.end(), dir, "/model.safetensors: no '", key,
                   "' in its metadata");
    return it->second;
  };
  text::TokenizerOptions tokenizer;
  tokenizer.lower = meta("lower") == "1";
  Model m{text::Vocab::load(dir + "/vocab.txt", tokenizer),
          text::LabelSet::load(dir + "/labels.txt"), std::stoll(meta("max_len")), nullptr};
  for (const char* key : {"emb.weight", "fc1.weight", "fc2.weight"}) {
    EMBER_CHECK_IO(archive.tensors.count(key) && archive.tensors.at(key).dim() == 2, dir,
                   "/model.safetensors: no 2-D tensor '", key, "'");
  }
  const Shape emb = archive.tensors.at("emb.weight").shape();
  const Shape fc1 = archive.tensors.at("fc1.weight").shape();
  const Shape fc2 = archive.tensors.at("fc2.weight").shape();
  EMBER_CHECK_IO(emb[0] == m.vocab.size() && fc2[0] == m.labels.size(), dir, ": the model has ",
                 emb[0], " words and ", fc2[0], " classes, but vocab.txt has ", m.vocab.size(),
                 " and labels.txt ", m.labels.size());
  m.net = std::make_unique<SentenceClassifier>(
      nn::EmbeddingOptions(emb[0], emb[1]).padding_idx(kPad), fc1[0], fc2[0]);
  m.net->load_state_dict(archive.tensors);
  return m;
}

namespace {

struct Batches {
  std::vector<std::vector<int64_t>> ids;
  std::vector<int64_t> labels;
};

Batches encode_examples(const Model& m, const std::vector<text::Example>& examples) {
  std::vector<std::string> texts;
  Batches b;
  for (const auto& e : examples) {
    texts.push_back(e.text);
    b.labels.push_back(e.label);
  }
  b.ids = m.encode(texts);
  return b;
}

std::unique_ptr<optim::Optimizer> make_optimizer(const Config& c, std::vector<Tensor> params) {
  if (c.optimizer == "adam")
    return std::make_unique<optim::Adam>(std::move(params),
                                         optim::AdamOptions(c.lr.value_or(0.01)));
  EMBER_CHECK_VALUE(c.optimizer == "sgd", "--optimizer must be adam or sgd, got '", c.optimizer,
                    "'");
  return std::make_unique<optim::SGD>(std::move(params),
                                      optim::SGDOptions(c.lr.value_or(0.5)).momentum(0.9));
}

// Loss and accuracy over a whole set, in eval mode and without recording.
std::pair<double, double> measure(const Model& m, const Batches& data, int64_t batch_size) {
  NoGradGuard no_grad;
  m.net->eval();
  double loss = 0, correct = 0;
  const size_t n = data.labels.size();
  for (size_t start = 0; start < n; start += static_cast<size_t>(batch_size)) {
    size_t end = std::min(n, start + static_cast<size_t>(batch_size));
    std::vector<std::vector<int64_t>> ids(data.ids.begin() + static_cast<long>(start),
                                          data.ids.begin() + static_cast<long>(end));
    IndexTensor labels(std::vector<int64_t>(data.labels.begin() + static_cast<long>(start),
                                            data.labels.begin() + static_cast<long>(end)));
    Tensor logits = m.net->forward(text::pad_sequences(ids, kPad, m.max_len));
    loss += F::cross_entropy(logits, labels).item() * static_cast<double>(end - start);
    std::vector<int64_t> pred = argmax(logits, 1).to_vector();
    for (size_t i = 0; i < pred.size(); ++i) correct += pred[i] == labels[static_cast<int64_t>(i)];
  }
  m.net->train();
  return {loss / static_cast<double>(n), correct / static_cast<double>(n)};
}

}  // namespace

Model train(const std::vector<text::Example>& train_set, const text::LabelSet& labels,
            const std::vector<text::Example>* valid_set, const Config& c,
            const TrainCallbacks& callbacks, std::vector<EpochStats>* history) {
  EMBER_CHECK_VALUE(c.epochs > 0 && c.dim > 0 && c.hidden > 0 && c.batch_size > 0 && c.max_len > 0,
                    "train: epochs, dim, hidden, batch-size and max-len must be positive");
  manual_seed(c.seed);
  std::vector<std::string> texts;
  for (const auto& e : train_set) texts.push_back(e.text);
  text::TokenizerOptions tokenizer;
  tokenizer.lower = c.lower;
  Model m{text::Vocab::build(texts, {"<unk>", "<pad>"}, 1, std::nullopt, tokenizer), labels,
          c.max_len, nullptr};
  nn::EmbeddingOptions emb_options(m.vocab.size(), c.dim);
  emb_options.padding_idx(kPad).sparse(c.sparse);
  if (!c.pretrained.empty()) {
    text::WordVectors vectors = text::load_word_vectors(c.pretrained);
    text::AlignedVectors aligned = text::align_to_vocab(vectors, m.vocab, kPad);
    if (callbacks.on_message) callbacks.on_message("pretrained vectors: " + aligned.report());
    emb_options.embedding_dim(vectors.dim())._weight(aligned.weights);
  }
  m.net = std::make_unique<SentenceClassifier>(emb_options, c.hidden, labels.size());
  if (c.freeze) m.net->emb.weight.requires_grad_(false);
  std::vector<Tensor> trainable;
  for (Tensor& p : m.net->parameters())
    if (p.requires_grad()) trainable.push_back(p);
  std::unique_ptr<optim::Optimizer> opt = make_optimizer(c, trainable);

  Batches data = encode_examples(m, train_set);
  std::optional<Batches> valid;
  if (valid_set) valid = encode_examples(m, *valid_set);
  const size_t n = data.labels.size();
  const int64_t batches = static_cast<int64_t>((n + static_cast<size_t>(c.batch_size) - 1) /
                                               static_cast<size_t>(c.batch_size));
  using Clock = std::chrono::steady_clock;
  for (int64_t epoch = 1; epoch <= c.epochs; ++epoch) {
    auto start_time = Clock::now();
    std::vector<size_t> order =
        text::shuffled_indices(n, c.seed * 1000003 + static_cast<uint64_t>(epoch));
    double loss_sum = 0, correct = 0, seen = 0;
    m.net->train();
    for (int64_t b = 0; b < batches; ++b) {
      size_t lo = static_cast<size_t>(b * c.batch_size);
      size_t hi = std::min(n, lo + static_cast<size_t>(c.batch_size));
      std::vector<std::vector<int64_t>> ids;
      std::vector<int64_t> targets;
      for (size_t k = lo; k < hi; ++k) {
        ids.push_back(data.ids[order[k]]);
        targets.push_back(data.labels[order[k]]);
      }
      IndexTensor target_tensor(targets);
      opt->zero_grad();
      Tensor logits = m.net->forward(text::pad_sequences(ids, kPad, c.max_len));
      Tensor loss = F::cross_entropy(logits, target_tensor);
      loss.backward();
      opt->step();
      std::vector<int64_t> pred = argmax(logits, 1).to_vector();
      for (size_t i = 0; i < pred.size(); ++i) correct += pred[i] == targets[i];
      loss_sum += loss.item() * static_cast<double>(hi - lo);
      seen += static_cast<double>(hi - lo);
      double secs = std::chrono::duration<double>(Clock::now() - start_time).count();
      if (callbacks.on_batch)
        callbacks.on_batch(epoch, b + 1, batches, loss_sum / seen, correct / seen,
                           secs > 0 ? seen / secs : 0.0);
    }
    EpochStats stats{epoch, loss_sum / seen, correct / seen, std::nullopt, std::nullopt, 0, 0};
    if (valid) {
      auto [vl, va] = measure(m, *valid, 256);
      stats.valid_loss = vl;
      stats.valid_accuracy = va;
    }
    stats.seconds = std::chrono::duration<double>(Clock::now() - start_time).count();
    stats.sentences_per_second = stats.seconds > 0 ? seen / stats.seconds : 0;
    if (history) history->push_back(stats);
    if (callbacks.on_epoch) callbacks.on_epoch(stats);
  }
  m.net->eval();
  return m;
}

Evaluation evaluate(const Model& m, const std::vector<text::Example>& examples) {
  Batches data = encode_examples(m, examples);
  Evaluation e;
  std::tie(e.loss, e.accuracy) = measure(m, data, 256);
  m.net->eval();
  const size_t C = static_cast<size_t>(m.labels.size());
  e.confusion.assign(C, std::vector<int64_t>(C, 0));
  std::vector<std::string> texts;
  for (const auto& ex : examples) texts.push_back(ex.text);
  std::vector<int64_t> pred = m.predict(texts);
  for (size_t i = 0; i < pred.size(); ++i)
    ++e.confusion[static_cast<size_t>(examples[i].label)][static_cast<size_t>(pred[i])];
  for (size_t c = 0; c < C; ++c) {
    double tp = static_cast<double>(e.confusion[c][c]), predicted = 0, actual = 0;
    for (size_t k = 0; k < C; ++k) {
      predicted += static_cast<double>(e.confusion[k][c]);
      actual += static_cast<double>(e.confusion[c][k]);
    }
    double p = predicted > 0 ? tp / predicted : 0, r = actual > 0 ? tp / actual : 0;
    e.precision.push_back(p);
    e.recall.push_back(r);
    e.f1.push_back(p + r > 0 ? 2 * p * r / (p + r) : 0);
  }
  return e;
}

}  // namespace classifier
