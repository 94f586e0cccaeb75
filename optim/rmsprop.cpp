// RMSprop: one fused pass per parameter or per touched row.
#include "ember/optim/rmsprop.hpp"

#include <cmath>

#include "ember/autograd.hpp"

namespace ember::optim {

namespace {
void validate(const RMSpropOptions& o) {
  check_non_negative("RMSprop", "lr", o.lr());
  check_non_negative("RMSprop", "alpha", o.alpha());
  check_non_negative("RMSprop", "eps", o.eps());
  check_non_negative("RMSprop", "weight_decay", o.weight_decay());
  check_non_negative("RMSprop", "momentum", o.momentum());
}
}  // namespace

RMSprop::RMSprop(std::vector<ParamGroup> groups, RMSpropOptions defaults)
    : OptimizerWithState(std::move(groups),
                         (validate(defaults), std::make_unique<RMSpropOptions>(defaults)),
                         "RMSprop") {
  for (ParamGroup& g : groups_) validate(options_of(g));
}

void RMSprop::step() {
  for_each_param([&](ParamGroup& group, Tensor& p, float* w) {
    const RMSpropOptions& o = options_of(group);
    const float lr = static_cast<float>(o.lr()), alpha = static_cast<float>(o.alpha());
    const float eps = static_cast<float>(o.eps()), wd = static_cast<float>(o.weight_decay());
    const float momentum = static_cast<float>(o.momentum());
    const float keep = static_cast<float>(1.0 - o.alpha());  // in double first, as PyTorch
    RMSpropState& s = state_of(p);
    if (s.square_avg.dimension() == 0) {
      s.square_avg = state_buffer(p);
      if (momentum > 0.f) s.momentum_buffer = state_buffer(p);
      if (o.centered()) s.grad_avg = state_buffer(p);
    }
    ++s.step;
    float* sq = s.square_avg.data();
    float* buf = momentum > 0.f ? s.momentum_buffer.data() : nullptr;
    float* ga = o.centered() ? s.grad_avg.data() : nullptr;
    for_each_span(p, [&](int64_t offset, const float* grad, int64_t n) {
      for (int64_t k = 0; k < n; ++k) {
        const int64_t i = offset + k;
        float g = grad[k];
        if (wd != 0.f) g += wd * w[i];
        sq[i] = sq[i] * alpha + keep * g * g;
        float avg;
        if (ga) {
          ga[i] = ga[i] * alpha + keep * g;
          avg = std::sqrt(sq[i] - ga[i] * ga[i]);
        } else {
          avg = std::sqrt(sq[i]);
        }
        avg += eps;
        if (buf) {
          buf[i] = buf[i] * momentum + g / avg;
          w[i] += -lr * buf[i];
        } else {
          w[i] += -lr * (g / avg);
        }
      }
    });
  });
}

}  // namespace ember::optim
