// nn::Module: named parameters, buffers and child modules, train/eval, state_dict.
// Children registered by reference are members of the parent (no holder layer). A Module is
// movable, not copyable: a move re-points the registrations on both sides (the parent's entry
// for a moved child, the children's link to a moved parent), so std::vector<nn::Linear> and
// returning a module by value work, and a member child stays registered after its parent moves.
#pragma once

#include <functional>
#include <iosfwd>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ember/index_tensor.hpp"
#include "ember/state_dict.hpp"
#include "ember/tensor.hpp"

namespace ember::nn {

class Module {
 public:
  Module() = default;
  virtual ~Module();
  // Modules are not copyable (two copies would share or split their parameters silently):
  // move them, or hold them in nn::ModuleList / std::vector.
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;
  Module(Module&& other) noexcept;
  Module& operator=(Module&& other) noexcept;

  // Registration: names may not contain '.'. A parameter or buffer name that is already
  // registered is replaced, as PyTorch's register_parameter does; that is how weights are tied:
  //   out.weight = out.register_parameter("weight", emb.weight);  // one tensor, two names
  // (a layer reads its member, so assign the member too). requires_grad is set on the tensor.
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

  // Each tensor once, under its first name, even when it is registered twice (tied weights),
  // as PyTorch's parameters(); state_dict() keeps every name.
  std::vector<Tensor> parameters(bool recurse = true) const;
  std::vector<std::pair<std::string, Tensor>> named_parameters(bool recurse = true) const;
  std::vector<Tensor> buffers(bool recurse = true) const;
  std::vector<std::pair<std::string, Tensor>> named_buffers(bool recurse = true) const;
  std::vector<Module*> children() const;
  std::vector<std::pair<std::string, Module*>> named_children() const;
  // This module ("" or `prefix`) and every descendant, depth first, each once.
  std::vector<std::pair<std::string, Module*>> named_modules(const std::string& prefix = "");
  std::vector<Module*> modules();
  // Calls fn on every descendant, then on this module (PyTorch's order); returns *this.
  Module& apply(const std::function<void(Module&)>& fn);
  // Sets requires_grad on every parameter (false freezes: no gradient, optimizers skip them).
  Module& requires_grad_(bool requires_grad = true);

  // Converts every floating parameter and buffer to `dtype` in place, as PyTorch's
  // module.to(torch.float64) (model.double()) and LibTorch's module->to(torch::kFloat64): the
  // handles already held (a layer's `weight`, an optimizer's parameter list, a tied weight's
  // second name) are the same tensors afterwards, now of `dtype`, with their requires_grad; a
  // gradient is converted with its tensor (a row-sparse one becomes dense when its dtype changes).
  // bool buffers stay bool. A parameter that was a view of a larger tensor gets a storage of
  // its own. Throws DtypeError for a dtype that is not floating. Returns *this.
  Module& to(Dtype dtype);

  virtual void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  void zero_grad(bool set_to_none = true);

  // Parameters and buffers by dotted name ("fc1.weight"); the tensors share storage with the
  // module's.
  StateDict state_dict() const;
  // Copies values in, converting between floating dtypes as PyTorch's copy_ (a bfloat16
  // checkpoint loads into a float32 model). Any missing, unexpected (strict), mis-shaped or
  // bool-for-float key throws one error listing all of them, and then nothing has changed.
  void load_state_dict(const StateDict& dict, bool strict = true);

  // The type name shown when printing ("Linear"); defaults to the demangled class name.
  virtual std::string name() const;
  // What goes inside the parentheses when printing, e.g. "in_features=2, out_features=3,
  // bias=True".
  virtual std::string extra_repr() const { return ""; }

 private:
  void add_child(const std::string& name, Module* child, std::shared_ptr<Module> owned);
  void relink(Module* from);
  void unlink();
  void collect(const std::string& prefix, bool recurse, bool buffers,
               std::vector<std::pair<std::string, Tensor>>& out) const;

  std::vector<std::pair<std::string, Tensor>> parameters_;
  std::vector<std::pair<std::string, Tensor>> buffers_;
  std::vector<std::pair<std::string, Module*>> children_;
  std::vector<std::shared_ptr<Module>> owned_children_;
  std::vector<Module*> parents_;  // modules whose children_ point here; kept right by moves
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

// A module whose forward maps ids to one Tensor (Embedding); a Sequential may start with one.
class IndexModule : public Module {
 public:
  virtual Tensor forward(const IndexTensor& input) = 0;
  Tensor operator()(const IndexTensor& input) { return forward(input); }
};

}  // namespace ember::nn
