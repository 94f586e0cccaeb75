// A next-word model whose output layer is tied to its input embedding, beside a frozen
// pretrained embedding: trains, saves, loads, and stays tied and frozen throughout.
#include <ember/ember.hpp>
#include <iostream>

using namespace ember;
namespace F = ember::nn::functional;

struct NextWord : nn::Module {
  nn::Embedding tok;   // trained, and read again by `out`
  nn::Embedding feat;  // pretrained features, frozen
  nn::Linear proj;
  nn::Linear out;  // tied to tok: one tensor, two names in the state_dict
  NextWord(int64_t vocab, int64_t dim, const Tensor& features)
      : tok(vocab, dim),
        feat(nn::Embedding::from_pretrained(features, /*freeze=*/true)),
        proj(dim + features.size(1), dim),
        out(dim, vocab, /*bias=*/false) {
    register_module("tok", tok);
    register_module("feat", feat);
    register_module("proj", proj);
    register_module("out", out);
    out.weight = out.register_parameter("weight", tok.weight);
  }
  Tensor forward(const IndexTensor& prev) {
    return out(tanh(proj(cat({tok(prev), feat(prev)}, /*dim=*/1))));
  }
};

int main() {
  manual_seed(0);
  text::Vocab vocab = text::Vocab::build({"the cat sat on the mat the dog sat on the log"}, {});
  std::vector<int64_t> ids = vocab.encode("the cat sat on the mat the dog sat on the log");
  IndexTensor prev(std::vector<int64_t>(ids.begin(), ids.end() - 1));
  IndexTensor next(std::vector<int64_t>(ids.begin() + 1, ids.end()));

  NextWord model(vocab.size(), 8, randn({vocab.size(), 4}));
  std::cout << model << "\n";
  std::cout << "parameters: " << model.parameters().size()
            << ", state_dict entries: " << model.state_dict().size() << "\n";

  optim::Adam opt(model.parameters(), optim::AdamOptions(0.05));  // the frozen table may stay
  std::vector<float> frozen = model.feat.weight.to_vector();
  float first = 0, last = 0;
  for (int step = 0; step < 100; ++step) {
    opt.zero_grad();
    Tensor loss = F::cross_entropy(model.forward(prev), next);
    loss.backward();
    opt.step();
    (step == 0 ? first : last) = loss.item();
  }
  std::cout << "loss: " << first << " -> " << last << "\n";

  io::save(model.state_dict(), "tied_frozen.safetensors");
  NextWord loaded(vocab.size(), 8, zeros({vocab.size(), 4}));
  loaded.load_state_dict(io::load("tied_frozen.safetensors"));
  bool same = loaded.forward(prev).to_vector() == model.forward(prev).to_vector();
  bool tied = loaded.out.weight.data().data() == loaded.tok.weight.data().data();
  bool unchanged = model.feat.weight.to_vector() == frozen;
  std::cout << "frozen table unchanged: " << (unchanged ? "yes" : "no") << "\n";
  std::cout << "after load: same outputs " << (same ? "yes" : "no") << ", still tied "
            << (tied ? "yes" : "no") << "\n";
  return last < first && unchanged && same && tied && model.parameters().size() == 4 ? 0 : 1;
}
