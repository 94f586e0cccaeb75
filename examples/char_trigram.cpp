// A character trigram language model, as a newcomer writes it: a vocabulary of characters
// (grapheme clusters, so Hangul syllables and emoji are one symbol each), a Sequential that
// starts with an Embedding, Adam, and text sampled from the model with multinomial.
#include <ember/ember.hpp>
#include <iostream>
#include <string>

using namespace ember;

int main(int argc, char** argv) {
  const int steps = argc > 1 ? std::stoi(argv[1]) : 200;
  manual_seed(0);
  const std::string corpus =
      "the cat sat on the mat. the dog sat on the log. 고양이가 매트 위에 앉았다. "
      "the cat saw the dog. 개가 통나무 위에 앉았다.";

  text::TokenizerOptions characters;
  characters.unit = text::TokenUnit::Grapheme;
  text::Vocab vocab = text::Vocab::build({corpus}, {"<s>"}, 1, std::nullopt, characters);
  std::vector<int64_t> ids = vocab.encode(corpus);
  const int64_t start = vocab["<s>"], n = static_cast<int64_t>(ids.size());

  // Each character with the two before it (<s> before the text starts).
  std::vector<int64_t> context, next;
  for (int64_t i = 0; i < n; ++i) {
    context.push_back(i >= 2 ? ids[i - 2] : start);
    context.push_back(i >= 1 ? ids[i - 1] : start);
    next.push_back(ids[i]);
  }
  IndexTensor x(context, {n, 2}), y(next);

  const int64_t dim = 16, hidden = 64, V = vocab.size();
  nn::Sequential model({std::make_shared<nn::Embedding>(V, dim), std::make_shared<nn::Flatten>(),
                        std::make_shared<nn::Linear>(2 * dim, hidden), std::make_shared<nn::Tanh>(),
                        std::make_shared<nn::Linear>(hidden, V)});
  optim::Adam opt(model.parameters(), optim::AdamOptions(0.02));
  float first = 0, last = 0;
  for (int step = 0; step < steps; ++step) {
    opt.zero_grad();
    Tensor loss = nn::functional::cross_entropy(model(x), y);
    loss.backward();
    opt.step();
    (step == 0 ? first : last) = loss.item();
  }
  std::cout << vocab.size() << " characters; loss " << first << " -> " << last << "\n";

  // Sampling, one character at a time from the model's distribution.
  model.eval();
  NoGradGuard no_grad;
  std::vector<int64_t> window{start, start}, sampled;
  for (int i = 0; i < 60; ++i) {
    Tensor probs = softmax(model(IndexTensor(window, {1, 2})), /*dim=*/1);
    int64_t c = multinomial(probs, /*num_samples=*/1).item();
    sampled.push_back(c);
    window = {window[1], c};
  }
  std::cout << "sample: " << vocab.decode(sampled) << "\n";
  return last < first ? 0 : 1;
}
