// The Transformer encoder (PyTorch's TransformerEncoderLayer / TransformerEncoder, the same
// state_dict names: "layers.1.linear2.bias", "layers.0.self_attn.in_proj_weight") and
// positional embeddings (sinusoidal, fixed; learned, a parameter).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ember/nn/attention.hpp"
#include "ember/nn/layers.hpp"
#include "ember/nn/linear.hpp"

namespace ember::nn {

struct TransformerEncoderLayerOptions {
  TransformerEncoderLayerOptions(int64_t d_model, int64_t nhead)
      : d_model_(d_model), nhead_(nhead) {}
  EMBER_ARG(int64_t, d_model);
  EMBER_ARG(int64_t, nhead);
  EMBER_ARG(int64_t, dim_feedforward) = 2048;
  EMBER_ARG(double, dropout) = 0.1;
  EMBER_ARG(std::string, activation) = "relu";  // "relu" or "gelu"
  EMBER_ARG(double, layer_norm_eps) = 1e-5;
  EMBER_ARG(bool, batch_first) = false;
  EMBER_ARG(bool, norm_first) = false;  // pre-norm: x + sa(norm1(x)), x + ff(norm2(x))
};

class TransformerEncoderLayer : public Module {
 public:
  explicit TransformerEncoderLayer(const TransformerEncoderLayerOptions& options);
  // src [S, N, E] ([N, S, E] with batch_first); masks as MultiheadAttention's.
  Tensor forward(const Tensor& src, const Tensor& src_mask = Tensor(),
                 const Tensor& src_key_padding_mask = Tensor());
  Tensor operator()(const Tensor& src, const Tensor& src_mask = Tensor(),
                    const Tensor& src_key_padding_mask = Tensor()) {
    return forward(src, src_mask, src_key_padding_mask);
  }
  const TransformerEncoderLayerOptions& options() const { return options_; }

  MultiheadAttention self_attn;
  Linear linear1;
  Dropout dropout;
  Linear linear2;
  LayerNorm norm1, norm2;
  Dropout dropout1, dropout2;

 private:
  TransformerEncoderLayerOptions options_;
};

// The list that holds the encoder's layers ("layers.0", "layers.1", ...).
class TransformerLayerList : public Module {
 public:
  std::string name() const override { return "ModuleList"; }
};

class TransformerEncoder : public Module {
 public:
  // num_layers copies of one freshly initialised layer (PyTorch deep-copies its layer, so
  // every layer starts from the same values); norm adds a final LayerNorm named "norm".
  TransformerEncoder(const TransformerEncoderLayerOptions& layer, int64_t num_layers,
                     bool norm = false);
  Tensor forward(const Tensor& src, const Tensor& mask = Tensor(),
                 const Tensor& src_key_padding_mask = Tensor());
  Tensor operator()(const Tensor& src, const Tensor& mask = Tensor(),
                    const Tensor& src_key_padding_mask = Tensor()) {
    return forward(src, mask, src_key_padding_mask);
  }
  TransformerEncoderLayer& layer(size_t i) { return *layers_.at(i); }
  size_t num_layers() const { return layers_.size(); }
  std::shared_ptr<LayerNorm> norm;  // null without a final norm

 private:
  TransformerLayerList list_;
  std::vector<std::shared_ptr<TransformerEncoderLayer>> layers_;
};

// x + PE[:L], PE[pos, 2i] = sin(pos / 10000^(2i/D)), PE[pos, 2i+1] = cos(same): the fixed
// encoding of "Attention Is All You Need". x is [L, N, D] ([N, L, D] with batch_first). The
// table is not a parameter and not in the state_dict (PyTorch's persistent=False buffer).
class SinusoidalPositionalEmbedding : public TensorModule {
 public:
  SinusoidalPositionalEmbedding(int64_t max_len, int64_t embedding_dim, bool batch_first = false);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  Tensor pe;  // [max_len, D]

 private:
  bool batch_first_;
};

// x + weight[:L] with weight [max_len, D] a parameter, initialised N(0, 1) as nn.Embedding.
class LearnedPositionalEmbedding : public TensorModule {
 public:
  LearnedPositionalEmbedding(int64_t max_len, int64_t embedding_dim, bool batch_first = false);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  Tensor weight;

 private:
  bool batch_first_;
};

}  // namespace ember::nn
