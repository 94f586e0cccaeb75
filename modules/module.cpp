// nn::Module: registration, traversal, state_dict and printing.
#include "ember/nn/module.hpp"

#include <cxxabi.h>

#include <algorithm>
#include <cstdlib>
#include <ostream>
#include <set>
#include <sstream>
#include <typeinfo>

#include "ember/autograd.hpp"

namespace ember::nn {

namespace {
void check_name(const std::string& name, const char* what) {
  EMBER_CHECK_VALUE(!name.empty() && name.find('.') == std::string::npos, "register_", what,
                    ": name '", name, "' must be non-empty and must not contain '.'");
}

template <class Entries>
bool has_name(const Entries& entries, const std::string& name) {
  return std::any_of(entries.begin(), entries.end(),
                     [&](const auto& e) { return e.first == name; });
}
}  // namespace

Tensor& Module::register_parameter(const std::string& name, Tensor tensor, bool requires_grad) {
  check_name(name, "parameter");
  EMBER_CHECK_VALUE(!has_name(parameters_, name), "register_parameter: '", name,
                    "' is already registered in ", this->name());
  EMBER_CHECK_VALUE(tensor.defined(), "register_parameter: '", name, "' is an undefined tensor");
  tensor.requires_grad_(requires_grad);
  parameters_.emplace_back(name, std::move(tensor));
  return parameters_.back().second;
}

Tensor& Module::register_buffer(const std::string& name, Tensor tensor) {
  check_name(name, "buffer");
  EMBER_CHECK_VALUE(!has_name(buffers_, name), "register_buffer: '", name,
                    "' is already registered in ", this->name());
  buffers_.emplace_back(name, std::move(tensor));
  return buffers_.back().second;
}

void Module::add_child(const std::string& name, Module* child, std::shared_ptr<Module> owned) {
  check_name(name, "module");
  EMBER_CHECK_VALUE(!has_name(children_, name), "register_module: '", name,
                    "' is already registered in ", this->name());
  children_.emplace_back(name, child);
  if (owned) owned_children_.push_back(std::move(owned));
}

void Module::collect(const std::string& prefix, bool recurse, bool buffers,
                     std::vector<std::pair<std::string, Tensor>>& out) const {
  for (const auto& [n, t] : buffers ? buffers_ : parameters_) out.emplace_back(prefix + n, t);
  if (!recurse) return;
  for (const auto& [n, child] : children_) child->collect(prefix + n + ".", true, buffers, out);
}

std::vector<std::pair<std::string, Tensor>> Module::named_parameters(bool recurse) const {
  std::vector<std::pair<std::string, Tensor>> out;
  collect("", recurse, false, out);
  return out;
}

std::vector<std::pair<std::string, Tensor>> Module::named_buffers(bool recurse) const {
  std::vector<std::pair<std::string, Tensor>> out;
  collect("", recurse, true, out);
  return out;
}

std::vector<Tensor> Module::parameters(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [n, t] : named_parameters(recurse)) out.push_back(t);
  return out;
}

std::vector<Module*> Module::children() const {
  std::vector<Module*> out;
  for (const auto& [n, c] : children_) out.push_back(c);
  return out;
}

std::vector<std::pair<std::string, Module*>> Module::named_children() const { return children_; }

void Module::train(bool on) {
  training_ = on;
  for (auto& [n, child] : children_) child->train(on);
}

void Module::zero_grad(bool set_to_none) {
  for (Tensor& p : parameters()) {
    if (set_to_none || !p.has_grad()) {
      p.clear_grad();
    } else {
      p.set_grad(zeros_like(p));
    }
  }
}

StateDict Module::state_dict() const {
  StateDict dict;
  for (auto& [n, t] : named_parameters()) dict[n] = t.detach();
  for (auto& [n, t] : named_buffers()) dict[n] = t.detach();
  return dict;
}

void Module::load_state_dict(const StateDict& dict, bool strict) {
  std::vector<std::pair<std::string, Tensor>> targets = named_parameters();
  for (auto& b : named_buffers()) targets.push_back(b);
  std::vector<std::string> missing, mismatched, unexpected;
  std::set<std::string> known;
  for (auto& [n, t] : targets) {
    known.insert(n);
    auto it = dict.find(n);
    if (it == dict.end()) {
      missing.push_back(n);
    } else if (it->second.shape() != t.shape()) {
      mismatched.push_back(n + " (checkpoint " + detail::shape_str(it->second.shape()) +
                           ", model " + detail::shape_str(t.shape()) + ")");
    }
  }
  for (auto& [n, t] : dict)
    if (!known.count(n)) unexpected.push_back(n);
  std::ostringstream problems;
  auto list = [&](const char* what, const std::vector<std::string>& names) {
    if (names.empty()) return;
    problems << "\n  " << what << ": ";
    for (size_t i = 0; i < names.size(); ++i) problems << (i ? ", " : "") << names[i];
  };
  if (strict) list("missing keys", missing);
  if (strict) list("unexpected keys", unexpected);
  list("shape mismatch", mismatched);
  EMBER_CHECK_T(ShapeError, problems.str().empty(), "load_state_dict: cannot load into ", name(),
                ", nothing was changed:", problems.str());
  NoGradGuard no_grad;
  for (auto& [n, t] : targets) {
    auto it = dict.find(n);
    if (it == dict.end()) continue;
    t.data() = it->second.data();
    t.bump_version();
  }
}

std::string Module::name() const {
  const char* mangled = typeid(*this).name();
  int status = 0;
  char* demangled = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
  std::string full = status == 0 && demangled ? demangled : mangled;
  std::free(demangled);
  size_t colon = full.rfind("::");
  return colon == std::string::npos ? full : full.substr(colon + 2);
}

namespace {
void print(std::ostream& out, const Module& m, int indent) {
  out << m.name() << "(" << m.extra_repr();
  auto children = m.named_children();
  if (children.empty()) {
    out << ")";
    return;
  }
  for (auto& [n, c] : children) {
    out << "\n" << std::string(static_cast<size_t>(indent + 2), ' ') << "(" << n << "): ";
    print(out, *c, indent + 2);
  }
  out << "\n" << std::string(static_cast<size_t>(indent), ' ') << ")";
}
}  // namespace

std::ostream& operator<<(std::ostream& out, const Module& module) {
  print(out, module, 0);
  return out;
}

}  // namespace ember::nn
