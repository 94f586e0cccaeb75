// TransformerEncoderLayer and TransformerEncoder as PyTorch 1.13 computes them (post-norm by
// default, pre-norm with norm_first), and the two positional embeddings.
#include "ember/nn/transformer.hpp"

#include <cmath>

#include "ember/nn/functional.hpp"
#include "ember/nn/init.hpp"

namespace ember::nn {

TransformerEncoderLayer::TransformerEncoderLayer(const TransformerEncoderLayerOptions& o)
    : self_attn(MultiheadAttentionOptions(o.d_model(), o.nhead())
                    .dropout(o.dropout())
                    .batch_first(o.batch_first())),
      linear1(o.d_model(), o.dim_feedforward() > 0 ? o.dim_feedforward() : 1),
      dropout(o.dropout()),
      linear2(o.dim_feedforward() > 0 ? o.dim_feedforward() : 1, o.d_model()),
      norm1({o.d_model()}, o.layer_norm_eps()),
      norm2({o.d_model()}, o.layer_norm_eps()),
      dropout1(o.dropout()),
      dropout2(o.dropout()),
      options_(o) {
  EMBER_CHECK_VALUE(o.dim_feedforward() > 0,
                    "TransformerEncoderLayer: dim_feedforward must be positive, got ",
                    o.dim_feedforward());
  EMBER_CHECK_VALUE(o.activation() == "relu" || o.activation() == "gelu",
                    "TransformerEncoderLayer: activation must be \"relu\" or \"gelu\", got \"",
                    o.activation(), "\"");
  register_module("self_attn", self_attn);
  register_module("linear1", linear1);
  register_module("dropout", dropout);
  register_module("linear2", linear2);
  register_module("norm1", norm1);
  register_module("norm2", norm2);
  register_module("dropout1", dropout1);
  register_module("dropout2", dropout2);
}

Tensor TransformerEncoderLayer::forward(const Tensor& src, const Tensor& src_mask,
                                        const Tensor& src_key_padding_mask) {
  auto sa_block = [&](const Tensor& x) {
    return dropout1(
        std::get<0>(self_attn(x, x, x, src_key_padding_mask, /*need_weights=*/false, src_mask)));
  };
  auto ff_block = [&](const Tensor& x) {
    Tensor h = linear1(x);
    h = options_.activation() == "gelu" ? gelu(h) : relu(h);
    return dropout2(linear2(dropout(h)));
  };
  Tensor x = src;
  if (options_.norm_first()) {
    x = x + sa_block(norm1(x));
    return x + ff_block(norm2(x));
  }
  x = norm1(x + sa_block(x));
  return norm2(x + ff_block(x));
}

TransformerEncoder::TransformerEncoder(const TransformerEncoderLayerOptions& layer,
                                       int64_t num_layers, bool with_norm) {
  EMBER_CHECK_VALUE(num_layers > 0, "TransformerEncoder: num_layers must be positive, got ",
                    num_layers);
  register_module("layers", list_);
  for (int64_t i = 0; i < num_layers; ++i) {
    auto l = std::make_shared<TransformerEncoderLayer>(layer);
    if (i > 0) l->load_state_dict(layers_[0]->state_dict());  // PyTorch's deepcopy
    list_.register_module(std::to_string(i), l);
    layers_.push_back(l);
  }
  if (with_norm) {
    norm = std::make_shared<LayerNorm>(Shape{layer.d_model()}, layer.layer_norm_eps());
    register_module("norm", norm);
  }
}

Tensor TransformerEncoder::forward(const Tensor& src, const Tensor& mask,
                                   const Tensor& src_key_padding_mask) {
  Tensor x = src;
  for (auto& l : layers_) x = l->forward(x, mask, src_key_padding_mask);
  return norm ? norm->forward(x) : x;
}

namespace {
void check_positions(const char* layer, const Tensor& x, bool batch_first, int64_t max_len,
                     int64_t dim) {
  EMBER_CHECK_SHAPE(x.dim() == 3 && x.size(2) == dim, layer, ": input shape ",
                    detail::shape_str(x.shape()), " should be ",
                    batch_first ? "[N, L, " : "[L, N, ", dim, "]");
  const int64_t length = x.size(batch_first ? 1 : 0);
  EMBER_CHECK_SHAPE(length <= max_len, layer, ": sequence length ", length,
                    " is longer than max_len ", max_len);
}
}  // namespace

SinusoidalPositionalEmbedding::SinusoidalPositionalEmbedding(int64_t max_len, int64_t dim,
                                                             bool batch_first)
    : batch_first_(batch_first) {
  EMBER_CHECK_VALUE(max_len > 0 && dim > 0, "SinusoidalPositionalEmbedding: max_len and ",
                    "embedding_dim must be positive, got ", max_len, " and ", dim);
  pe = zeros({max_len, dim});
  auto table = pe.data();
  for (int64_t pos = 0; pos < max_len; ++pos)
    for (int64_t i = 0; i < dim; ++i) {
      // The tutorial's form: exp(2i * -ln(10000) / D), in float as PyTorch computes it.
      const float div = std::exp(static_cast<float>(i - i % 2) * (-std::log(10000.f) / dim));
      const float angle = static_cast<float>(pos) * div;
      table(pos, i) = i % 2 == 0 ? std::sin(angle) : std::cos(angle);
    }
}

Tensor SinusoidalPositionalEmbedding::forward(const Tensor& x) {
  check_positions("SinusoidalPositionalEmbedding", x, batch_first_, pe.size(0), pe.size(1));
  const int64_t length = x.size(batch_first_ ? 1 : 0), dim = pe.size(1);
  Array table = xt::zeros<float>({static_cast<size_t>(length * dim)});
  std::copy(pe.data().data(), pe.data().data() + length * dim, table.data());
  table.reshape(batch_first_ ? std::vector<size_t>{1, size_t(length), size_t(dim)}
                             : std::vector<size_t>{size_t(length), 1, size_t(dim)});
  return x + Tensor(std::move(table));
}

std::string SinusoidalPositionalEmbedding::extra_repr() const {
  return "max_len=" + std::to_string(pe.size(0)) + ", embedding_dim=" + std::to_string(pe.size(1));
}

LearnedPositionalEmbedding::LearnedPositionalEmbedding(int64_t max_len, int64_t dim,
                                                       bool batch_first)
    : batch_first_(batch_first) {
  EMBER_CHECK_VALUE(max_len > 0 && dim > 0, "LearnedPositionalEmbedding: max_len and ",
                    "embedding_dim must be positive, got ", max_len, " and ", dim);
  weight = register_parameter("weight", zeros({max_len, dim}));
  init::normal_(weight);
}

Tensor LearnedPositionalEmbedding::forward(const Tensor& x) {
  check_positions("LearnedPositionalEmbedding", x, batch_first_, weight.size(0), weight.size(1));
  const int64_t length = x.size(batch_first_ ? 1 : 0), dim = weight.size(1);
  std::vector<int64_t> positions(static_cast<size_t>(length));
  for (int64_t i = 0; i < length; ++i) positions[static_cast<size_t>(i)] = i;
  Tensor rows = functional::embedding(IndexTensor(positions, {length}), weight);
  return x + rows.reshape(batch_first_ ? Shape{1, length, dim} : Shape{length, 1, dim});
}

std::string LearnedPositionalEmbedding::extra_repr() const {
  return "max_len=" + std::to_string(weight.size(0)) +
         ", embedding_dim=" + std::to_string(weight.size(1));
}

}  // namespace ember::nn
