// optim::RMSprop, as torch.optim.RMSprop (alpha, eps, weight decay, momentum, centered).
//
// Row-sparse gradients (which PyTorch's RMSprop refuses) use a lazy rule: the running
// averages and momentum of a row decay only on steps that touch it.
#pragma once

#include "ember/optim/optimizer.hpp"
#include "ember/options.hpp"

namespace ember::optim {

struct RMSpropOptions : OptimizerOptionsBase<RMSpropOptions> {
  explicit RMSpropOptions(double lr = 1e-2) : lr_(lr) {}
  EMBER_ARG(double, lr);
  EMBER_ARG(double, alpha) = 0.99;
  EMBER_ARG(double, eps) = 1e-8;
  EMBER_ARG(double, weight_decay) = 0.0;
  EMBER_ARG(double, momentum) = 0.0;
  EMBER_ARG(bool, centered) = false;
};

struct RMSpropState {
  int64_t step = 0;
  Tensor square_avg, momentum_buffer, grad_avg;
  template <class S, class F>
  static void visit(S& s, F f) {
    f("square_avg", s.square_avg);
    f("momentum_buffer", s.momentum_buffer);
    f("grad_avg", s.grad_avg);
  }
};

class RMSprop : public OptimizerWithState<RMSpropOptions, RMSpropState> {
 public:
  RMSprop(std::vector<ParamGroup> groups, RMSpropOptions defaults = RMSpropOptions());
  RMSprop(std::vector<Tensor> params, RMSpropOptions defaults = RMSpropOptions())
      : RMSprop(std::vector<ParamGroup>{ParamGroup(std::move(params))}, std::move(defaults)) {}
  void step() override;
};

}  // namespace ember::optim
