// nn::Linear: y = x Wᵀ + b, weight [out_features, in_features], PyTorch's default init.
#pragma once

#include <memory>
#include <string>

#include "ember/nn/module.hpp"

namespace ember::nn {

namespace quantized::dynamic {
class Linear;
}

class Linear : public TensorModule {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true);
  Tensor forward(const Tensor& input) override;
  void reset_parameters();
  std::string extra_repr() const override;
  std::string name() const override;

  Tensor weight;
  Tensor bias;  // undefined when constructed with bias = false
  // Set by nn::quantize_dynamic (ember/nn/quantized.hpp): forward then runs this int8 module,
  // which reads weight and bias (a member cannot be swapped for another type in C++).
  std::shared_ptr<quantized::dynamic::Linear> dynamic_quantized;

 private:
  int64_t in_features_, out_features_;
};

}  // namespace ember::nn
