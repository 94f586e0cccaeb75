// optim::Adagrad, as torch.optim.Adagrad (lr_decay, weight decay, initial accumulator, eps).
//
// Row-sparse gradients follow PyTorch's sparse Adagrad: the touched rows' squared sums grow
// and only those rows move, with the step's decayed lr; weight decay, which PyTorch refuses
// with sparse gradients, applies to the touched rows.
#pragma once

#include "ember/optim/optimizer.hpp"
#include "ember/options.hpp"

namespace ember::optim {

struct AdagradOptions : OptimizerOptionsBase<AdagradOptions> {
  explicit AdagradOptions(double lr = 1e-2) : lr_(lr) {}
  EMBER_ARG(double, lr);
  EMBER_ARG(double, lr_decay) = 0.0;
  EMBER_ARG(double, weight_decay) = 0.0;
  EMBER_ARG(double, initial_accumulator_value) = 0.0;
  EMBER_ARG(double, eps) = 1e-10;
};

struct AdagradState {
  int64_t step = 0;
  Tensor sum;
  template <class S, class F>
  static void visit(S& s, F f) {
    f("sum", s.sum);
  }
};

class Adagrad : public OptimizerWithState<AdagradOptions, AdagradState> {
 public:
  Adagrad(std::vector<ParamGroup> groups, AdagradOptions defaults = AdagradOptions());
  Adagrad(std::vector<Tensor> params, AdagradOptions defaults = AdagradOptions())
      : Adagrad(std::vector<ParamGroup>{ParamGroup(std::move(params))}, std::move(defaults)) {}
  void step() override;
};

}  // namespace ember::optim
