// The training loop (one flat loop, as fastText's) and evaluation.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <thread>
#include <unordered_map>

#include "classifier.hpp"

namespace classifier {

namespace F = ember::nn::functional;

namespace {

struct Encoded {
  std::vector<std::vector<int64_t>> ids;
  std::vector<int64_t> labels;
};

Encoded encode_examples(const Model& m, const std::vector<text::Example>& examples, int threads) {
  std::vector<std::string> texts;
  Encoded e;
  for (const auto& ex : examples) {
    texts.push_back(ex.text);
    e.labels.push_back(ex.label);
  }
  e.ids = m.encode(texts, threads);
  return e;
}

// Word counts in order of first appearance, tokenised on `threads` threads; each thread counts
// a contiguous slice and the slices merge in order, so the vocabulary is the same for any count.
text::Vocab build_vocab(const std::vector<text::Example>& examples, const Config& c,
                        const text::TokenizerOptions& tokenizer, int64_t& tokens) {
  using Counts = std::vector<std::pair<std::string, int64_t>>;
  const size_t n = examples.size();
  const size_t t = std::max<size_t>(1, std::min<size_t>(static_cast<size_t>(c.threads), n / 64));
  std::vector<Counts> parts(t);
  std::vector<std::exception_ptr> errors(t);
  auto count = [&](size_t k) {
    try {
      std::unordered_map<std::string, size_t> slot;
      for (size_t i = n * k / t; i < n * (k + 1) / t; ++i)
        for (std::string& w : text::tokenize(examples[i].text, tokenizer)) {
          auto [it, fresh] = slot.try_emplace(w, parts[k].size());
          if (fresh) parts[k].emplace_back(std::move(w), 0);
          ++parts[k][it->second].second;
        }
    } catch (...) {
      errors[k] = std::current_exception();
    }
  };
  std::vector<std::thread> pool;
  for (size_t k = 0; k + 1 < t; ++k) pool.emplace_back(count, k);
  count(t - 1);
  for (auto& th : pool) th.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
  std::unordered_map<std::string, size_t> slot;
  Counts merged;
  for (Counts& part : parts)
    for (auto& [w, k] : part) {
      auto [it, fresh] = slot.try_emplace(w, merged.size());
      if (fresh) merged.emplace_back(w, 0);
      merged[it->second].second += k;
      tokens += k;
    }
  return text::Vocab::from_counts(merged, {"<unk>", "<pad>"}, c.min_count, std::nullopt, tokenizer);
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

// Logits for sentences [lo, hi) of `order` (all of them in order when order is empty).
Tensor forward_slice(Network& net, const Encoded& data, const std::vector<size_t>& order, size_t lo,
                     size_t hi, std::vector<int64_t>& targets) {
  std::vector<const std::vector<int64_t>*> rows;
  targets.clear();
  for (size_t k = lo; k < hi; ++k) {
    size_t i = order.empty() ? k : order[k];
    rows.push_back(&data.ids[i]);
    targets.push_back(data.labels[i]);
  }
  return net.forward(make_batch(rows));
}

// Loss and accuracy over a whole set, in eval mode and without recording; under mpirun each
// rank scores its shard and the sums are reduced.
std::pair<double, double> measure(const Model& m, const Encoded& data,
                                  const Parallel& parallel = Parallel()) {
  NoGradGuard no_grad;
  m.net->eval();
  double loss = 0, correct = 0;
  const size_t n = data.labels.size();
  auto [first, last] = parallel.shard(0, n);
  std::vector<int64_t> targets;
  for (size_t lo = first; lo < last; lo += 256) {
    size_t hi = std::min(last, lo + 256);
    Tensor logits = forward_slice(*m.net, data, {}, lo, hi, targets);
    loss += F::cross_entropy(logits, IndexTensor(targets)).item() * static_cast<double>(hi - lo);
    std::vector<int64_t> pred = argmax(logits, 1).to_vector();
    for (size_t i = 0; i < pred.size(); ++i) correct += pred[i] == targets[i];
  }
  m.net->train();
  return {parallel.sum(loss) / static_cast<double>(n),
          parallel.sum(correct) / static_cast<double>(n)};
}

StateDict copy_of(const StateDict& dict) {
  StateDict out;
  for (const auto& [name, t] : dict) out.emplace(name, Tensor(t.data()));
  return out;
}

}  // namespace

Model train(const std::vector<text::Example>& train_set, const text::LabelSet& labels,
            const std::vector<text::Example>* valid_set, const Config& c,
            const TrainCallbacks& callbacks, std::vector<EpochStats>* history) {
  EMBER_CHECK_VALUE(c.epochs > 0 && c.dim > 0 && c.hidden > 0 && c.batch_size > 0 &&
                        c.max_len > 0 && c.threads > 0 && c.min_count > 0,
                    "train: epochs, dim, hidden, batch-size, max-len, threads and min-count must "
                    "be positive");
  EMBER_CHECK_VALUE(c.early_stop == 0 || valid_set, "train: --early-stop needs --valid");
  manual_seed(c.seed);
  set_num_threads(c.threads);
  text::TokenizerOptions tokenizer;
  tokenizer.lower = c.lower;
  int64_t tokens = 0;
  text::Vocab vocab = build_vocab(train_set, c, tokenizer, tokens);
  text::NgramOptions ngrams = c.ngrams;
  if (c.model != "bag") ngrams = {1, 0, 0, 0};  // sequence models read the words, in order
  if (ngrams.buckets < 0) ngrams.buckets = std::min<int64_t>(100000, 2 * tokens);
  if (ngrams.word_ngrams <= 1 && ngrams.maxn == 0) ngrams.buckets = 0;  // no n-grams, no rows
  Model m{std::move(vocab), labels, c.max_len, ngrams, nullptr};

  NetworkShape shape{
      "bag", m.vocab.size() + ngrams.buckets, c.dim, c.hidden, labels.size(), Tensor(), !c.dense};
  shape.kind = c.model;
  shape.max_len = c.max_len;
  if (!c.pretrained.empty()) {
    text::WordVectors vectors = text::load_word_vectors(c.pretrained);
    text::AlignedVectors aligned = text::align_to_vocab(vectors, m.vocab, 1);
    if (callbacks.on_message) callbacks.on_message("pretrained vectors: " + aligned.report());
    shape.dim = vectors.dim();
    // Buckets start small, as without pretrained vectors.
    Tensor buckets = zeros({ngrams.buckets, shape.dim});
    nn::init::uniform_(buckets, -1.0 / static_cast<double>(shape.dim),
                       1.0 / static_cast<double>(shape.dim));
    shape.pretrained = ngrams.buckets ? cat({aligned.weights, buckets}, 0) : aligned.weights;
  }
  m.net = make_network(shape);
  if (c.freeze) m.table().requires_grad_(false);
  std::vector<Tensor> trainable;
  for (Tensor& p : m.net->parameters())
    if (p.requires_grad()) trainable.push_back(p);
  std::unique_ptr<optim::Optimizer> opt = make_optimizer(c, trainable);
  std::unique_ptr<distributed::DataParallel> dp = c.parallel.data_parallel(trainable);
  const double lr0 = opt->param_groups()[0].options->get_lr();

  Encoded data = encode_examples(m, train_set, c.threads);
  std::optional<Encoded> valid;
  if (valid_set) valid = encode_examples(m, *valid_set, c.threads);
  const size_t n = data.labels.size(), bs = static_cast<size_t>(c.batch_size);
  const int64_t batches = static_cast<int64_t>((n + bs - 1) / bs);
  const double total_steps = static_cast<double>(batches * c.epochs);
  std::optional<StateDict> best;  // the best epoch's weights, with early stopping
  double best_accuracy = -1, best_loss = 0;
  int64_t since_best = 0, step = 0;
  using Clock = std::chrono::steady_clock;
  for (int64_t epoch = 1; epoch <= c.epochs; ++epoch) {
    auto start_time = Clock::now();
    std::vector<size_t> order =
        text::shuffled_indices(n, c.seed * 1000003 + static_cast<uint64_t>(epoch));
    double loss_sum = 0, correct = 0, seen = 0;
    m.net->train();
    std::vector<int64_t> targets;
    for (int64_t b = 0; b < batches; ++b, ++step) {
      size_t lo = static_cast<size_t>(b) * bs, hi = std::min(n, lo + bs);
      if (c.lr_decay)
        for (auto& group : opt->param_groups())
          group.options->set_lr(lr0 * (1.0 - static_cast<double>(step) / total_steps));
      opt->zero_grad();
      auto [mine, mine_end] = c.parallel.shard(lo, hi);  // [lo, hi) in one process
      if (mine_end > mine) {
        Tensor logits;
        {  // --bf16: the forward's products in bfloat16; backward follows what it recorded
          autocast::Guard bf16(kBFloat16, c.bf16);
          logits = forward_slice(*m.net, data, order, mine, mine_end, targets);
        }
        Tensor loss = F::cross_entropy(logits, IndexTensor(targets));
        (loss * c.parallel.loss_scale(mine_end - mine, hi - lo)).backward();
        std::vector<int64_t> pred = argmax(logits, 1).to_vector();
        for (size_t i = 0; i < pred.size(); ++i) correct += pred[i] == targets[i];
        const double batch_loss = loss.item();
        // A diverged run (too large a learning rate) only gets worse: stop before it is saved.
        EMBER_CHECK_VALUE(std::isfinite(batch_loss), "train: the loss is ", batch_loss,
                          " at epoch ", epoch, ", batch ", b + 1, " (learning rate ",
                          opt->param_groups()[0].options->get_lr(),
                          "): training diverged; try a smaller --lr. Nothing was saved");
        loss_sum += batch_loss * static_cast<double>(mine_end - mine);
        seen += static_cast<double>(mine_end - mine);
      }
      if (dp) dp->synchronize();
      opt->step();
      double secs = std::chrono::duration<double>(Clock::now() - start_time).count();
      if (callbacks.on_batch)
        callbacks.on_batch(epoch, b + 1, batches, loss_sum / seen, correct / seen,
                           secs > 0 ? seen / secs : 0.0);
    }
    loss_sum = c.parallel.sum(loss_sum);
    correct = c.parallel.sum(correct);
    seen = c.parallel.sum(seen);
    EpochStats stats{epoch, loss_sum / seen, correct / seen, std::nullopt, std::nullopt, 0, 0};
    bool stop = false;
    if (valid) {
      auto [vl, va] = measure(m, *valid, c.parallel);
      stats.valid_loss = vl;
      stats.valid_accuracy = va;
      if (c.early_stop > 0) {
        if (va > best_accuracy || (va == best_accuracy && vl < best_loss)) {
          best_accuracy = va;
          best_loss = vl;
          best = copy_of(m.net->state_dict());
          since_best = 0;
        } else {
          stop = ++since_best >= c.early_stop;
        }
      }
    }
    stats.seconds = std::chrono::duration<double>(Clock::now() - start_time).count();
    stats.sentences_per_second = stats.seconds > 0 ? seen / stats.seconds : 0;
    if (history) history->push_back(stats);
    if (callbacks.on_epoch) callbacks.on_epoch(stats);
    if (stop) {
      if (callbacks.on_message)
        callbacks.on_message("early stop: no better validation accuracy for " +
                             std::to_string(c.early_stop) + " epochs; keeping epoch " +
                             std::to_string(epoch - c.early_stop));
      break;
    }
  }
  if (best) m.net->load_state_dict(*best);
  m.net->eval();
  return m;
}

Evaluation evaluate(const Model& m, const std::vector<text::Example>& examples, int64_t k,
                    double threshold) {
  Encoded data = encode_examples(m, examples, get_num_threads());
  Evaluation e;
  e.k = k;
  std::tie(e.loss, e.accuracy) = measure(m, data);
  m.net->eval();
  const size_t C = static_cast<size_t>(m.labels.size());
  e.confusion.assign(C, std::vector<int64_t>(C, 0));
  std::vector<std::string> texts;
  for (const auto& ex : examples) texts.push_back(ex.text);
  Tensor probs = m.probabilities(texts);
  std::vector<int64_t> pred = argmax(probs, 1).to_vector();
  double predicted_labels = 0, correct_labels = 0;
  auto tops = top_k(probs, k, threshold);
  for (size_t i = 0; i < pred.size(); ++i) {
    ++e.confusion[static_cast<size_t>(examples[i].label)][static_cast<size_t>(pred[i])];
    for (auto& [cls, p] : tops[i]) correct_labels += cls == examples[i].label;
    predicted_labels += static_cast<double>(tops[i].size());
  }
  e.precision_at_k = predicted_labels > 0 ? correct_labels / predicted_labels : 0;
  e.recall_at_k = correct_labels / static_cast<double>(examples.size());
  for (size_t c = 0; c < C; ++c) {
    double tp = static_cast<double>(e.confusion[c][c]), predicted = 0, actual = 0;
    for (size_t j = 0; j < C; ++j) {
      predicted += static_cast<double>(e.confusion[j][c]);
      actual += static_cast<double>(e.confusion[c][j]);
    }
    double p = predicted > 0 ? tp / predicted : 0, r = actual > 0 ? tp / actual : 0;
    e.precision.push_back(p);
    e.recall.push_back(r);
    e.f1.push_back(p + r > 0 ? 2 * p * r / (p + r) : 0);
  }
  return e;
}

}  // namespace classifier
