// nn::Embedding and nn::EmbeddingBag, option by option as PyTorch's.
#pragma once

#include <optional>
#include <string>

#include "ember/index_tensor.hpp"
#include "ember/nn/functional.hpp"
#include "ember/nn/module.hpp"
#include "ember/options.hpp"

namespace ember::nn {

struct EmbeddingOptions {
  EmbeddingOptions(int64_t num_embeddings, int64_t embedding_dim)
      : num_embeddings_(num_embeddings), embedding_dim_(embedding_dim) {}
  EMBER_ARG(int64_t, num_embeddings);
  EMBER_ARG(int64_t, embedding_dim);
  EMBER_ARG(std::optional<int64_t>, padding_idx) = std::nullopt;
  EMBER_ARG(std::optional<double>, max_norm) = std::nullopt;
  EMBER_ARG(double, norm_type) = 2.0;
  EMBER_ARG(bool, scale_grad_by_freq) = false;
  EMBER_ARG(bool, sparse) = false;
  // Initial weight, used as is (from_pretrained sets it).
  EMBER_ARG(Tensor, _weight) = Tensor();
};

class Embedding : public IndexModule {
 public:
  explicit Embedding(const EmbeddingOptions& options);
  Embedding(int64_t num_embeddings, int64_t embedding_dim)
      : Embedding(EmbeddingOptions(num_embeddings, embedding_dim)) {}
  // A table holding a copy of `embeddings` [V, D]; frozen (no grad) unless freeze = false.
  // The other options (padding_idx, max_norm, ...) come from `options`; its sizes are ignored.
  static Embedding from_pretrained(const Tensor& embeddings, bool freeze = true,
                                   std::optional<EmbeddingOptions> options = std::nullopt);

  Tensor forward(const IndexTensor& ids) override;
  void reset_parameters();
  std::string extra_repr() const override;
  const EmbeddingOptions& options() const { return options_; }

  Tensor weight;

 private:
  Embedding(const EmbeddingOptions& options, bool freeze);
  EmbeddingOptions options_;  // padding_idx stored non-negative
};

struct EmbeddingBagOptions {
  EmbeddingBagOptions(int64_t num_embeddings, int64_t embedding_dim)
      : num_embeddings_(num_embeddings), embedding_dim_(embedding_dim) {}
  EMBER_ARG(int64_t, num_embeddings);
  EMBER_ARG(int64_t, embedding_dim);
  EMBER_ARG(std::optional<double>, max_norm) = std::nullopt;
  EMBER_ARG(double, norm_type) = 2.0;
  EMBER_ARG(bool, scale_grad_by_freq) = false;
  EMBER_ARG(functional::EmbeddingBagMode, mode) = functional::EmbeddingBagMode::Mean;
  EMBER_ARG(bool, sparse) = false;
  EMBER_ARG(bool, include_last_offset) = false;
  EMBER_ARG(std::optional<int64_t>, padding_idx) = std::nullopt;
  EMBER_ARG(Tensor, _weight) = Tensor();
};

// An IndexModule too: a Sequential may start with one (2-D input, one bag per row).
class EmbeddingBag : public IndexModule {
 public:
  explicit EmbeddingBag(const EmbeddingBagOptions& options);
  static EmbeddingBag from_pretrained(const Tensor& embeddings, bool freeze = true,
                                      std::optional<EmbeddingBagOptions> options = std::nullopt);

  Tensor forward(const IndexTensor& input) override { return forward(input, std::nullopt); }
  Tensor forward(const IndexTensor& input, const std::optional<IndexTensor>& offsets,
                 const Tensor& per_sample_weights = Tensor());
  Tensor operator()(const IndexTensor& input,
                    const std::optional<IndexTensor>& offsets = std::nullopt,
                    const Tensor& per_sample_weights = Tensor()) {
    return forward(input, offsets, per_sample_weights);
  }
  void reset_parameters();
  std::string extra_repr() const override;
  const EmbeddingBagOptions& options() const { return options_; }

  Tensor weight;

 private:
  EmbeddingBag(const EmbeddingBagOptions& options, bool freeze);
  EmbeddingBagOptions options_;
};

}  // namespace ember::nn
