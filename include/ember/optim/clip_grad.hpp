// Gradient clipping, as torch.nn.utils: dense and row-sparse gradients alike.
#pragma once

#include <limits>
#include <vector>

#include "ember/tensor.hpp"

namespace ember::nn::utils {

// Scales all gradients together so that their joint norm_type-norm is at most max_norm;
// returns the norm before clipping. norm_type may be infinity.
double clip_grad_norm_(const std::vector<Tensor>& parameters, double max_norm,
                       double norm_type = 2.0);
// Clamps every gradient element into [-clip_value, clip_value].
void clip_grad_value_(const std::vector<Tensor>& parameters, double clip_value);

}  // namespace ember::nn::utils
