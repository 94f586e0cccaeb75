// Adagrad: one fused pass per parameter or per touched row.
#include "ember/optim/adagrad.hpp"

#include <cmath>

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
  for_each_param([&](ParamGroup& group, Tensor& p, float* w) {
    const AdagradOptions& o = options_of(group);
    const float wd = static_cast<float>(o.weight_decay()), eps = static_cast<float>(o.eps());
    AdagradState& s = state_of(p);
    if (s.sum.dimension() == 0)
      s.sum = state_buffer(p, static_cast<float>(o.initial_accumulator_value()));
    ++s.step;
    const float clr =
        static_cast<float>(o.lr() / (1.0 + static_cast<double>(s.step - 1) * o.lr_decay()));
    float* sum = s.sum.data();
    for_each_span(p, [&](int64_t offset, const float* grad, int64_t n) {
      for (int64_t k = 0; k < n; ++k) {
        const int64_t i = offset + k;
        float g = grad[k];
        if (wd != 0.f) g += wd * w[i];
        sum[i] += g * g;
        w[i] += -clr * (g / (std::sqrt(sum[i]) + eps));
      }
    });
  });
}

}  // namespace ember::optim
