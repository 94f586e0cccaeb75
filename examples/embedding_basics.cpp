// The walk-through this project comes from: a vocabulary, an Embedding with a padding row, a
// lookup, and one step of gradient descent that changes only the rows that were looked up.
#include <ember/ember.hpp>
#include <iostream>

using namespace ember;

int main() {
  manual_seed(0);

  // 1. A vocabulary of one Korean sentence; the specials come first: <unk> = 0, <pad> = 1.
  text::Vocab vocab = text::Vocab::build({"내 이름은 채영"}, {"<unk>", "<pad>"});
  std::cout << "vocab: " << vocab << "\n";
  std::cout << "len(vocab) = " << vocab.size() << "\n\n";

  // 2. An embedding table with one 5-dimensional row per token; row 1 (<pad>) starts at zero.
  nn::Embedding emb(nn::EmbeddingOptions(vocab.size(), 5).padding_idx(1));
  std::cout << emb << "\n";
  std::cout << "weight:\n" << emb.weight << "\n\n";

  // 3. A lookup is a gather: the rows of "이름은" and "채영".
  IndexTensor ids{vocab["이름은"], vocab["채영"]};
  Tensor v = emb(ids);
  std::cout << "ids: " << ids << "\n";
  std::cout << "lookup shape: " << detail::shape_str(v.shape()) << "\n";
  std::cout << "lookup:\n" << v << "\n\n";

  // 4. One step of gradient descent on sum(v): only the looked-up rows receive gradient.
  std::vector<float> before = emb.weight.to_vector();
  optim::SGD sgd(emb.parameters(), optim::SGDOptions(0.1));
  sgd.zero_grad();
  sum(v).backward();
  std::cout << "weight.grad:\n" << emb.weight.grad() << "\n";
  sgd.step();
  std::vector<float> after = emb.weight.to_vector();
  std::cout << "rows changed by the step:";
  for (int64_t r = 0; r < vocab.size(); ++r) {
    bool changed = false;
    for (int64_t j = 0; j < 5; ++j) changed = changed || before[r * 5 + j] != after[r * 5 + j];
    if (changed) std::cout << " " << r << " (" << vocab.lookup_token(r) << ")";
  }
  bool pad_zero = true;
  for (int64_t j = 0; j < 5; ++j) pad_zero = pad_zero && after[5 + j] == 0.f;
  std::cout << "\npad row still zero: " << (pad_zero ? "yes" : "no") << "\n";
  return pad_zero ? 0 : 1;
}
