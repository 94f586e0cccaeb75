// clip_grad_norm_ and clip_grad_value_ over dense and row-sparse gradients.
#include "ember/optim/clip_grad.hpp"

#include <algorithm>
#include <cmath>

#include "ember/autograd.hpp"

namespace ember::nn::utils {

namespace {
// The gradient's values, written in place: a row-sparse one is coalesced so that duplicate
// rows count once; a dense one is its .grad's storage. Empty when p has no gradient.
struct GradValues {
  float* data = nullptr;
  int64_t size = 0;
  float* begin() const { return data; }
  float* end() const { return data + size; }
};
GradValues gradient_values(const Tensor& p) {
  if (p.has_sparse_grad()) {
    RowSparseGrad& g = p.sparse_grad();
    g.coalesce();
    return {g.values.data(), static_cast<int64_t>(g.values.size())};
  }
  if (!p.has_grad()) return {};
  const Tensor grad(p.impl()->grad);  // never a view: set_grad and backward keep it whole
  return {const_cast<float*>(grad.data_ptr()), grad.numel()};
}
}  // namespace

double clip_grad_norm_(const std::vector<Tensor>& parameters, double max_norm, double norm_type) {
  EMBER_CHECK_VALUE(norm_type > 0, "clip_grad_norm_: norm_type must be positive, got ", norm_type);
  std::vector<GradValues> grads;
  for (const Tensor& p : parameters)
    if (p.has_grad()) grads.push_back(gradient_values(p));
  if (grads.empty()) return 0.0;
  const bool inf = std::isinf(norm_type);
  // As PyTorch: the norm of the per-tensor norms, each computed in float.
  double total = 0.0;
  for (const GradValues& g : grads) {
    double n = 0.0;
    for (float v : g) {
      double a = std::abs(static_cast<double>(v));
      n = inf ? std::max(n, a) : n + std::pow(a, norm_type);
    }
    n = inf ? n : std::pow(n, 1.0 / norm_type);
    n = static_cast<float>(n);
    total = inf ? std::max(total, n) : total + std::pow(n, norm_type);
  }
  total = inf ? total : static_cast<float>(std::pow(total, 1.0 / norm_type));
  const float coef = static_cast<float>(std::min(max_norm / (total + 1e-6), 1.0));
  for (const GradValues& g : grads)
    for (float& v : g) v *= coef;
  return total;
}

void clip_grad_value_(const std::vector<Tensor>& parameters, double clip_value) {
  EMBER_CHECK_VALUE(clip_value >= 0, "clip_grad_value_: clip_value must be non-negative, got ",
                    clip_value);
  const float c = static_cast<float>(clip_value);
  for (const Tensor& p : parameters)
    for (float& v : gradient_values(p)) v = std::clamp(v, -c, c);
}

}  // namespace ember::nn::utils
