// RMSprop: one fused pass per parameter or per touched row.
#include "ember/optim/rmsprop.hpp"

#include <cmath>
#include <type_traits>

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
  // In the parameter's element type T: float for float32, double for float64 (as PyTorch).
  for_each_param([&](ParamGroup& group, Tensor& p, auto* w) {
    using T = std::remove_pointer_t<decltype(w)>;
    const RMSpropOptions& o = options_of(group);
    const T lr = static_cast<T>(o.lr()), alpha = static_cast<T>(o.alpha());
    const T eps = static_cast<T>(o.eps()), wd = static_cast<T>(o.weight_decay());
    const T momentum = static_cast<T>(o.momentum());
    const T keep = static_cast<T>(1.0 - o.alpha());  // in double first, as PyTorch
    RMSpropState& s = state_of(p);
    if (!s.square_avg.defined()) {
      s.square_avg = state_buffer(p);
      if (momentum > T(0)) s.momentum_buffer = state_buffer(p);
      if (o.centered()) s.grad_avg = state_buffer(p);
    }
    ++s.step;
    T* sq = state_values<T>(s.square_avg);
    T* buf = momentum > T(0) ? state_values<T>(s.momentum_buffer) : nullptr;
    T* ga = o.centered() ? state_values<T>(s.grad_avg) : nullptr;
    for_each_span<T>(p, [&](int64_t offset, const T* grad, int64_t n) {
      for (int64_t k = 0; k < n; ++k) {
        const int64_t i = offset + k;
        T g = grad[k];
        if (wd != T(0)) g += wd * w[i];
        sq[i] = sq[i] * alpha + keep * g * g;
        T avg;
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
