// Adam and AdamW: one fused pass per parameter (dense) or per touched row (row-sparse, lazy).
#include "ember/optim/adam.hpp"

#include <cmath>

#include "ember/autograd.hpp"

namespace ember::optim {

namespace {
void validate(const AdamOptions& o, const char* name);

std::unique_ptr<AdamOptions> validated(std::unique_ptr<AdamOptions> o, const char* name) {
  validate(*o, name);
  return o;
}

void validate(const AdamOptions& o, const char* name) {
  check_non_negative(name, "lr", o.lr());
  check_non_negative(name, "eps", o.eps());
  check_non_negative(name, "weight_decay", o.weight_decay());
  auto [b1, b2] = o.betas();
  EMBER_CHECK_VALUE(b1 >= 0.0 && b1 < 1.0, name, ": betas[0] must be in [0, 1), got ", b1);
  EMBER_CHECK_VALUE(b2 >= 0.0 && b2 < 1.0, name, ": betas[1] must be in [0, 1), got ", b2);
}
}  // namespace

Adam::Adam(std::vector<ParamGroup> groups, AdamOptions defaults)
    : Adam(std::move(groups), std::make_unique<AdamOptions>(defaults), "Adam", false) {}

Adam::Adam(std::vector<ParamGroup> groups, std::unique_ptr<AdamOptions> defaults, const char* name,
           bool decoupled_weight_decay)
    : OptimizerWithState(std::move(groups), validated(std::move(defaults), name), name),
      decoupled_weight_decay_(decoupled_weight_decay) {
  for (ParamGroup& g : groups_) validate(options_of(g), name);
}

AdamW::AdamW(std::vector<ParamGroup> groups, AdamOptions defaults)
    : Adam(std::move(groups), std::make_unique<AdamOptions>(defaults), "AdamW", true) {}

void Adam::step() {
  NoGradGuard no_grad;
  for (ParamGroup& group : groups_) {
    const AdamOptions& o = options_of(group);
    const auto [beta1, beta2] = o.betas();
    const float b1 = static_cast<float>(beta1), b2 = static_cast<float>(beta2);
    // 1 - β in double, then float, as PyTorch passes it: 1 - 0.999f would be off by 1e-5.
    const float keep1 = static_cast<float>(1.0 - beta1), keep2 = static_cast<float>(1.0 - beta2);
    const float eps = static_cast<float>(o.eps()), wd = static_cast<float>(o.weight_decay());
    const float decay = static_cast<float>(1.0 - o.lr() * o.weight_decay());
    for (Tensor& p : group.params) {
      if (!p.grad().defined() && !p.has_sparse_grad()) continue;
      AdamState& s = state_of(p);
      if (s.exp_avg.dimension() == 0) {
        s.exp_avg = xt::zeros<float>(p.data().shape());
        s.exp_avg_sq = xt::zeros<float>(p.data().shape());
        if (o.amsgrad()) s.max_exp_avg_sq = xt::zeros<float>(p.data().shape());
      }
      const double t = static_cast<double>(++s.step);
      const double bc1 = 1.0 - std::pow(beta1, t), bc2 = 1.0 - std::pow(beta2, t);
      float* w = p.data().data();
      float* m = s.exp_avg.data();
      float* v = s.exp_avg_sq.data();
      float* vmax = o.amsgrad() ? s.max_exp_avg_sq.data() : nullptr;
      if (!p.has_sparse_grad()) {
        const float step_size = static_cast<float>(o.lr() / bc1);
        const float bc2_sqrt = static_cast<float>(std::sqrt(bc2));
        for_each_span(p, [&](int64_t, const float* grad, int64_t n) {
          for (int64_t i = 0; i < n; ++i) {
            float g = grad[i];
            if (wd != 0.f) {
              if (decoupled_weight_decay_)
                w[i] *= decay;
              else
                g += wd * w[i];
            }
            m[i] = m[i] * b1 + keep1 * g;
            v[i] = v[i] * b2 + keep2 * g * g;
            float second = v[i];
            if (vmax) second = vmax[i] = std::max(vmax[i], v[i]);
            float denom = std::sqrt(second) / bc2_sqrt + eps;
            w[i] += -step_size * (m[i] / denom);
          }
        });
        continue;
      }
      // SparseAdam's rule, written as its updates are: old + (1 - β)(new - old).
      const float step_size = static_cast<float>(o.lr() * std::sqrt(bc2) / bc1);
      for_each_span(p, [&](int64_t offset, const float* grad, int64_t n) {
        for (int64_t k = 0; k < n; ++k) {
          const int64_t i = offset + k;
          float g = grad[k];
          if (wd != 0.f) {
            if (decoupled_weight_decay_)
              w[i] *= decay;
            else
              g += wd * w[i];
          }
          const float old_m = m[i], old_v = v[i];
          const float update_m = (g - old_m) * keep1;
          const float update_v = (g * g - old_v) * keep2;
          m[i] = old_m + update_m;
          v[i] = old_v + update_v;
          float second = update_v + old_v;
          if (vmax) second = vmax[i] = std::max(vmax[i], second);
          const float numer = update_m + old_m;
          w[i] += -step_size * (numer / (std::sqrt(second) + eps));
        }
      });
    }
  }
}

}  // namespace ember::optim
