// optim::Adam and optim::AdamW, as torch.optim.Adam / AdamW (amsgrad, L2 or decoupled decay).
//
// Row-sparse gradients take the lazy rule of torch.optim.SparseAdam: only the touched rows'
// moments and values change, and the update is lr * sqrt(1 - β2^t) / (1 - β1^t) * m / (sqrt(v)
// + eps), t counting the steps this parameter had a gradient. With default options (no weight
// decay, no amsgrad) Adam on a sparse gradient equals SparseAdam; weight decay (Adam: L2 on the
// gradient, AdamW: decoupled) and amsgrad apply to the touched rows only.
#pragma once

#include <tuple>
#include <type_traits>

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

// AdamW's options: Adam's, with torch.optim.AdamW's default weight decay, 1e-2. A type of its
// own so that AdamW(params, AdamOptions(lr)), which would decay by 0, does not compile.
struct AdamWOptions : OptimizerOptionsBase<AdamWOptions> {
  explicit AdamWOptions(double lr = 1e-3) : lr_(lr) {}
  EMBER_ARG(double, lr);
  EMBER_ARG(std::tuple<double EMBER_COMMA double>, betas) = std::make_tuple(0.9, 0.999);
  EMBER_ARG(double, eps) = 1e-8;
  EMBER_ARG(double, weight_decay) = 1e-2;
  EMBER_ARG(bool, amsgrad) = false;
};

struct AdamState {
  int64_t step = 0;
  Tensor exp_avg, exp_avg_sq, max_exp_avg_sq;
  template <class S, class F>
  static void visit(S& s, F f) {
    f("exp_avg", s.exp_avg);
    f("exp_avg_sq", s.exp_avg_sq);
    f("max_exp_avg_sq", s.max_exp_avg_sq);
  }
};

// The step both share; Options is AdamOptions or AdamWOptions (instantiated in adam.cpp).
template <class Options>
class AdamFamily : public OptimizerWithState<Options, AdamState> {
 public:
  void step() override;

 protected:
  AdamFamily(std::vector<ParamGroup> groups, const Options& defaults, const char* name,
             bool decoupled_weight_decay);

 private:
  bool decoupled_weight_decay_;
};
extern template class AdamFamily<AdamOptions>;
extern template class AdamFamily<AdamWOptions>;

class Adam : public AdamFamily<AdamOptions> {
 public:
  Adam(std::vector<ParamGroup> groups, AdamOptions defaults = AdamOptions());
  Adam(std::vector<Tensor> params, AdamOptions defaults = AdamOptions())
      : Adam(std::vector<ParamGroup>{ParamGroup(std::move(params))}, std::move(defaults)) {}
};

class AdamW : public AdamFamily<AdamWOptions> {
 public:
  AdamW(std::vector<ParamGroup> groups, AdamWOptions defaults = AdamWOptions());
  AdamW(std::vector<Tensor> params, AdamWOptions defaults = AdamWOptions())
      : AdamW(std::vector<ParamGroup>{ParamGroup(std::move(params))}, std::move(defaults)) {}
  // Adam's options are refused at compile time, with the reason.
  template <class Params, class O, std::enable_if_t<std::is_same_v<O, AdamOptions>, int> = 0>
  AdamW(Params params, O) : AdamW(std::move(params), AdamWOptions()) {
    static_assert(!std::is_same_v<O, AdamOptions>,
                  "AdamW takes AdamWOptions, not AdamOptions: AdamOptions' weight decay default "
                  "is 0, torch.optim.AdamW's (and AdamWOptions') is 1e-2");
  }
};

}  // namespace ember::optim
