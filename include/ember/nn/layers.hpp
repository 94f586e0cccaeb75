// Small layers: activations, Dropout, LayerNorm, and Sequential to chain them.
#pragma once

#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "ember/nn/functional.hpp"
#include "ember/nn/module.hpp"

namespace ember::nn {

class ReLU : public TensorModule {
 public:
  Tensor forward(const Tensor& x) override { return relu(x); }
};
class Tanh : public TensorModule {
 public:
  Tensor forward(const Tensor& x) override { return tanh(x); }
};
class Sigmoid : public TensorModule {
 public:
  Tensor forward(const Tensor& x) override { return sigmoid(x); }
};
class GELU : public TensorModule {
 public:
  Tensor forward(const Tensor& x) override { return gelu(x); }
};

// Active in train() mode only; masks come from the seeded generator (manual_seed).
class Dropout : public TensorModule {
 public:
  explicit Dropout(double p = 0.5);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

 private:
  double p_;
};

class LayerNorm : public TensorModule {
 public:
  explicit LayerNorm(Shape normalized_shape, double eps = 1e-5, bool elementwise_affine = true);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  Tensor weight;  // ones, undefined without elementwise_affine
  Tensor bias;    // zeros

 private:
  Shape normalized_shape_;
  double eps_;
};

// Owns its layers and applies them in order; they are named "0", "1", ... as in PyTorch.
class Sequential : public TensorModule {
 public:
  Sequential() = default;
  Sequential(std::initializer_list<std::shared_ptr<TensorModule>> layers);
  void push_back(std::shared_ptr<TensorModule> layer);
  Tensor forward(const Tensor& x) override;
  size_t size() const { return layers_.size(); }
  TensorModule& operator[](size_t i) { return *layers_.at(i); }

 private:
  std::vector<std::shared_ptr<TensorModule>> layers_;
};

}  // namespace ember::nn
