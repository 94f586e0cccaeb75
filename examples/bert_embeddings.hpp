// BERT's embedding block: word + position + token-type embeddings, summed, then LayerNorm and
// Dropout, as in the original model (used by bert_embeddings.cpp and its golden test).
#pragma once

#include <ember/ember.hpp>

struct BertConfig {
  int64_t vocab_size = 30522;
  int64_t hidden_size = 768;
  int64_t pad_token_id = 0;
  int64_t max_position_embeddings = 512;
  int64_t type_vocab_size = 2;
  double layer_norm_eps = 1e-12;
  double hidden_dropout_prob = 0.1;
};

struct BertEmbeddings : ember::nn::Module {
  ember::nn::Embedding word_embeddings, position_embeddings, token_type_embeddings;
  ember::nn::LayerNorm LayerNorm;  // named as in BERT checkpoints: "LayerNorm.weight"
  ember::nn::Dropout dropout;

  explicit BertEmbeddings(const BertConfig& c)
      : word_embeddings(
            ember::nn::EmbeddingOptions(c.vocab_size, c.hidden_size).padding_idx(c.pad_token_id)),
        position_embeddings(c.max_position_embeddings, c.hidden_size),
        token_type_embeddings(c.type_vocab_size, c.hidden_size),
        LayerNorm({c.hidden_size}, c.layer_norm_eps),
        dropout(c.hidden_dropout_prob) {
    register_module("word_embeddings", word_embeddings);
    register_module("position_embeddings", position_embeddings);
    register_module("token_type_embeddings", token_type_embeddings);
    register_module("LayerNorm", LayerNorm);
    register_module("dropout", dropout);
  }

  // input_ids and token_type_ids [B, L]; positions are 0..L-1 for every sentence.
  ember::Tensor forward(const ember::IndexTensor& input_ids,
                        const ember::IndexTensor& token_type_ids) {
    const int64_t batch = input_ids.size(0), length = input_ids.size(1);
    std::vector<int64_t> positions;
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t i = 0; i < length; ++i) positions.push_back(i);
    ember::IndexTensor position_ids(positions, {batch, length});
    ember::Tensor x = word_embeddings(input_ids) + position_embeddings(position_ids) +
                      token_type_embeddings(token_type_ids);
    return dropout(LayerNorm(x));
  }
};
