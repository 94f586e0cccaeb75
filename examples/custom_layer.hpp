// A user-written op and layer, exactly as docs/extending.md shows them (a test checks that
// the document and this file agree, and gradchecks both).
#pragma once

#include <ember/ember.hpp>
#include <xtensor/xmath.hpp>

// swish(x) = x * sigmoid(x): forward with xtensor, backward as a closure beside it.
inline ember::Tensor swish(const ember::Tensor& x) {
  auto X = x.storage();  // keep the input's data, never the Tensor
  auto s = std::make_shared<ember::Array>(1.f / (1.f + xt::exp(-*X)));
  ember::Array y = *X * *s;
  return ember::make_output(std::move(y), "swish", {x}, [X, s](const ember::Array& g) {
    // d/dx x·σ(x) = σ(x) + x·σ(x)·(1 − σ(x))
    return ember::gradients(ember::Array(g * (*s + *X * *s * (1.f - *s))));
  });
}

// A highway layer: y = t ⊙ swish(W_h x) + (1 − t) ⊙ x, with gate t = σ(W_t x).
struct Highway : ember::nn::TensorModule {
  ember::nn::Linear transform, gate;

  explicit Highway(int64_t dim) : transform(dim, dim), gate(dim, dim) {
    register_module("transform", transform);
    register_module("gate", gate);
  }

  ember::Tensor forward(const ember::Tensor& x) override {
    ember::Tensor t = ember::sigmoid(gate(x));
    return t * swish(transform(x)) + (1.f - t) * x;
  }
};
