// clip_grad_norm_ and clip_grad_value_ over dense and row-sparse gradients.
#include "ember/optim/clip_grad.hpp"

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "ember/autograd.hpp"

namespace ember::nn::utils {

namespace {
// Calls f(values, n) over the gradient's values, written in place: a float* or, for a float64
// gradient (dense or row-sparse), a double*. A row-sparse one is coalesced so that duplicate
// rows count once; a dense one is its .grad's storage. Nothing when p has no gradient.
template <class F>
void with_gradient_values(const Tensor& p, F&& f) {
  if (p.has_sparse_grad()) {
    RowSparseGrad& g = p.sparse_grad();
    g.coalesce();
    g.dispatch([&](auto real) {
      ArrayOf<decltype(real)>& values = g.values_of<decltype(real)>();
      f(values.data(), static_cast<int64_t>(values.size()));
    });
    return;
  }
  if (!p.has_grad()) return;
  const Tensor grad(p.impl()->grad);  // never a view: set_grad and backward keep it whole
  if (grad.dtype() == kFloat64)
    f(const_cast<double*>(grad.data_ptr<double>()), grad.numel());
  else
    f(const_cast<float*>(grad.data_ptr<float>()), grad.numel());
}
}  // namespace

double clip_grad_norm_(const std::vector<Tensor>& parameters, double max_norm, double norm_type) {
  EMBER_CHECK_VALUE(norm_type > 0, "clip_grad_norm_: norm_type must be positive, got ", norm_type);
  const bool inf = std::isinf(norm_type);
  // As PyTorch: the norm of the per-tensor norms, each computed in its gradient's dtype; the
  // total in float32 unless a gradient is float64 (torch.stack promotes).
  double total = 0.0;
  bool any = false, all_float32 = true;
  for (const Tensor& p : parameters)
    with_gradient_values(p, [&](auto* values, int64_t size) {
      using T = std::remove_pointer_t<decltype(values)>;
      any = true;
      all_float32 = all_float32 && std::is_same_v<T, float>;
      double n = 0.0;
      for (int64_t i = 0; i < size; ++i) {
        const double a = std::abs(static_cast<double>(values[i]));
        n = inf ? std::max(n, a) : n + std::pow(a, norm_type);
      }
      n = inf ? n : std::pow(n, 1.0 / norm_type);
      n = static_cast<T>(n);
      total = inf ? std::max(total, n) : total + std::pow(n, norm_type);
    });
  if (!any) return 0.0;
  if (!inf) total = std::pow(total, 1.0 / norm_type);
  if (all_float32) total = static_cast<float>(total);
  const double coef = std::min(max_norm / (total + 1e-6), 1.0);
  for (const Tensor& p : parameters)
    with_gradient_values(p, [&](auto* values, int64_t size) {
      using T = std::remove_pointer_t<decltype(values)>;
      const T c = static_cast<T>(coef);
      for (int64_t i = 0; i < size; ++i) values[i] *= c;
    });
  return total;
}

void clip_grad_value_(const std::vector<Tensor>& parameters, double clip_value) {
  EMBER_CHECK_VALUE(clip_value >= 0, "clip_grad_value_: clip_value must be non-negative, got ",
                    clip_value);
  for (const Tensor& p : parameters)
    with_gradient_values(p, [&](auto* values, int64_t size) {
      using T = std::remove_pointer_t<decltype(values)>;
      const T c = static_cast<T>(clip_value);
      for (int64_t i = 0; i < size; ++i) values[i] = std::clamp(values[i], -c, c);
    });
}

}  // namespace ember::nn::utils
