// The sequence models of ember-classify: a sentence is its words in order (no n-grams), padded
// to the batch's longest; padded positions are masked everywhere (pooling, attention) so they
// change nothing. Each ends in fc2 [classes, hidden], as the bag model does.
#include "classifier.hpp"

namespace classifier {

namespace F = ember::nn::functional;

namespace {

nn::EmbeddingOptions table_options(const NetworkShape& s) {
  nn::EmbeddingOptions o(s.rows, s.dim);
  o.padding_idx(kPadId).sparse(s.sparse);
  if (s.pretrained.defined()) o._weight(s.pretrained);
  return o;
}

// Conv1d over the word vectors, ReLU, max over time (padded positions never win).
struct CnnClassifier : Network {
  nn::Embedding emb;
  nn::Conv1d conv;
  nn::Linear fc2;
  explicit CnnClassifier(const NetworkShape& s)
      : emb(table_options(s)),
        conv(nn::Conv1dOptions(s.dim, s.hidden, 3).padding(int64_t{1})),
        fc2(s.hidden, s.classes) {
    register_module("emb", emb);
    register_module("conv", conv);
    register_module("fc2", fc2);
  }
  Tensor forward(const Batch& b) override {
    Tensor h = relu(conv(emb(b.padded).transpose(1, 2)));  // [B, hidden, L]
    h = masked_fill(h, b.padding.unsqueeze(1), -1e4f);
    return fc2(F::adaptive_max_pool1d(h, 1).squeeze(-1));
  }
  std::string kind() const override { return "cnn"; }
};

// One LSTM layer; the mean of its outputs over the real words. Padded steps come after them,
// so they never reach an output that counts.
struct LstmClassifier : Network {
  nn::Embedding emb;
  nn::LSTM lstm;
  nn::Linear fc2;
  explicit LstmClassifier(const NetworkShape& s)
      : emb(table_options(s)),
        lstm(nn::LSTMOptions(s.dim, s.hidden).batch_first(true)),
        fc2(s.hidden, s.classes) {
    register_module("emb", emb);
    register_module("lstm", lstm);
    register_module("fc2", fc2);
  }
  Tensor forward(const Batch& b) override {
    Tensor out = std::get<0>(lstm(emb(b.padded)));  // [B, L, hidden]
    return fc2(F::masked_mean(out, ~b.padding, 1));
  }
  std::string kind() const override { return "lstm"; }
};

// Word vectors plus learned positions, one Transformer encoder layer that ignores padded keys,
// the mean over the real words.
struct TransformerClassifier : Network {
  nn::Embedding emb;
  nn::LearnedPositionalEmbedding pos;
  nn::TransformerEncoder encoder;
  nn::Linear fc2;
  explicit TransformerClassifier(const NetworkShape& s)
      : emb(table_options(s)),
        pos(s.max_len, s.dim, /*batch_first=*/true),
        encoder(nn::TransformerEncoderLayerOptions(s.dim, heads(s.dim))
                    .dim_feedforward(s.hidden)
                    .dropout(0.1)
                    .batch_first(true),
                1),
        fc2(s.dim, s.classes) {
    register_module("emb", emb);
    register_module("pos", pos);
    register_module("encoder", encoder);
    register_module("fc2", fc2);
  }
  static int64_t heads(int64_t dim) { return dim % 4 == 0 ? 4 : dim % 2 == 0 ? 2 : 1; }
  Tensor forward(const Batch& b) override {
    Tensor h = encoder(pos(emb(b.padded)), Tensor(), b.padding);  // [B, L, dim]
    return fc2(F::masked_mean(h, ~b.padding, 1));
  }
  std::string kind() const override { return "transformer"; }
};

}  // namespace

std::unique_ptr<Network> make_sequence_network(const NetworkShape& s) {
  if (s.kind == "cnn") return std::make_unique<CnnClassifier>(s);
  if (s.kind == "lstm") return std::make_unique<LstmClassifier>(s);
  if (s.kind == "transformer") return std::make_unique<TransformerClassifier>(s);
  throw ValueError("make_network: unknown model '" + s.kind +
                   "' (expected bag, cnn, lstm or transformer)");
}

}  // namespace classifier
