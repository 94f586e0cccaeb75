// Sequential, ModuleList and ModuleDict.
#include "ember/nn/containers.hpp"

namespace ember::nn {

Sequential::Sequential(std::initializer_list<std::shared_ptr<Module>> layers) {
  for (const auto& layer : layers) push_back(layer);
}

void Sequential::push_back(std::shared_ptr<Module> layer) {
  EMBER_CHECK_VALUE(layer != nullptr, "Sequential: cannot add a null layer");
  auto* takes_tensor = dynamic_cast<TensorModule*>(layer.get());
  auto* takes_ids = dynamic_cast<IndexModule*>(layer.get());
  if (layers_.empty() && takes_ids) {
    head_ = takes_ids;
  } else {
    EMBER_CHECK_VALUE(takes_tensor != nullptr, "Sequential: layer ", layers_.size(), " (",
                      layer->name(), ") does not map a Tensor to a Tensor",
                      takes_ids ? "; only the first layer may take an IndexTensor" : "");
    body_.push_back(takes_tensor);
  }
  register_module(std::to_string(layers_.size()), layer);
  layers_.push_back(std::move(layer));
}

Tensor Sequential::run_body(Tensor x, size_t from) {
  for (size_t i = from; i < body_.size(); ++i) x = body_[i]->forward(x);
  return x;
}

Tensor Sequential::forward(const Tensor& x) {
  EMBER_CHECK_VALUE(head_ == nullptr, "Sequential: the first layer (", head_->name(),
                    ") takes an IndexTensor, but forward got a Tensor");
  return run_body(x, 0);
}

Tensor Sequential::forward(const IndexTensor& ids) {
  EMBER_CHECK_VALUE(head_ != nullptr, "Sequential: forward got an IndexTensor, but ",
                    layers_.empty()
                        ? std::string("there are no layers")
                        : "the first layer (" + layers_[0]->name() + ") takes a Tensor");
  return run_body(head_->forward(ids), 0);
}

Module& Sequential::operator[](size_t i) {
  EMBER_CHECK_INDEX(i < layers_.size(), "Sequential: index ", i, " out of range for ",
                    layers_.size(), " layers");
  return *layers_[i];
}

ModuleList::ModuleList(std::initializer_list<std::shared_ptr<Module>> modules) {
  for (const auto& m : modules) push_back(m);
}

void ModuleList::push_back(std::shared_ptr<Module> module) {
  EMBER_CHECK_VALUE(module != nullptr, "ModuleList: cannot add a null module");
  register_module(std::to_string(modules_.size()), module);
  modules_.push_back(std::move(module));
}

Module& ModuleList::operator[](size_t i) {
  EMBER_CHECK_INDEX(i < modules_.size(), "ModuleList: index ", i, " out of range for ",
                    modules_.size(), " modules");
  return *modules_[i];
}

ModuleDict::ModuleDict(std::initializer_list<Item> items) {
  for (const auto& [key, m] : items) insert(key, m);
}

void ModuleDict::insert(const std::string& key, std::shared_ptr<Module> module) {
  EMBER_CHECK_VALUE(module != nullptr, "ModuleDict: cannot add a null module as '", key, "'");
  register_module(key, module);  // checks the name and that it is new
  items_.emplace_back(key, std::move(module));
}

bool ModuleDict::contains(const std::string& key) const {
  for (const auto& [k, m] : items_)
    if (k == key) return true;
  return false;
}

std::vector<std::string> ModuleDict::keys() const {
  std::vector<std::string> out;
  for (const auto& [k, m] : items_) out.push_back(k);
  return out;
}

Module& ModuleDict::operator[](const std::string& key) {
  for (auto& [k, m] : items_)
    if (k == key) return *m;
  std::string known;
  for (const auto& k : keys()) known += (known.empty() ? "" : ", ") + k;
  throw IndexError(
      ember::detail::cat("ModuleDict: no module named '", key, "' (keys: ", known, ")"));
}

}  // namespace ember::nn
