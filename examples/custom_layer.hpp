// A user-written op and layer, exactly as docs/extending.md shows them (a test checks that
// the document and this file agree, and gradchecks both).
#pragma once

#include <ember/ember.hpp>
#include <xtensor/xmath.hpp>

// swish(x) = x * sigmoid(x): forward with xtensor, backward as a closure beside it. Written
// once for float32 and float64 (T = float or double), so gradcheck can run it in float64.
inline ember::Tensor swish(const ember::Tensor& x) {
  return ember::dispatch_floating(x, "swish", [&](auto real) {
    using T = decltype(real);
    auto X = ember::saved<T>(x);  // keep the input's data, never the Tensor
    auto s = std::make_shared<ember::ArrayOf<T>>(T(1) / (T(1) + xt::exp(-*X)));
    ember::ArrayOf<T> y = *X * *s;
    return ember::make_output(std::move(y), "swish", {x}, [X, s](const ember::ArrayOf<T>& g) {
      // d/dx x·σ(x) = σ(x) + x·σ(x)·(1 − σ(x))
      return ember::gradients(g * (*s + *X * *s * (T(1) - *s)));
    });
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
