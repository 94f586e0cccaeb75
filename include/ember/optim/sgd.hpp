// optim::SGD, as torch.optim.SGD: momentum, dampening, weight decay, Nesterov.
//
// Row-sparse gradients update the touched rows only. Weight decay applies to those rows, and
// the momentum buffer is lazy: a row's buffer decays only on steps that touch it (it starts at
// zero, so the first touch gives buf = (1 - dampening) * grad). Without momentum and weight
// decay this equals torch.optim.SGD on a sparse gradient.
#pragma once

#include "ember/optim/optimizer.hpp"
#include "ember/options.hpp"

namespace ember::optim {

struct SGDOptions : OptimizerOptionsBase<SGDOptions> {
  explicit SGDOptions(double lr) : lr_(lr) {}
  EMBER_ARG(double, lr);
  EMBER_ARG(double, momentum) = 0.0;
  EMBER_ARG(double, dampening) = 0.0;
  EMBER_ARG(double, weight_decay) = 0.0;
  EMBER_ARG(bool, nesterov) = false;
};

struct SGDState {
  int64_t step = 0;
  Tensor momentum_buffer;
  template <class S, class F>
  static void visit(S& s, F f) {
    f("momentum_buffer", s.momentum_buffer);
  }
};

class SGD : public OptimizerWithState<SGDOptions, SGDState> {
 public:
  SGD(std::vector<ParamGroup> groups, SGDOptions defaults);
  SGD(std::vector<Tensor> params, SGDOptions defaults)
      : SGD(std::vector<ParamGroup>{ParamGroup(std::move(params))}, std::move(defaults)) {}
  void step() override;
};

}  // namespace ember::optim
