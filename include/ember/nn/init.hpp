// nn::init: in-place initialisers, run under NoGradGuard, drawing from the seeded generator.
#pragma once

#include <string>

#include "ember/tensor.hpp"

namespace ember::nn::init {

Tensor& uniform_(Tensor& t, double low = 0.0, double high = 1.0);
Tensor& normal_(Tensor& t, double mean = 0.0, double std = 1.0);
Tensor& zeros_(Tensor& t);
Tensor& constant_(Tensor& t, double value);
Tensor& xavier_uniform_(Tensor& t, double gain = 1.0);
// nonlinearity "leaky_relu" (gain sqrt(2 / (1 + a²))), "relu", "linear"/"tanh"/"sigmoid".
Tensor& kaiming_uniform_(Tensor& t, double a = 0.0, const std::string& mode = "fan_in",
                         const std::string& nonlinearity = "leaky_relu");

}  // namespace ember::nn::init
