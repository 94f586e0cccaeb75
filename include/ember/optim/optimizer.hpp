// optim::Optimizer: parameter groups with per-group options, step / zero_grad, and a
// state_dict that lets a resumed run continue the exact trajectory.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "ember/autograd.hpp"
#include "ember/io/safetensors.hpp"
#include "ember/tensor.hpp"

namespace ember::optim {

// Each optimizer's options derive from this; schedulers reach lr through it.
struct OptimizerOptions {
  virtual ~OptimizerOptions() = default;
  virtual double get_lr() const = 0;
  virtual void set_lr(double lr) = 0;
  virtual std::unique_ptr<OptimizerOptions> clone() const = 0;
};

// The lr plumbing every optimizer's options share; Self has EMBER_ARG(double, lr).
template <class Self>
struct OptimizerOptionsBase : OptimizerOptions {
  double get_lr() const override { return static_cast<const Self&>(*this).lr(); }
  void set_lr(double lr) override { static_cast<Self&>(*this).lr(lr); }
  std::unique_ptr<OptimizerOptions> clone() const override {
    return std::make_unique<Self>(static_cast<const Self&>(*this));
  }
};

struct ParamGroup {
  ParamGroup(std::vector<Tensor> params) : params(std::move(params)) {}  // NOLINT: implicit
  ParamGroup(std::vector<Tensor> params, std::unique_ptr<OptimizerOptions> options)
      : params(std::move(params)), options(std::move(options)) {}
  ParamGroup(const ParamGroup& other);
  ParamGroup& operator=(const ParamGroup& other);
  ParamGroup(ParamGroup&&) = default;
  ParamGroup& operator=(ParamGroup&&) = default;

  std::vector<Tensor> params;
  std::unique_ptr<OptimizerOptions> options;  // null until added: then the defaults
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // One update of every parameter that has a gradient (dense or row-sparse) and requires grad;
  // the others (never used, or frozen with requires_grad_(false)) are left as they are.
  virtual void step() = 0;
  void zero_grad(bool set_to_none = true);
  // A group without options takes a copy of the optimizer's defaults.
  void add_param_group(ParamGroup group);
  std::vector<ParamGroup>& param_groups() { return groups_; }
  const std::vector<ParamGroup>& param_groups() const { return groups_; }
  const char* name() const { return name_; }

  // Per-parameter state ("state.<k>.<buffer>", "state.<k>.step", k counting parameters across
  // groups in order) and each group's lr (metadata, full precision). Save it with io::save.
  io::Archive state_dict() const;
  // Throws (changing nothing) when the archive does not fit these groups and parameters.
  void load_state_dict(const io::Archive& archive);

 protected:
  Optimizer(std::vector<ParamGroup> groups, std::unique_ptr<OptimizerOptions> defaults,
            const char* name);
  // Buffers by name for parameter k, and the step count; implemented by OptimizerWithState.
  virtual void save_state(io::Archive& archive) const = 0;
  virtual void load_state(const io::Archive& archive) = 0;
  std::vector<const Tensor*> all_params() const;
  // Throws DtypeError naming the optimizer for a parameter that is neither float32 nor float64.
  void check_steppable(const Tensor& p) const;
  // Whether step() updates p: it has a gradient and requires grad (a frozen parameter, with
  // requires_grad false, is skipped as PyTorch skips it, and gets no state).
  static bool has_step(const Tensor& p) { return p.requires_grad() && p.has_grad(); }
  // Calls update(group, p, w) for every parameter that step() updates (has_step), under
  // NoGradGuard, with `w` the parameter's values as one writable contiguous buffer: a parameter
  // that is a view is updated through its layout (ValuesForWrite), and the write counts as an
  // in-place write (a backward that saved the old values throws). The state buffers and the
  // spans of for_each_span index the same flat row-major order as `w`. `w` is a float* for a
  // float32 parameter and a double* for a float64 one, which steps in double as PyTorch's:
  // update is a generic lambda, the rule written once (`using T = std::remove_pointer_t<...>`).
  template <class Update>
  void for_each_param(Update&& update) {
    NoGradGuard no_grad;
    for (ParamGroup& group : groups_)
      for (Tensor& p : group.params) {
        if (!has_step(p)) continue;
        if (p.dtype() == kFloat64) {
          ValuesForWriteOf<double> w(p);
          update(group, p, w.data());
        } else {
          check_steppable(p);
          ValuesForWrite w(p);
          update(group, p, w.data());
        }
      }
  }
  // A state buffer of p's shape and dtype, every element `value` (made on a parameter's first
  // step).
  static Tensor state_buffer(const Tensor& p, double value = 0.0) {
    return full(p.shape(), value, p.dtype());
  }
  // A state buffer's values as T, the parameter's element type. A buffer of another dtype (a
  // state loaded or made before model.to(kFloat64)) is converted first, as PyTorch's
  // load_state_dict casts state to its parameter's dtype.
  template <class T>
  static T* state_values(Tensor& buffer) {
    if (buffer.dtype() != dtype_of<T>::value) buffer = buffer.to(dtype_of<T>::value);
    return buffer.impl()->storage->template data_as<T>();
  }
  // Calls update(offset, grad, n) over the parameter's gradient: once for a dense one, once per
  // touched row for a row-sparse one (coalesced first; of the parameter's dtype, else
  // DtypeError). `offset` indexes the flat parameter and its state buffers. Returns false when
  // the parameter has no gradient.
  template <class T>
  bool for_each_span(
      const Tensor& param,
      const std::function<void(int64_t offset, const T* grad, int64_t n)>& update) const;

