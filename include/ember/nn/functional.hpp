// ember::nn::functional: losses and the stateless forms of the layers. Modules are thin shells
// over these.
#pragma once

#include <optional>

#include "ember/index_tensor.hpp"
#include "ember/ops.hpp"
#include "ember/options.hpp"
#include "ember/tensor.hpp"

namespace ember::nn::functional {

enum class Reduction { None, Mean, Sum };

struct CrossEntropyOptions {
  EMBER_ARG(int64_t, ignore_index) = -100;
  EMBER_ARG(double, label_smoothing) = 0.0;
  EMBER_ARG(Reduction, reduction) = Reduction::Mean;
};
using NLLLossOptions = CrossEntropyOptions;  // label_smoothing must stay 0 for nll_loss

// logits [N, C], targets [N] of class ids in [0, C) or ignore_index. Fused log-softmax + NLL.
// As PyTorch, also logits [N, C, d...] with targets [N, d...] (a tagger's [batch, tags, time]):
// each position counts as a row; Reduction::None returns [N, d...].
Tensor cross_entropy(const Tensor& logits, const IndexTensor& targets,
                     const CrossEntropyOptions& options = {});
Tensor nll_loss(const Tensor& log_probs, const IndexTensor& targets,
                const NLLLossOptions& options = {});
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);
Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& targets,
                                        Reduction reduction = Reduction::Mean);

// Mean of x [.., L, .., D] over `dim`, counting only positions where mask (bool, the shape of x
// without its last dim: `ids != pad`) is true. Rows with no true position give zeros.
Tensor masked_mean(const Tensor& x, const Tensor& mask, int64_t dim);

struct EmbeddingFuncOptions {
  // Row that starts at zero in the module and never receives gradient; negative counts from
  // the end.
  EMBER_ARG(std::optional<int64_t>, padding_idx) = std::nullopt;
  // Rows looked up are renormalised in place to this norm before the lookup (outside the tape).
  EMBER_ARG(std::optional<double>, max_norm) = std::nullopt;
  EMBER_ARG(double, norm_type) = 2.0;
  // Divide each row's gradient by how often its id occurs in the batch.
  EMBER_ARG(bool, scale_grad_by_freq) = false;
  // Give the weight a row-sparse gradient (touched rows only).
  EMBER_ARG(bool, sparse) = false;
};

// ids of any shape [*] -> [*, D]: a gather of weight's rows; backward index-adds.
Tensor embedding(const IndexTensor& ids, const Tensor& weight,
                 const EmbeddingFuncOptions& options = {});

enum class EmbeddingBagMode { Sum, Mean, Max };
// PyTorch's spelling of a mode ("sum", "mean", "max"), for messages and printing.
const char* mode_name(EmbeddingBagMode mode);

struct EmbeddingBagFuncOptions {
  // With 1-D input: where each bag starts (offsets[0] must be 0, non-decreasing).
  EMBER_ARG(std::optional<IndexTensor>, offsets) = std::nullopt;
  EMBER_ARG(std::optional<double>, max_norm) = std::nullopt;
  EMBER_ARG(double, norm_type) = 2.0;
  EMBER_ARG(bool, scale_grad_by_freq) = false;
  EMBER_ARG(EmbeddingBagMode, mode) = EmbeddingBagMode::Mean;
  EMBER_ARG(bool, sparse) = false;
  // One weight per id, mode Sum only; differentiable.
  EMBER_ARG(Tensor, per_sample_weights) = Tensor();
  // offsets has one more entry than there are bags: the end of the last bag.
  EMBER_ARG(bool, include_last_offset) = false;
  // Entries equal to padding_idx are skipped (and do not count toward a mean).
  EMBER_ARG(std::optional<int64_t>, padding_idx) = std::nullopt;
};

// [B, L] input (each row a bag) or 1-D input with offsets -> [B, D]. Empty bags give zeros.
Tensor embedding_bag(const IndexTensor& input, const Tensor& weight,
                     const EmbeddingBagFuncOptions& options = {});

// Renormalises, in place and outside the tape, the rows of weight named in ids whose
// norm_type-norm exceeds max_norm (PyTorch's embedding_renorm_).
void embedding_renorm_(Tensor& weight, const IndexTensor& ids, double max_norm, double norm_type);

// Zeroes each element with probability p and scales the rest by 1/(1-p) when training.
Tensor dropout(const Tensor& input, double p = 0.5, bool training = true);

// Normalises over the trailing dims given by normalized_shape, then scales and shifts.
Tensor layer_norm(const Tensor& input, const Shape& normalized_shape,
                  const Tensor& weight = Tensor(), const Tensor& bias = Tensor(),
                  double eps = 1e-5);

}  // namespace ember::nn::functional
