// nn::Linear: y = x Wᵀ + b, weight [out_features, in_features], PyTorch's default init.
#pragma once

#include <string>

#include "ember/nn/module.hpp"

namespace ember::nn {

class Linear : public TensorModule {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true);
  Tensor forward(const Tensor& input) override;
  void reset_parameters();
  std::string extra_repr() const override;

  Tensor weight;
  Tensor bias;  // undefined when constructed with bias = false

 private:
  int64_t in_features_, out_features_;
};

}  // namespace ember::nn