  std::vector<ParamGroup> groups_;
  std::unique_ptr<OptimizerOptions> defaults_;
  const char* name_;
};

// The part every optimizer shares: a small State struct per parameter, created on first use.
// State provides `int64_t step` and `static void visit(S& state, F f)` calling f(name, Tensor&)
// for each buffer; an undefined buffer is "not created yet". A buffer has its parameter's
// dtype (float32 or float64).
template <class Options, class State>
class OptimizerWithState : public Optimizer {
 protected:
  using Optimizer::Optimizer;

  // A group's options, checked to be this optimizer's type (a group given another
  // optimizer's options, say AdamOptions to AdamW, would otherwise be read as the wrong type).
  const Options& options_of(const ParamGroup& group) const {
    const auto* options = dynamic_cast<const Options*>(group.options.get());
    EMBER_CHECK_VALUE(options != nullptr, name(), ": a parameter group's options were made for ",
                      "another optimizer; each group takes this optimizer's own options type");
    return *options;
  }
  State& state_of(const Tensor& param) { return state_[param.impl().get()]; }

  void save_state(io::Archive& archive) const override {
    std::vector<const Tensor*> params = all_params();
    for (size_t k = 0; k < params.size(); ++k) {
      auto it = state_.find(params[k]->impl().get());
      if (it == state_.end()) continue;
      std::string prefix = "state." + std::to_string(k) + ".";
      archive.index_tensors[prefix + "step"] = IndexTensor({it->second.step}, {});
      State::visit(it->second, [&](const char* buffer, const Tensor& value) {
        if (value.defined()) archive.tensors[prefix + buffer] = value.clone();
      });
    }
  }

  void load_state(const io::Archive& archive) override {
    std::unordered_map<const TensorImpl*, State> loaded;
    std::vector<const Tensor*> params = all_params();
    for (size_t k = 0; k < params.size(); ++k) {
      std::string prefix = "state." + std::to_string(k) + ".";
      auto step = archive.index_tensors.find(prefix + "step");
      if (step == archive.index_tensors.end()) continue;
      State s;
      s.step = step->second.item();
      State::visit(s, [&](const char* buffer, Tensor& value) {
        auto it = archive.tensors.find(prefix + buffer);
        if (it == archive.tensors.end()) return;
        EMBER_CHECK_SHAPE(it->second.shape() == params[k]->shape(), name(),
                          ": load_state_dict: ", prefix, buffer, " has shape ",
                          detail::shape_str(it->second.shape()), " but the parameter has ",
                          detail::shape_str(params[k]->shape()));
        // A copy of its own, in the parameter's dtype (a float32 state loads into float64).
        const Tensor converted = it->second.to(params[k]->dtype());
        value = converted.impl() == it->second.impl() ? converted.clone() : converted;
      });
      loaded.emplace(params[k]->impl().get(), std::move(s));
    }
    state_ = std::move(loaded);
  }

  std::unordered_map<const TensorImpl*, State> state_;
};

// Checks shared by the options of every optimizer: "SGD: lr must be non-negative, got -1".
void check_non_negative(const char* optimizer, const char* option, double value);

}  // namespace ember::optim
