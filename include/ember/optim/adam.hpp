// optim::Adam and optim::AdamW, as torch.optim.Adam / AdamW (amsgrad, L2 or decoupled decay).
//
// Row-sparse gradients take the lazy rule of torch.optim.SparseAdam: only the touched rows'
// moments and values change, and the update is lr * sqrt(1 - β2^t) / (1 - β1^t) * m / (sqrt(v)
// + eps), t counting the steps this parameter had a gradient. With default options (no weight
// decay, no amsgrad) Adam on a sparse gradient equals SparseAdam; weight decay (Adam: L2 on the
// gradient, AdamW: decoupled) and amsgrad apply to the touched rows only.
#pragma once

#include <tuple>

#include "ember/optim/optimizer.hpp"
#include "ember/options.hpp"

namespace ember::optim {

struct AdamOptions : OptimizerOptionsBase<AdamOptions> {
  explicit AdamOptions(double lr = 1e-3) : lr_(lr) {}
  EMBER_ARG(double, lr);
  EMBER_ARG(std::tuple<double EMBER_COMMA double>, betas) = std::make_tuple(0.9, 0.999);
  EMBER_ARG(double, eps) = 1e-8;
  EMBER_ARG(double, weight_decay) = 0.0;
  EMBER_ARG(bool, amsgrad) = false;
};

// AdamW takes Adam's options; only its default weight decay (1e-2) differs, and it applies
// the decay decoupled from the gradient.
inline AdamOptions AdamWOptions(double lr = 1e-3) { return AdamOptions(lr).weight_decay(1e-2); }

struct AdamState {
  int64_t step = 0;
  Array exp_avg, exp_avg_sq, max_exp_avg_sq;
  template <class S, class F>
  static void visit(S& s, F f) {
    f("exp_avg", s.exp_avg);
    f("exp_avg_sq", s.exp_avg_sq);
    f("max_exp_avg_sq", s.max_exp_avg_sq);
  }
};

class Adam : public OptimizerWithState<AdamOptions, AdamState> {
 public:
  Adam(std::vector<ParamGroup> groups, AdamOptions defaults = AdamOptions());
  Adam(std::vector<Tensor> params, AdamOptions defaults = AdamOptions())
      : Adam(std::vector<ParamGroup>{ParamGroup(std::move(params))}, std::move(defaults)) {}
  void step() override;

 protected:
  Adam(std::vector<ParamGroup> groups, std::unique_ptr<AdamOptions> defaults, const char* name,
       bool decoupled_weight_decay);

 private:
  bool decoupled_weight_decay_;
};

class AdamW : public Adam {
 public:
  AdamW(std::vector<ParamGroup> groups, AdamOptions defaults = AdamWOptions());
  AdamW(std::vector<Tensor> params, AdamOptions defaults = AdamWOptions())
      : AdamW(std::vector<ParamGroup>{ParamGroup(std::move(params))}, std::move(defaults)) {}
};

}  // namespace ember::optim
