// A small BERT encoder: BERT's embedding block (bert_embeddings.hpp) and a TransformerEncoder,
// loaded from a safetensors file that PyTorch wrote from its equivalent model
// (tests/golden/make_golden_attention.py), printing the output beside PyTorch's.
//   bert_encoder [model.safetensors io.safetensors]
#include <cmath>
#include <cstdio>
#include <iostream>

#include "bert_embeddings.hpp"

using namespace ember;

struct BertEncoder : nn::Module {
  BertEmbeddings embeddings;
  nn::TransformerEncoder encoder;

  BertEncoder(const BertConfig& c, int64_t heads, int64_t layers, int64_t intermediate)
      : embeddings(c),
        encoder(nn::TransformerEncoderLayerOptions(c.hidden_size, heads)
                    .dim_feedforward(intermediate)
                    .dropout(c.hidden_dropout_prob)
                    .activation("gelu")
                    .layer_norm_eps(c.layer_norm_eps)
                    .batch_first(true),
                layers) {
    register_module("embeddings", embeddings);
    register_module("encoder", encoder);
  }

  // Padded positions (pad_token_id) are keys no token attends to: True in the bool mask.
  Tensor forward(const IndexTensor& input_ids, const IndexTensor& token_type_ids) {
    return encoder(embeddings.forward(input_ids, token_type_ids), Tensor(), input_ids == 0);
  }
};

int main(int argc, char** argv) {
  const std::string dir = EMBER_GOLDEN_DIR;
  const std::string model_path = argc > 1 ? argv[1] : dir + "/bert_encoder.safetensors";
  const std::string io_path = argc > 2 ? argv[2] : dir + "/bert_encoder_io.safetensors";
  BertConfig config;
  config.vocab_size = 100;
  config.hidden_size = 32;
  config.max_position_embeddings = 32;
  BertEncoder model(config, /*heads=*/4, /*layers=*/2, /*intermediate=*/64);
  model.load_state_dict(io::load(model_path));  // strict: every name must match PyTorch's
  model.eval();
  std::cout << model << "\n";

  io::Archive io = io::load_archive(io_path);
  Tensor out =
      model.forward(io.index_tensors.at("input_ids"), io.index_tensors.at("token_type_ids"));
  const Tensor& expected = io.tensors.at("output");
  std::cout << "output " << detail::shape_str(out.shape()) << ", first token of sentence 0:\n";
  std::printf("  %-8s", "Ember");
  for (int64_t j = 0; j < 6; ++j) std::printf(" %9.5f", out.data()(0, 0, j));
  std::printf("\n  %-8s", "PyTorch");
  for (int64_t j = 0; j < 6; ++j) std::printf(" %9.5f", expected.data()(0, 0, j));
  float worst = 0.f;
  std::vector<float> a = out.to_vector(), b = expected.to_vector();
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(a[i] - b[i]));
  std::printf("\nlargest difference to PyTorch over all %zu values: %.2e\n", a.size(), worst);
  return worst < 1e-4f ? 0 : 1;
}
