// Adagrad: one fused pass per parameter or per touched row.
#include "ember/optim/adagrad.hpp"

#include <cmath>
#include <type_traits>

#include "ember/autograd.hpp"

namespace ember::optim {

namespace {
void validate(const AdagradOptions& o) {
  check_non_negative("Adagrad", "lr", o.lr());
  check_non_negative("Adagrad", "lr_decay", o.lr_decay());
  check_non_negative("Adagrad", "weight_decay", o.weight_decay());
  check_non_negative("Adagrad", "initial_accumulator_value", o.initial_accumulator_value());
  check_non_negative("Adagrad", "eps", o.eps());
}
}  // namespace

Adagrad::Adagrad(std::vector<ParamGroup> groups, AdagradOptions defaults)
    : OptimizerWithState(std::move(groups),
                         (validate(defaults), std::make_unique<AdagradOptions>(defaults)),
                         "Adagrad") {
  for (ParamGroup& g : groups_) validate(options_of(g));
}

void Adagrad::step() {
  // In the parameter's element type T: float for float32, double for float64 (as PyTorch).
  for_each_param([&](ParamGroup& group, Tensor& p, auto* w) {
    using T = std::remove_pointer_t<decltype(w)>;
    const AdagradOptions& o = options_of(group);
    const T wd = static_cast<T>(o.weight_decay()), eps = static_cast<T>(o.eps());
    AdagradState& s = state_of(p);
    if (!s.sum.defined()) s.sum = state_buffer(p, o.initial_accumulator_value());
    ++s.step;
    const T clr = static_cast<T>(o.lr() / (1.0 + static_cast<double>(s.step - 1) * o.lr_decay()));
    T* sum = state_values<T>(s.sum);
    for_each_span<T>(p, [&](int64_t offset, const T* grad, int64_t n) {
      for (int64_t k = 0; k < n; ++k) {
        const int64_t i = offset + k;
        T g = grad[k];
        if (wd != T(0)) g += wd * w[i];
        sum[i] += g * g;
        w[i] += -clr * (g / (std::sqrt(sum[i]) + eps));
      }
    });
  });
}

}  // namespace ember::optim
