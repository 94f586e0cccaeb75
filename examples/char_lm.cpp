// A character-level LSTM language model: reads a UTF-8 text (Korean included), learns to guess
// each next character, prints the perplexity per epoch, then samples new text one character at
// a time, carrying the LSTM's state from step to step.
//   char_lm [--text FILE] [--epochs N] [--sample N] [--hidden N] [--seq N] [--seed N]
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <ember/ember.hpp>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

using namespace ember;

namespace {

// Splits UTF-8 text into characters (one code point each, kept as their bytes).
std::vector<std::string> utf8_chars(const std::string& text) {
  std::vector<std::string> chars;
  for (size_t i = 0; i < text.size();) {
    unsigned char lead = static_cast<unsigned char>(text[i]);
    size_t n = lead < 0x80 ? 1 : lead >> 5 == 0x6 ? 2 : lead >> 4 == 0xe ? 3 : 4;
    chars.push_back(text.substr(i, n));
    i += n;
  }
  return chars;
}

struct CharLM : nn::Module {
  nn::Embedding embed;
  nn::LSTM lstm;
  nn::Linear head;
  CharLM(int64_t vocab, int64_t dim, int64_t hidden)
      : embed(vocab, dim),
        lstm(nn::LSTMOptions(dim, hidden).num_layers(2).batch_first(true)),
        head(hidden, vocab) {
    register_module("embed", embed);
    register_module("lstm", lstm);
    register_module("head", head);
  }
  // ids [B, T] -> logits [B, T, vocab], and the state after the last step.
  std::tuple<Tensor, nn::LSTM::State> forward(const IndexTensor& ids,
                                              const std::optional<nn::LSTM::State>& state = {}) {
    auto [out, next] = lstm(embed(ids), state);
    return {head(out), next};
  }
};

// Draws an index from the probabilities, with the seeded generator.
int64_t draw(const std::vector<float>& probs) {
  double u = static_cast<double>(random_u64() >> 11) * 0x1p-53, acc = 0;
  for (size_t k = 0; k < probs.size(); ++k)
    if ((acc += probs[k]) > u) return static_cast<int64_t>(k);
  return static_cast<int64_t>(probs.size()) - 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string path = EMBER_CHAR_LM_TEXT;
  int epochs = 30, sample = 120, hidden = 128, seq = 32, seed = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--text")
      path = value;
    else if (flag == "--epochs")
      epochs = std::stoi(value);
    else if (flag == "--sample")
      sample = std::stoi(value);
    else if (flag == "--hidden")
      hidden = std::stoi(value);
    else if (flag == "--seq")
      seq = std::stoi(value);
    else if (flag == "--seed")
      seed = std::stoi(value);
    else {
      std::cerr << "char_lm: unknown option " << flag << "\n";
      return 2;
    }
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::cerr << "char_lm: cannot read " << path << "\n";
    return 1;
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::vector<std::string> chars = utf8_chars(buffer.str());
  std::map<std::string, int64_t> index;
  std::vector<std::string> alphabet;
  std::vector<int64_t> ids;
  for (const std::string& c : chars) {
    auto [it, added] = index.emplace(c, static_cast<int64_t>(alphabet.size()));
    if (added) alphabet.push_back(c);
    ids.push_back(it->second);
  }
  const int64_t V = static_cast<int64_t>(alphabet.size()), T = seq, B = 16;
  std::cout << "text: " << chars.size() << " characters, " << V << " distinct\n";

  manual_seed(static_cast<uint64_t>(seed));
  CharLM model(V, 32, hidden);
  optim::Adam opt(model.parameters(), optim::AdamOptions(5e-3));
  std::vector<int64_t> starts;
  for (int64_t s = 0; s + T + 1 <= static_cast<int64_t>(ids.size()); s += T / 2)
    starts.push_back(s);

  for (int epoch = 1; epoch <= epochs; ++epoch) {
    auto t0 = std::chrono::steady_clock::now();
    model.train();
    for (size_t i = starts.size(); i > 1; --i) std::swap(starts[i - 1], starts[random_u64() % i]);
    double total = 0;
    int64_t count = 0;
    for (size_t b0 = 0; b0 < starts.size(); b0 += B) {
      const int64_t rows = std::min<int64_t>(B, static_cast<int64_t>(starts.size() - b0));
      std::vector<int64_t> x, y;
      for (int64_t r = 0; r < rows; ++r) {
        auto s = ids.begin() + starts[b0 + static_cast<size_t>(r)];
        x.insert(x.end(), s, s + T);
        y.insert(y.end(), s + 1, s + T + 1);
      }
      auto [logits, state] = model.forward(IndexTensor(x, {rows, T}));
      Tensor loss = nn::functional::cross_entropy(logits.reshape({rows * T, V}), IndexTensor(y));
      opt.zero_grad();
      loss.backward();
      nn::utils::clip_grad_norm_(model.parameters(), 1.0);
      opt.step();
      total += loss.item() * static_cast<double>(rows);
      count += rows;
    }
    double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    std::cout << "epoch " << epoch << "  perplexity "
              << std::exp(total / static_cast<double>(count)) << "  (" << static_cast<int>(ms)
              << " ms)\n";
  }

  // Sampling: one character at a time, the LSTM state carried along, temperature 0.8.
  NoGradGuard no_grad;
  model.eval();
  int64_t id = ids[0];
  std::optional<nn::LSTM::State> state;
  std::string text = alphabet[static_cast<size_t>(id)];
  for (int n = 0; n < sample; ++n) {
    auto [logits, next] = model.forward(IndexTensor({id}, {1, 1}), state);
    state = next;
    id = draw(softmax(logits.reshape({V}) / 0.8f, 0).to_vector());
    text += alphabet[static_cast<size_t>(id)];
  }
  std::cout << "sample: " << text << "\n";
  return 0;
}
