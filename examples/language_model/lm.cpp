// ember-lm's training loops: GPT-2-shaped language models on a text file, and BERT fine-tuned
// on label<TAB>text. The progress bar, history.csv and curves.svg are ember-classify's.
#include "lm.hpp"

#include <chrono>
#include <cmath>
#include <ember/ember.hpp>
#include <ember/models/bert.hpp>
#include <ember/models/generation.hpp>
#include <ember/models/gpt2.hpp>
#include <ember/optim/adam.hpp>
#include <ember/text/bpe.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "parallel.hpp"
#include "report.hpp"

using namespace ember;
using namespace ember::models;
namespace fs = std::filesystem;

namespace lm {

namespace {

std::string read_file(const std::string& path, const char* what) {
  EMBER_CHECK_IO(fs::is_regular_file(path), what, ": no such file ", path);
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

text::ByteLevelBPETokenizer load_bpe(const std::string& dir) {
  return text::ByteLevelBPETokenizer::from_files(dir + "/vocab.json", dir + "/merges.txt");
}

// The corpus as consecutive blocks of `context` tokens; within a block each token predicts the
// next (the hub's labels = input_ids, shifted by the loss).
std::vector<std::vector<int64_t>> blocks_of(const std::vector<int64_t>& ids, int64_t context,
                                            const std::string& path) {
  const int64_t n = context;
  EMBER_CHECK_VALUE(static_cast<int64_t>(ids.size()) >= n, "ember-lm: ", path, " has ", ids.size(),
                    " tokens, fewer than one block of the context, ", n);
  std::vector<std::vector<int64_t>> out;
  for (size_t at = 0; at + n <= ids.size(); at += static_cast<size_t>(context))
    out.emplace_back(ids.begin() + at, ids.begin() + at + n);
  return out;
}

IndexTensor batch_of(const std::vector<std::vector<int64_t>>& blocks, size_t from, size_t count) {
  std::vector<int64_t> flat;
  for (size_t i = from; i < from + count; ++i)
    flat.insert(flat.end(), blocks[i].begin(), blocks[i].end());
  return IndexTensor(flat,
                     {static_cast<int64_t>(count), static_cast<int64_t>(blocks[from].size())});
}

// Next-token hits of logits (batch, T + 1, vocab) against ids: position t predicts t + 1.
double next_token_hits(const Tensor& logits, const IndexTensor& ids) {
  const int64_t B = ids.size(0), T = ids.size(1) - 1;
  IndexTensor guess = argmax(logits.detach().narrow(1, 0, T), 2);
  double hits = 0;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t) hits += guess[b * T + t] == ids[b * (T + 1) + t + 1];
  return hits;
}

// Mean loss and next-token accuracy over blocks, in eval mode; under mpirun each rank scores
// its shard of the blocks and the sums are reduced.
std::pair<double, double> score(GPT2LMHeadModel& model,
                                const std::vector<std::vector<int64_t>>& blocks, int64_t batch,
                                const classifier::Parallel& parallel = classifier::Parallel()) {
  NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  double loss = 0, correct = 0;
  auto [first, last] = parallel.shard(0, blocks.size());
  for (size_t i = first; i < last; i += static_cast<size_t>(batch)) {
    size_t n = std::min(last - i, static_cast<size_t>(batch));
    IndexTensor ids = batch_of(blocks, i, n);
    Tensor logits = model.forward(ids);
    loss += GPT2LMHeadModel::loss(logits, ids).item() * double(n);
    correct += next_token_hits(logits, ids);
  }
  model.train(was_training);
  const double count = double(blocks.size());
  return {parallel.sum(loss) / count,
          parallel.sum(correct) / (count * double(blocks[0].size() - 1))};
}

}  // namespace

double train(const TrainOptions& o, std::ostream& out, bool terminal) {
  const std::string corpus = read_file(o.text, "train");
  EMBER_CHECK_VALUE(corpus.find_first_not_of(" \t\r\n") != std::string::npos, "train: the corpus ",
                    o.text, " is empty");
  manual_seed(o.seed);
  std::unique_ptr<GPT2LMHeadModel> model;
  std::unique_ptr<text::ByteLevelBPETokenizer> tok;
  if (!o.from.empty()) {
    model = GPT2LMHeadModel::from_pretrained(o.from);
    tok = std::make_unique<text::ByteLevelBPETokenizer>(
        load_bpe(o.tokenizer.empty() ? o.from : o.tokenizer));
  } else {
    if (!o.tokenizer.empty()) {
      tok = std::make_unique<text::ByteLevelBPETokenizer>(load_bpe(o.tokenizer));
    } else {
      std::vector<std::string> lines;
      std::istringstream in(corpus);
      for (std::string line; std::getline(in, line);) lines.push_back(line + "\n");
      tok = std::make_unique<text::ByteLevelBPETokenizer>(
          text::ByteLevelBPETokenizer::train(lines, o.vocab_size));
      out << "trained a byte-level BPE tokenizer: " << tok->vocab_size() << " tokens\n";
    }
    GPT2Config c;
    c.vocab_size = tok->vocab_size();
    c.n_positions = o.context;
    c.n_embd = o.dim;
    c.n_layer = o.layers;
    c.n_head = o.heads;
    c.resid_pdrop = c.embd_pdrop = c.attn_pdrop = o.dropout;
    c.gradient_checkpointing = o.checkpointing;
    const auto eos = tok->eos_token_id();
    c.bos_token_id = c.eos_token_id = eos ? *eos : 0;
    model = std::make_unique<GPT2LMHeadModel>(c);
  }
  const int64_t context = std::min(o.context, model->config().n_positions);
  EMBER_CHECK_VALUE(tok->vocab_size() <= model->config().vocab_size, "train: the tokenizer has ",
                    tok->vocab_size(), " tokens, the model's vocab_size is only ",
                    model->config().vocab_size);
  std::vector<std::vector<int64_t>> blocks = blocks_of(tok->encode(corpus), context, o.text);
  // One block in ten (at least one, when there are two) is held out for validation.
  std::vector<std::vector<int64_t>> valid;
  for (size_t i = 9; i < blocks.size(); i += 10) valid.push_back(blocks[i]);
  if (valid.empty() && blocks.size() > 1) valid.push_back(blocks.back());
  std::vector<std::vector<int64_t>> train_blocks;
  for (size_t i = 0; i < blocks.size(); ++i)
    if (!(i % 10 == 9 || (blocks.size() < 10 && blocks.size() > 1 && i + 1 == blocks.size())))
      train_blocks.push_back(blocks[i]);
  out << "corpus " << o.text << ": " << blocks.size() * static_cast<size_t>(context) << " tokens, "
      << train_blocks.size() << " training and " << valid.size() << " validation blocks of "
      << context << "\n";

  // Under mpirun: --batch is the global batch, each rank takes its slice of every batch and
  // DataParallel averages the gradients, so the run gives one process's model up to float
  // rounding; rank 0 alone prints and writes.
  const classifier::Parallel parallel = classifier::Parallel::current();
  out << parallel.describe(o.batch);
  model->train();
  optim::AdamW opt(model->parameters(), optim::AdamWOptions(o.lr));
  // No overlap: the tied wte is read twice (embedding and head), so its gradient arrives twice.
  std::unique_ptr<distributed::DataParallel> dp = parallel.data_parallel(
      model->parameters(), distributed::DataParallelOptions().overlap(false));
  classifier::Progress progress(out, terminal, o.epochs);
  std::vector<classifier::EpochStats> history;
  int64_t steps = 0;
  double perplexity = 0;
  const size_t B = static_cast<size_t>(o.batch);
  for (int64_t epoch = 1; epoch <= o.epochs; ++epoch) {
    const auto start = std::chrono::steady_clock::now();
    std::vector<size_t> order = text::shuffled_indices(train_blocks.size(), o.seed + epoch);
    double loss_sum = 0, seen = 0, hits = 0, predicted = 0;
    const int64_t batches = static_cast<int64_t>((order.size() + B - 1) / B);
    for (int64_t bi = 0; bi < batches; ++bi) {
      if (o.max_steps > 0 && steps >= o.max_steps) break;
      const size_t lo = bi * B, hi = std::min(order.size(), lo + B);
      auto [mine, mine_end] = parallel.shard(lo, hi);  // [lo, hi) in one process
      opt.zero_grad();
      if (mine_end > mine) {
        std::vector<std::vector<int64_t>> picked;
        for (size_t i = mine; i < mine_end; ++i) picked.push_back(train_blocks[order[i]]);
        IndexTensor ids = batch_of(picked, 0, picked.size());
        Tensor logits = model->forward(ids);
        Tensor loss = GPT2LMHeadModel::loss(logits, ids);
        (loss * parallel.loss_scale(picked.size(), hi - lo)).backward();
        loss_sum += loss.item() * double(picked.size());
        hits += next_token_hits(logits, ids);
        seen += double(picked.size());
        predicted += double(picked.size()) * double(ids.size(1) - 1);
      }
      if (dp) dp->synchronize();
      opt.step();
      ++steps;
      const double secs =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      progress.batch(epoch, bi + 1, batches, loss_sum / std::max(seen, 1.0),
                     hits / std::max(predicted, 1.0), seen / std::max(secs, 1e-9));
    }
    loss_sum = parallel.sum(loss_sum);
    hits = parallel.sum(hits);
    seen = parallel.sum(seen);
    predicted = parallel.sum(predicted);
    classifier::EpochStats stats{};
    stats.epoch = epoch;
    stats.train_loss = loss_sum / std::max(seen, 1.0);
    stats.train_accuracy = hits / std::max(predicted, 1.0);
    if (!valid.empty()) {
      auto [vloss, vacc] = score(*model, valid, o.batch, parallel);
      stats.valid_loss = vloss;
      stats.valid_accuracy = vacc;
      perplexity = std::exp(vloss);
    } else {
      perplexity = std::exp(stats.train_loss);
    }
    stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    stats.sentences_per_second = seen / std::max(stats.seconds, 1e-9);
    progress.epoch(stats);
    history.push_back(stats);
    out << "epoch " << epoch << "  perplexity " << perplexity << "\n";
  }
  if (!parallel.is_root()) return perplexity;
  model->save_pretrained(o.out);
  tok->save(o.out);
  classifier::write_history_csv(history, o.out + "/history.csv");
  classifier::write_curves_svg(history, o.out + "/curves.svg");
  out << "saved " << o.out << " (config.json, model.safetensors, vocab.json, merges.txt, "
      << "history.csv, curves.svg)\n";
  return perplexity;
}

double evaluate(const std::string& model_dir, const std::string& text, std::ostream& out) {
  const std::string corpus = read_file(text, "eval");
  EMBER_CHECK_VALUE(corpus.find_first_not_of(" \t\r\n") != std::string::npos, "eval: the text ",
                    text, " is empty");
  auto model = GPT2LMHeadModel::from_pretrained(model_dir);
  text::ByteLevelBPETokenizer tok = load_bpe(model_dir);
  auto blocks = blocks_of(tok.encode(corpus), model->config().n_positions, text);
  const double ppl = std::exp(score(*model, blocks, 8).first);
  out << "perplexity " << ppl << " on " << text << " (" << blocks.size() << " blocks of "
      << model->config().n_positions << " tokens)\n";
  return ppl;
}

std::string generate_text(const GenerateOptions& o) {
  auto model = GPT2LMHeadModel::from_pretrained(o.model);
  text::ByteLevelBPETokenizer tok = load_bpe(o.model);
  std::vector<int64_t> prompt = tok.encode(o.prompt);
  EMBER_CHECK_VALUE(!prompt.empty(), "generate: the prompt is empty");
  GenerationConfig g;
  g.max_new_tokens = o.max_new_tokens;
  g.do_sample = !o.greedy;
  g.temperature = o.temperature;
  g.top_k = o.top_k;
  g.top_p = o.top_p;
  g.repetition_penalty = o.repetition_penalty;
  g.seed = o.seed;
  if (auto eos = tok.eos_token_id()) g.stop_tokens = {*eos};
  std::vector<int64_t> ids = generate(*model, {prompt}, g)[0];
  return o.prompt + tok.decode(ids, /*skip_special_tokens=*/true);
}

}  // namespace lm
