// Dropout and layer norm, composed from differentiable primitives.
#include <random>

#include "ember/autograd.hpp"
#include "ember/nn/functional.hpp"

namespace ember::nn::functional {

Tensor dropout(const Tensor& input, double p, bool training) {
  EMBER_CHECK_VALUE(p >= 0.0 && p <= 1.0, "dropout: probability must be in [0, 1], got ", p);
  if (!training || p == 0.0) return input;
  if (p == 1.0) return input * zeros_like(input);
  // Uniforms from the seeded generator; keep where u >= p, scaled so the expectation is kept.
  Tensor mask = rand(input.shape());
  float scale = static_cast<float>(1.0 / (1.0 - p));
  Array& m = mask.data();
  for (float& v : m) v = v >= static_cast<float>(p) ? scale : 0.f;
  return input * mask;
}

Tensor layer_norm(const Tensor& input, const Shape& normalized_shape, const Tensor& weight,
                  const Tensor& bias, double eps) {
  Shape s = input.shape();
  size_t k = normalized_shape.size();
  bool ok = k >= 1 && k <= s.size() &&
            Shape(s.end() - static_cast<int64_t>(k), s.end()) == normalized_shape;
  EMBER_CHECK_SHAPE(ok, "layer_norm: normalized_shape ", detail::shape_str(normalized_shape),
                    " does not match the trailing dims of input shape ", detail::shape_str(s));
  for (const Tensor* t : {&weight, &bias}) {
    if (!t->defined()) continue;
    EMBER_CHECK_SHAPE(t->shape() == normalized_shape, "layer_norm: weight/bias shape ",
                      detail::shape_str(t->shape()), " must be normalized_shape ",
                      detail::shape_str(normalized_shape));
  }
  Shape dims;
  for (size_t i = 0; i < k; ++i) dims.push_back(-1 - static_cast<int64_t>(i));
  Tensor centered = input - mean(input, dims, true);
  Tensor variance = mean(centered * centered, dims, true);  // biased, as PyTorch
  Tensor y = centered / sqrt(variance + static_cast<float>(eps));
  if (weight.defined()) y = y * weight;
  if (bias.defined()) y = y + bias;
  return y;
}

}  // namespace ember::nn::functional
