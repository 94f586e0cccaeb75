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
Tensor cross_entropy(const Tensor& logits, const IndexTensor& targets,
                     const CrossEntropyOptions& options = {});
Tensor nll_loss(const Tensor& log_probs, const IndexTensor& targets,
                const NLLLossOptions& options = {});
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);
Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& targets,
                                        Reduction reduction = Reduction::Mean);

// Mean of x [.., L, .., D] over `dim`, counting only positions where mask (0/1, the shape of x
// without its last dim) is 1. Rows with no unmasked position give zeros.
Tensor masked_mean(const Tensor& x, const Tensor& mask, int64_t dim);

}  // namespace ember::nn::functional
