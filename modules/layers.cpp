// Dropout, LayerNorm and Sequential.
#include "ember/nn/layers.hpp"

#include <sstream>

namespace ember::nn {

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

Sequential::Sequential(std::initializer_list<std::shared_ptr<TensorModule>> layers) {
  for (const auto& layer : layers) push_back(layer);
}

void Sequential::push_back(std::shared_ptr<TensorModule> layer) {
  EMBER_CHECK_VALUE(layer != nullptr, "Sequential: cannot add a null layer");
  register_module(std::to_string(layers_.size()), layer);
  layers_.push_back(std::move(layer));
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor y = x;
  for (auto& layer : layers_) y = layer->forward(y);
  return y;
}

}  // namespace ember::nn
