// Small layers: activations, Dropout, LayerNorm, Identity, Flatten (and, through
// containers.hpp, Sequential to chain them).
#pragma once

#include <string>

#include "ember/nn/containers.hpp"
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
// approximate: "none" (erf) or "tanh", as nn.GELU(approximate=...).
class GELU : public TensorModule {
 public:
  explicit GELU(std::string approximate = "none");
  Tensor forward(const Tensor& x) override { return gelu(x, approximate_); }
  std::string extra_repr() const override;

 private:
  std::string approximate_;
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

// Returns its input; a placeholder where a model may or may not have a layer.
class Identity : public TensorModule {
 public:
  Tensor forward(const Tensor& x) override { return x; }
};

// Flattens dims start_dim..end_dim into one (PyTorch's defaults keep the batch dim).
class Flatten : public TensorModule {
 public:
  explicit Flatten(int64_t start_dim = 1, int64_t end_dim = -1)
      : start_dim_(start_dim), end_dim_(end_dim) {}
  Tensor forward(const Tensor& x) override { return x.flatten(start_dim_, end_dim_); }
  std::string extra_repr() const override;

 private:
  int64_t start_dim_, end_dim_;
};

}  // namespace ember::nn
