// Optimizer: groups, zero_grad and the state_dict shared by every optimizer.
#include "ember/optim/optimizer.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>

#include "ember/autograd.hpp"

namespace ember::optim {

ParamGroup::ParamGroup(const ParamGroup& other)
    : params(other.params), options(other.options ? other.options->clone() : nullptr) {}

ParamGroup& ParamGroup::operator=(const ParamGroup& other) {
  params = other.params;
  options = other.options ? other.options->clone() : nullptr;
  return *this;
}

void check_non_negative(const char* optimizer, const char* option, double value) {
  EMBER_CHECK_VALUE(value >= 0.0, optimizer, ": ", option, " must be non-negative, got ", value);
}

Optimizer::Optimizer(std::vector<ParamGroup> groups, std::unique_ptr<OptimizerOptions> defaults,
                     const char* name)
    : defaults_(std::move(defaults)), name_(name) {
  for (ParamGroup& g : groups) add_param_group(std::move(g));
}

void Optimizer::add_param_group(ParamGroup group) {
  std::set<const TensorImpl*> seen;
  for (const Tensor* p : all_params()) seen.insert(p->impl().get());
  for (size_t i = 0; i < group.params.size(); ++i) {
    const Tensor& p = group.params[i];
    EMBER_CHECK_VALUE(p.defined(), name_, ": parameter ", i, " of group ", groups_.size(),
                      " is an undefined tensor");
    EMBER_CHECK_VALUE(p.is_leaf(), name_, ": parameter ", i, " of group ", groups_.size(),
                      " is not a leaf tensor and cannot be optimized");
    EMBER_CHECK_VALUE(seen.insert(p.impl().get()).second, name_, ": parameter ", i, " of group ",
                      groups_.size(), " appears in more than one parameter group");
  }
  if (!group.options) group.options = defaults_->clone();
  groups_.push_back(std::move(group));
}

std::vector<const Tensor*> Optimizer::all_params() const {
  std::vector<const Tensor*> out;
  for (const ParamGroup& g : groups_)
    for (const Tensor& p : g.params) out.push_back(&p);
  return out;
}

void Optimizer::check_steppable(const Tensor& p) const {
  EMBER_CHECK_DTYPE(p.dtype() == kFloat32 || p.dtype() == kFloat64, name_, ": a parameter of ",
                    "shape ", detail::shape_str(p.shape()), " is ", dtype_name(p.dtype()),
                    "; optimizers update float32 or float64 parameters (model.to(kFloat32))");
}

template <class T>
bool Optimizer::for_each_span(const Tensor& param,
                              const std::function<void(int64_t, const T*, int64_t)>& update) const {
  if (param.has_sparse_grad()) {
    RowSparseGrad& g = param.sparse_grad();
    EMBER_CHECK_DTYPE(g.dtype == param.dtype(), name_, ": a ", dtype_name(param.dtype()),
                      " parameter of shape ", detail::shape_str(param.shape()), " has a ",
                      dtype_name(g.dtype), " row-sparse gradient; a gradient has its ",
                      "parameter's dtype");
    g.coalesce();
    const int64_t width = g.row_size();
    const T* values = g.values_of<T>().data();
    for (size_t k = 0; k < g.rows.size(); ++k)
      update(g.rows[k] * width, values + static_cast<int64_t>(k) * width, width);
    return true;
  }
  if (!param.has_grad()) return false;
  const Tensor grad(param.impl()->grad);  // never a view: set_grad and backward keep it whole
  update(0, grad.data_ptr<T>(), grad.numel());
  return true;
}
template bool Optimizer::for_each_span<float>(
    const Tensor&, const std::function<void(int64_t, const float*, int64_t)>&) const;
template bool Optimizer::for_each_span<double>(
    const Tensor&, const std::function<void(int64_t, const double*, int64_t)>&) const;

void Optimizer::zero_grad(bool set_to_none) {
  for (ParamGroup& g : groups_)
    for (Tensor& p : g.params) {
      if (set_to_none || !p.has_grad())
        p.clear_grad();
      else
        p.set_grad(zeros_like(p));
    }
}

io::Archive Optimizer::state_dict() const {
  io::Archive archive;
  archive.metadata["optimizer"] = name_;
  archive.metadata["param_groups"] = std::to_string(groups_.size());
  for (size_t g = 0; g < groups_.size(); ++g) {
    char lr[64];
    std::snprintf(lr, sizeof lr, "%.17g", groups_[g].options->get_lr());
    archive.metadata["param_groups." + std::to_string(g) + ".lr"] = lr;
    archive.metadata["param_groups." + std::to_string(g) + ".size"] =
        std::to_string(groups_[g].params.size());
  }
  save_state(archive);
  return archive;
}

void Optimizer::load_state_dict(const io::Archive& archive) {
  auto meta = [&](const std::string& key) {
    auto it = archive.metadata.find(key);
    EMBER_CHECK_VALUE(it != archive.metadata.end(), name_, ": load_state_dict: missing '", key,
                      "'; is this an optimizer state_dict?");
    return it->second;
  };
  EMBER_CHECK_VALUE(meta("optimizer") == name_, name_, ": load_state_dict: the state is from ",
                    meta("optimizer"));
  EMBER_CHECK_VALUE(meta("param_groups") == std::to_string(groups_.size()), name_,
                    ": load_state_dict: the state has ", meta("param_groups"),
                    " parameter groups, this optimizer ", groups_.size());
  std::vector<double> lrs;
  for (size_t g = 0; g < groups_.size(); ++g) {
    std::string prefix = "param_groups." + std::to_string(g);
    EMBER_CHECK_VALUE(meta(prefix + ".size") == std::to_string(groups_[g].params.size()), name_,
                      ": load_state_dict: group ", g, " has ", meta(prefix + ".size"),
                      " parameters in the state, ", groups_[g].params.size(), " here");
    const std::string lr = meta(prefix + ".lr");
    char* end = nullptr;
    lrs.push_back(std::strtod(lr.c_str(), &end));
    EMBER_CHECK_VALUE(!lr.empty() && *end == '\0' && std::isfinite(lrs.back()), name_,
                      ": load_state_dict: '", prefix, ".lr' is '", lr, "', not a number");
  }
  load_state(archive);  // validates buffers before replacing any state
  for (size_t g = 0; g < groups_.size(); ++g) groups_[g].options->set_lr(lrs[g]);
}

}  // namespace ember::optim
