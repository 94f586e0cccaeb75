// A two-head self-attention sentence classifier: Embedding, MultiheadAttention over the
// tokens with padded keys masked, a masked mean, and a Linear head.
#include <ember/ember.hpp>
#include <iostream>

using namespace ember;
namespace F = ember::nn::functional;

struct AttentionClassifier : nn::Module {
  nn::Embedding emb;
  nn::MultiheadAttention attn;
  nn::Linear head;
  AttentionClassifier(int64_t vocab, int64_t dim, int64_t classes)
      : emb(nn::EmbeddingOptions(vocab, dim).padding_idx(1)),
        attn(nn::MultiheadAttentionOptions(dim, /*num_heads=*/2).batch_first(true)),
        head(dim, classes) {
    register_module("emb", emb);
    register_module("attn", attn);
    register_module("head", head);
  }
  Tensor forward(const IndexTensor& ids) {
    Tensor x = emb(ids);  // [B, T, D]
    auto [h, weights] = attn(x, x, x, /*key_padding_mask=*/ids == 1, /*need_weights=*/false);
    return head(F::masked_mean(h, ids != 1, /*dim=*/1));
  }
};

int main(int argc, char** argv) {
  const int steps = argc > 1 ? std::stoi(argv[1]) : 60;
  manual_seed(0);
  const std::vector<std::string> sentences = {
      "a good film", "truly good and fun", "bad plot",        "a bad and dull film", "fun film",
      "dull",        "good good",          "not fun and bad", "a truly fun story",   "a dull story",
      "good story",  "bad bad film"};
  const IndexTensor labels{1, 1, 0, 0, 1, 0, 1, 0, 1, 0, 1, 0};
  text::Vocab vocab = text::Vocab::build(sentences);
  std::vector<std::vector<int64_t>> encoded;
  for (const auto& s : sentences) encoded.push_back(vocab.encode(s));
  IndexTensor ids = text::pad_sequences(encoded, /*pad_id=*/1);

  AttentionClassifier model(vocab.size(), 16, 2);
  optim::Adam opt(model.parameters(), optim::AdamOptions(0.01));
  float first = 0, last = 0;
  for (int step = 0; step < steps; ++step) {
    opt.zero_grad();
    Tensor loss = F::cross_entropy(model.forward(ids), labels);
    loss.backward();
    opt.step();
    (step == 0 ? first : last) = loss.item();
  }
  model.eval();
  float accuracy = (argmax(model.forward(ids), 1) == labels).to(kFloat32).mean().item();
  std::cout << model << "\nloss " << first << " -> " << last << ", accuracy " << accuracy << "\n";
  return last < first && accuracy > 0.9f ? 0 : 1;
}
