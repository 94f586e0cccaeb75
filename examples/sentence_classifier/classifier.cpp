// The network, feature encoding and the model directory (float or int8 table).
#include "classifier.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

namespace classifier {

namespace F = ember::nn::functional;

BagClassifier::BagClassifier(const nn::EmbeddingBagOptions& embedding, int64_t hidden,
                             int64_t classes)
    : emb(embedding), fc1(embedding.embedding_dim(), hidden), fc2(hidden, classes) {
  register_module("emb", emb);
  register_module("fc1", fc1);
  register_module("fc2", fc2);
}

Tensor BagClassifier::forward(const Batch& batch) {
  return fc2(relu(fc1(emb(batch.ids, batch.offsets))));
}

std::unique_ptr<Network> make_network(const NetworkShape& s) {
  if (s.kind != "bag") {
    std::unique_ptr<Network> net = make_sequence_network(s);
    net->hidden_size = s.hidden;
    return net;
  }
  nn::EmbeddingBagOptions emb(s.rows, s.dim);
  emb.mode(F::EmbeddingBagMode::Mean).sparse(s.sparse);
  if (s.pretrained.defined()) {
    emb._weight(s.pretrained);
  } else {
    // fastText's init: most rows are n-gram buckets a sentence may never train, and small
    // values keep them from drowning the trained rows in a mean.
    Tensor table = zeros({s.rows, s.dim});
    nn::init::uniform_(table, -1.0 / static_cast<double>(s.dim), 1.0 / static_cast<double>(s.dim));
    emb._weight(table);
  }
  auto net = std::make_unique<BagClassifier>(emb, s.hidden, s.classes);
  net->hidden_size = s.hidden;
  return net;
}

std::vector<int64_t> Model::encode(const std::string& sentence) const {
  std::vector<std::string> tokens = text::tokenize(sentence, vocab.tokenizer());
  if (static_cast<int64_t>(tokens.size()) > max_len) tokens.resize(static_cast<size_t>(max_len));
  std::vector<int64_t> ids;
  for (const std::string& t : tokens) {
    // As fastText, an unknown word has no vector of its own; its n-grams still count.
    int64_t id = vocab[t];
    if (id != vocab.unk_index()) ids.push_back(id);
  }
  text::append_ngram_ids(tokens, ngrams, vocab.size(), ids);
  if (ids.empty()) ids.push_back(vocab["<unk>"]);  // every bag holds at least one row
  return ids;
}

std::vector<std::vector<int64_t>> Model::encode(const std::vector<std::string>& sentences,
                                                int threads) const {
  // Each thread encodes a contiguous slice: the result does not depend on the thread count.
  std::vector<std::vector<int64_t>> out(sentences.size());
  const size_t n = sentences.size(), t = std::max<size_t>(1, std::min<size_t>(threads, n / 64));
  std::vector<std::thread> pool;
  std::vector<std::exception_ptr> errors(t);
  for (size_t k = 0; k < t; ++k) {
    auto work = [&, k] {
      try {
        for (size_t i = n * k / t; i < n * (k + 1) / t; ++i) out[i] = encode(sentences[i]);
      } catch (...) {
        errors[k] = std::current_exception();
      }
    };
    if (k + 1 < t)
      pool.emplace_back(work);
    else
      work();
  }
  for (auto& th : pool) th.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
  return out;
}

Batch make_batch(const std::vector<const std::vector<int64_t>*>& sentences) {
  std::vector<int64_t> ids, offsets;
  size_t longest = 1;
  for (const auto* s : sentences) {
    offsets.push_back(static_cast<int64_t>(ids.size()));
    ids.insert(ids.end(), s->begin(), s->end());
    longest = std::max(longest, s->size());
  }
  const int64_t B = static_cast<int64_t>(sentences.size()), L = static_cast<int64_t>(longest);
  std::vector<int64_t> padded(static_cast<size_t>(B * L), kPadId);
  std::vector<double> padding(static_cast<size_t>(B * L), 1.0);
  for (size_t b = 0; b < sentences.size(); ++b)
    for (size_t i = 0; i < sentences[b]->size(); ++i) {
      padded[b * longest + i] = (*sentences[b])[i];
      padding[b * longest + i] = 0.0;
    }
  return {IndexTensor(std::move(ids)), IndexTensor(std::move(offsets)),
          IndexTensor(std::move(padded), {B, L}), tensor(padding, {B, L}, kBool)};
}

Tensor Model::probabilities(const std::vector<std::string>& sentences) const {
  NoGradGuard no_grad;
  net->eval();
  std::vector<std::vector<int64_t>> ids = encode(sentences);
  std::vector<const std::vector<int64_t>*> ptrs;
  for (const auto& s : ids) ptrs.push_back(&s);
  return softmax(net->forward(make_batch(ptrs)), 1);
}

std::vector<int64_t> Model::predict(const std::vector<std::string>& sentences) const {
  return argmax(probabilities(sentences), 1).to_vector();
}

Tensor Model::table() const {
  for (auto& [name, t] : net->named_parameters())
    if (name == "emb.weight") return t;
  throw IoError("model: no embedding table 'emb.weight'");
}

std::vector<std::vector<std::pair<int64_t, float>>> top_k(const Tensor& probs, int64_t k,
                                                          double threshold) {
  const int64_t N = probs.size(0), C = probs.size(1);
  const float* p = probs.data().data();
  std::vector<std::vector<std::pair<int64_t, float>>> out(static_cast<size_t>(N));
  for (int64_t i = 0; i < N; ++i) {
    auto& row = out[static_cast<size_t>(i)];
    for (int64_t c = 0; c < C; ++c)
      if (p[i * C + c] >= threshold) row.emplace_back(c, p[i * C + c]);
    // Ties keep class order, so the output is the same on every run.
    std::stable_sort(row.begin(), row.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    if (k >= 0 && static_cast<int64_t>(row.size()) > k) row.resize(static_cast<size_t>(k));
  }
  return out;
}

}  // namespace classifier
