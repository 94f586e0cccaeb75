// nn::Linear over the fused linear op (one gemm forward, two backward, bias as beta = 1).
#include "ember/nn/linear.hpp"

#include <cmath>

#include "ember/nn/init.hpp"
#include "ember/nn/quantized.hpp"
#include "ember/ops.hpp"

namespace ember::nn {

Linear::Linear(int64_t in_features, int64_t out_features, bool with_bias)
    : in_features_(in_features), out_features_(out_features) {
  EMBER_CHECK_VALUE(in_features > 0 && out_features > 0, "Linear: in_features and ",
                    "out_features must be positive, got ", in_features, " and ", out_features);
  weight = register_parameter("weight", zeros({out_features, in_features}));
  if (with_bias) bias = register_parameter("bias", zeros({out_features}));
  reset_parameters();
}

void Linear::reset_parameters() {
  // PyTorch's default: kaiming_uniform_(a = sqrt(5)), i.e. U(-1/sqrt(in), 1/sqrt(in)).
  init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (bias.defined()) {
    double bound = 1.0 / std::sqrt(static_cast<double>(in_features_));
    init::uniform_(bias, -bound, bound);
  }
}

Tensor Linear::forward(const Tensor& input) {
  if (dynamic_quantized) return dynamic_quantized->forward(input);
  return linear(input, weight, bias);
}

std::string Linear::name() const {
  return dynamic_quantized ? dynamic_quantized->name() : Module::name();
}

std::string Linear::extra_repr() const {
  if (dynamic_quantized) return dynamic_quantized->extra_repr();
  return "in_features=" + std::to_string(in_features_) +
         ", out_features=" + std::to_string(out_features_) +
         ", bias=" + (bias.defined() ? "True" : "False");
}

}  // namespace ember::nn
