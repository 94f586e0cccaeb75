// BERT's embedding block on a small configuration: shapes, parameter names and one backward.
#include "bert_embeddings.hpp"

#include <iostream>

using namespace ember;

int main() {
  manual_seed(0);
  BertConfig config;
  config.vocab_size = 100;
  config.hidden_size = 16;
  config.max_position_embeddings = 32;
  BertEmbeddings embeddings(config);
  std::cout << embeddings << "\n";
  for (auto& [name, p] : embeddings.named_parameters())
    std::cout << name << " " << detail::shape_str(p.shape()) << "\n";

  IndexTensor input_ids({12, 7, 45, 3, 0, 0, 9, 81, 22, 14, 5, 2}, {2, 6});
  IndexTensor token_types({0, 0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 1}, {2, 6});
  Tensor out = embeddings.forward(input_ids, token_types);
  std::cout << "output shape " << detail::shape_str(out.shape()) << "\n";
  sum(out * out).backward();
  float pad_grad = 0;
  Tensor grad = embeddings.word_embeddings.weight.grad();
  for (int64_t j = 0; j < config.hidden_size; ++j) pad_grad += std::abs(grad.data()(0, j));
  std::cout << "gradient reaching the pad row: " << pad_grad << "\n";
  return pad_grad == 0.f && out.shape() == Shape{2, 6, 16} ? 0 : 1;
}
