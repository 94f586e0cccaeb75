// Containers as PyTorch's: Sequential (chains layers), ModuleList (a variable number of layers,
// named "0", "1", ...) and ModuleDict (layers by name). Each owns its modules and registers
// them, so parameters(), state_dict() and train() reach them.
#pragma once

#include <initializer_list>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "ember/nn/module.hpp"

// Helpers in ember::detail (an nn::detail would hide ember::detail inside ember::nn).
namespace ember::detail {
// Moves a module given by value onto the heap; an lvalue would be a copy, which modules forbid.
template <class M>
std::shared_ptr<std::decay_t<M>> own(M&& module) {
  static_assert(!std::is_lvalue_reference_v<M>,
                "modules are not copyable: pass std::move(module), a temporary or a shared_ptr");
  return std::make_shared<std::decay_t<M>>(std::move(module));
}
template <class M>
using if_module = std::enable_if_t<std::is_base_of_v<nn::Module, std::decay_t<M>>>;

// The typed access both lists share: "ModuleList::at: module 1 is a ReLU, not the type asked".
template <class M>
M& typed(nn::Module& m, const char* where, const std::string& key) {
  auto* typed = dynamic_cast<M*>(&m);
  EMBER_CHECK_VALUE(typed != nullptr, where, ": module ", key, " is a ", m.name(),
                    ", not the type asked for");
  return *typed;
}
}  // namespace ember::detail

namespace ember::nn {

// Applies its layers in order, named "0", "1", ... as in PyTorch. Every layer maps a Tensor to
// a Tensor, except that the first may take ids (an IndexModule such as Embedding): then the
// Sequential is called with an IndexTensor.
class Sequential : public TensorModule {
 public:
  Sequential() = default;
  Sequential(std::initializer_list<std::shared_ptr<Module>> layers);
  void push_back(std::shared_ptr<Module> layer);
  template <class M, class = detail::if_module<M>>
  void push_back(M&& layer) {
    push_back(std::shared_ptr<Module>(detail::own(std::forward<M>(layer))));
  }
  Tensor forward(const Tensor& x) override;
  Tensor forward(const IndexTensor& ids);
  using TensorModule::operator();
  Tensor operator()(const IndexTensor& ids) { return forward(ids); }
  size_t size() const { return layers_.size(); }
  Module& operator[](size_t i);
  template <class M>
  M& at(size_t i) {
    return detail::typed<M>((*this)[i], "Sequential::at", std::to_string(i));
  }

 private:
  Tensor run_body(Tensor x, size_t from);
  std::vector<std::shared_ptr<Module>> layers_;
  IndexModule* head_ = nullptr;      // the first layer when it takes ids
  std::vector<TensorModule*> body_;  // the layers that take a Tensor, in order
};

// A list of modules, named "0", "1", ... as PyTorch's nn.ModuleList: the documented way to
// hold a variable number of layers (std::vector<nn::Linear> works too, but registers nothing).
class ModuleList : public Module {
 public:
  ModuleList() = default;
  ModuleList(std::initializer_list<std::shared_ptr<Module>> modules);
  void push_back(std::shared_ptr<Module> module);
  template <class M, class = detail::if_module<M>>
  void push_back(M&& module) {
    push_back(std::shared_ptr<Module>(detail::own(std::forward<M>(module))));
  }
  size_t size() const { return modules_.size(); }
  bool empty() const { return modules_.empty(); }
  Module& operator[](size_t i);
  std::shared_ptr<Module> ptr(size_t i) { return modules_.at(i); }
  template <class M>
  M& at(size_t i) {
    return detail::typed<M>((*this)[i], "ModuleList::at", std::to_string(i));
  }
  auto begin() { return modules_.begin(); }
  auto end() { return modules_.end(); }

 private:
  std::vector<std::shared_ptr<Module>> modules_;
};

// Modules by name, in insertion order, as PyTorch's nn.ModuleDict.
class ModuleDict : public Module {
 public:
  using Item = std::pair<std::string, std::shared_ptr<Module>>;
  ModuleDict() = default;
  ModuleDict(std::initializer_list<Item> items);
  void insert(const std::string& key, std::shared_ptr<Module> module);
  template <class M, class = detail::if_module<M>>
  void insert(const std::string& key, M&& module) {
    insert(key, std::shared_ptr<Module>(detail::own(std::forward<M>(module))));
  }
  bool contains(const std::string& key) const;
  size_t size() const { return items_.size(); }
  std::vector<std::string> keys() const;
  Module& operator[](const std::string& key);
  template <class M>
  M& at(const std::string& key) {
    return detail::typed<M>((*this)[key], "ModuleDict::at", "'" + key + "'");
  }
  auto begin() { return items_.begin(); }
  auto end() { return items_.end(); }

 private:
  std::vector<Item> items_;
};

}  // namespace ember::nn
