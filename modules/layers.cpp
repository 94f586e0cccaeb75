// Dropout, LayerNorm and Flatten.
#include "ember/nn/layers.hpp"

#include <sstream>
#include <utility>

namespace ember::nn {

GELU::GELU(std::string approximate) : approximate_(std::move(approximate)) {
  EMBER_CHECK_VALUE(approximate_ == "none" || approximate_ == "tanh",
                    "GELU: approximate must be \"none\" or \"tanh\", got \"", approximate_, "\"");
}

std::string GELU::extra_repr() const { return "approximate='" + approximate_ + "'"; }

Dropout::Dropout(double p) : p_(p) {
  EMBER_CHECK_VALUE(p >= 0.0 && p <= 1.0, "Dropout: probability must be in [0, 1], got ", p);
}

Tensor Dropout::forward(const Tensor& x) { return functional::dropout(x, p_, is_training()); }

std::string Dropout::extra_repr() const {
  std::ostringstream s;
  s << "p=" << p_ << ", inplace=False";
  return s.str();
}

LayerNorm::LayerNorm(Shape normalized_shape, double eps, bool elementwise_affine)
    : normalized_shape_(std::move(normalized_shape)), eps_(eps) {
  EMBER_CHECK_VALUE(!normalized_shape_.empty(), "LayerNorm: normalized_shape must not be empty");
  if (elementwise_affine) {
    weight = register_parameter("weight", ones(normalized_shape_));
    bias = register_parameter("bias", zeros(normalized_shape_));
  }
}

Tensor LayerNorm::forward(const Tensor& x) {
  return functional::layer_norm(x, normalized_shape_, weight, bias, eps_);
}

std::string LayerNorm::extra_repr() const {
  std::ostringstream s;
  s << "(";
  for (size_t i = 0; i < normalized_shape_.size(); ++i) s << normalized_shape_[i] << ",";
  s << "), eps=" << eps_ << ", elementwise_affine=" << (weight.defined() ? "True" : "False");
  return s.str();
}

std::string Flatten::extra_repr() const {
  return "start_dim=" + std::to_string(start_dim_) + ", end_dim=" + std::to_string(end_dim_);
}

}  // namespace ember::nn
