// nn::Module: named parameters, buffers and child modules, train/eval, state_dict.
// Children registered by reference are members of the parent (no holder layer); a Module is
// therefore neither copied nor moved.
#pragma once

#include <iosfwd>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ember/tensor.hpp"

namespace ember {
using StateDict = std::map<std::string, Tensor>;
}

namespace ember::nn {

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // Registration: names may not contain '.', and may not repeat.
  Tensor& register_parameter(const std::string& name, Tensor tensor, bool requires_grad = true);
  Tensor& register_buffer(const std::string& name, Tensor tensor);
  template <class M>
  M& register_module(const std::string& name, M& child) {
    add_child(name, &child, nullptr);
    return child;
  }
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> child) {
    add_child(name, child.get(), child);
    return child;
  }

  std::vector<Tensor> parameters(bool recurse = true) const;
  std::vector<std::pair<std::string, Tensor>> named_parameters(bool recurse = true) const;
  std::vector<std::pair<std::string, Tensor>> named_buffers(bool recurse = true) const;
  std::vector<Module*> children() const;
  std::vector<std::pair<std::string, Module*>> named_children() const;

  virtual void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  void zero_grad(bool set_to_none = true);

  // Parameters and buffers by dotted name ("fc1.weight"); the tensors share storage with the
  // module's.
  StateDict state_dict() const;
  // Copies values in. Any missing, unexpected (strict) or mis-shaped key throws one error
  // listing all of them, and then nothing has changed.
  void load_state_dict(const StateDict& dict, bool strict = true);

  // The type name shown when printing ("Linear"); defaults to the demangled class name.
  virtual std::string name() const;
  // What goes inside the parentheses when printing, e.g. "in_features=2, out_features=3,
  // bias=True".
  virtual std::string extra_repr() const { return ""; }

 private:
  void add_child(const std::string& name, Module* child, std::shared_ptr<Module> owned);
  void collect(const std::string& prefix, bool recurse, bool buffers,
               std::vector<std::pair<std::string, Tensor>>& out) const;

  std::vector<std::pair<std::string, Tensor>> parameters_;
  std::vector<std::pair<std::string, Tensor>> buffers_;
  std::vector<std::pair<std::string, Module*>> children_;
  std::vector<std::shared_ptr<Module>> owned_children_;
  bool training_ = true;
};

// PyTorch's repr: the module tree, one child per line.
std::ostream& operator<<(std::ostream& out, const Module& module);

// A module whose forward maps one Tensor to one Tensor; what Sequential chains.
class TensorModule : public Module {
 public:
  virtual Tensor forward(const Tensor& input) = 0;
  Tensor operator()(const Tensor& input) { return forward(input); }
};

}  // namespace ember::nn
