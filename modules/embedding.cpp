// nn::Embedding and nn::EmbeddingBag: shells over functional::embedding / embedding_bag.
#include "ember/nn/embedding.hpp"

#include <sstream>

#include "ember/autograd.hpp"
#include "ember/nn/init.hpp"

namespace ember::nn {

namespace {
// Checks sizes and an initial weight, resolves a negative padding_idx; shared by both layers.
template <class Options>
Options validated(Options o, const char* layer) {
  EMBER_CHECK_VALUE(o.num_embeddings() > 0 && o.embedding_dim() > 0, layer,
                    ": num_embeddings and embedding_dim must be positive, got ", o.num_embeddings(),
                    " and ", o.embedding_dim());
  // The table must be allocatable: checked here, before any init touches it.
  detail::checked_numel({o.num_embeddings(), o.embedding_dim()}, layer, sizeof(float));
  if (o.padding_idx()) {
    int64_t p = *o.padding_idx(), n = o.num_embeddings();
    EMBER_CHECK_INDEX(p >= -n && p < n, layer, ": padding_idx ", p,
                      " out of range for num_embeddings ", n);
    o.padding_idx(p < 0 ? p + n : p);
  }
  if (o.max_norm()) {
    EMBER_CHECK_VALUE(*o.max_norm() > 0, layer, ": max_norm must be positive, got ", *o.max_norm());
  }
  if (o._weight().defined()) {
    Shape want{o.num_embeddings(), o.embedding_dim()};
    EMBER_CHECK_SHAPE(o._weight().shape() == want, layer, ": _weight shape ",
                      detail::shape_str(o._weight().shape()), " does not match ",
                      detail::shape_str(want));
  }
  return o;
}

template <class Options>
std::string options_repr(const Options& o) {
  std::ostringstream s;
  s << o.num_embeddings() << ", " << o.embedding_dim();
  if (o.padding_idx()) s << ", padding_idx=" << *o.padding_idx();
  if (o.max_norm()) s << ", max_norm=" << *o.max_norm();
  if (o.norm_type() != 2.0) s << ", norm_type=" << o.norm_type();
  if (o.scale_grad_by_freq()) s << ", scale_grad_by_freq=True";
  if (o.sparse()) s << ", sparse=True";
  return s.str();
}

template <class Options>
Options pretrained_options(const Tensor& embeddings, std::optional<Options> options,
                           const char* layer) {
  EMBER_CHECK_SHAPE(embeddings.dim() == 2, layer, "::from_pretrained: embeddings must be 2-D, got ",
                    detail::shape_str(embeddings.shape()));
  Options o = options.value_or(Options(embeddings.size(0), embeddings.size(1)));
  o.num_embeddings(embeddings.size(0)).embedding_dim(embeddings.size(1));
  o._weight(Tensor(embeddings.data()));  // a copy: the caller's tensor is not shared
  return o;
}

// N(0, 1) as PyTorch, with the padding row at zero.
void reset_table(Tensor& table, const std::optional<int64_t>& padding_idx) {
  init::normal_(table);
  if (!padding_idx) return;
  NoGradGuard no_grad;
  table.select(0, *padding_idx).zero_();
}

// Registers the table: the given _weight (moved out of the stored options), or a fresh one.
template <class Options>
Tensor register_table(Module& layer, Options& o) {
  Tensor given = o._weight();
  o._weight(Tensor());
  if (given.defined()) return layer.register_parameter("weight", given.clone().detach());
  Tensor table = layer.register_parameter("weight", zeros({o.num_embeddings(), o.embedding_dim()}));
  reset_table(table, o.padding_idx());
  return table;
}
}  // namespace

Embedding::Embedding(const EmbeddingOptions& options) : options_(validated(options, "Embedding")) {
  weight = register_table(*this, options_);
}

Embedding Embedding::from_pretrained(const Tensor& embeddings, bool freeze,
                                     std::optional<EmbeddingOptions> options) {
  return Embedding(pretrained_options(embeddings, options, "Embedding"), freeze);
}

Embedding::Embedding(const EmbeddingOptions& options, bool freeze) : Embedding(options) {
  weight.requires_grad_(!freeze);
}

void Embedding::reset_parameters() { reset_table(weight, options_.padding_idx()); }

Tensor Embedding::forward(const IndexTensor& ids) {
  return functional::embedding(ids, weight,
                               functional::EmbeddingFuncOptions()
                                   .padding_idx(options_.padding_idx())
                                   .max_norm(options_.max_norm())
                                   .norm_type(options_.norm_type())
                                   .scale_grad_by_freq(options_.scale_grad_by_freq())
                                   .sparse(options_.sparse()));
}

std::string Embedding::extra_repr() const { return options_repr(options_); }

EmbeddingBag::EmbeddingBag(const EmbeddingBagOptions& options)
    : options_(validated(options, "EmbeddingBag")) {
  weight = register_table(*this, options_);
}

EmbeddingBag EmbeddingBag::from_pretrained(const Tensor& embeddings, bool freeze,
                                           std::optional<EmbeddingBagOptions> options) {
  return EmbeddingBag(pretrained_options(embeddings, options, "EmbeddingBag"), freeze);
}

EmbeddingBag::EmbeddingBag(const EmbeddingBagOptions& options, bool freeze)
    : EmbeddingBag(options) {
  weight.requires_grad_(!freeze);
}

void EmbeddingBag::reset_parameters() { reset_table(weight, options_.padding_idx()); }

Tensor EmbeddingBag::forward(const IndexTensor& input, const std::optional<IndexTensor>& offsets,
                             const Tensor& per_sample_weights) {
  return functional::embedding_bag(input, weight,
                                   functional::EmbeddingBagFuncOptions()
                                       .offsets(offsets)
                                       .max_norm(options_.max_norm())
                                       .norm_type(options_.norm_type())
                                       .scale_grad_by_freq(options_.scale_grad_by_freq())
                                       .mode(options_.mode())
                                       .sparse(options_.sparse())
                                       .per_sample_weights(per_sample_weights)
                                       .include_last_offset(options_.include_last_offset())
                                       .padding_idx(options_.padding_idx()));
}

std::string EmbeddingBag::extra_repr() const {
  return options_repr(options_) + ", mode='" + functional::mode_name(options_.mode()) + "'";
}

}  // namespace ember::nn
