// nn::Module: registration, traversal, state_dict and printing.
#include "ember/nn/module.hpp"

#include <cxxabi.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
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

// Replaces the tensor registered under `name` (keeping its place), or appends it.
Tensor& put(std::vector<std::pair<std::string, Tensor>>& entries, const std::string& name,
            Tensor tensor) {
  for (auto& [n, t] : entries)
    if (n == name) return t = std::move(tensor);
  entries.emplace_back(name, std::move(tensor));
  return entries.back().second;
}

void erase_all(std::vector<Module*>& modules, Module* m) {
  modules.erase(std::remove(modules.begin(), modules.end(), m), modules.end());
}

// Keeps the first entry of each tensor: tied weights are listed once.
std::vector<std::pair<std::string, Tensor>> first_of_each(
    std::vector<std::pair<std::string, Tensor>> all) {
  std::set<const TensorImpl*> seen;
  std::vector<std::pair<std::string, Tensor>> out;
  for (auto& e : all)
    if (seen.insert(e.second.impl().get()).second) out.push_back(std::move(e));
  return out;
}
}  // namespace

Module::~Module() { unlink(); }

Module::Module(Module&& other) noexcept
    : parameters_(std::move(other.parameters_)),
      buffers_(std::move(other.buffers_)),
      children_(std::move(other.children_)),
      owned_children_(std::move(other.owned_children_)),
      parents_(std::move(other.parents_)),
      training_(other.training_) {
  relink(&other);
  other.children_.clear();
  other.parents_.clear();
}

Module& Module::operator=(Module&& other) noexcept {
  if (this == &other) return *this;
  // The old children lose this parent; the parents that hold this address keep it.
  for (auto& [n, c] : children_) erase_all(c->parents_, this);
  std::vector<Module*> kept = std::move(parents_);
  parameters_ = std::move(other.parameters_);
  buffers_ = std::move(other.buffers_);
  children_ = std::move(other.children_);
  owned_children_ = std::move(other.owned_children_);
  parents_ = std::move(other.parents_);
  training_ = other.training_;
  relink(&other);
  for (Module* p : kept)
    if (std::find(parents_.begin(), parents_.end(), p) == parents_.end()) parents_.push_back(p);
  other.children_.clear();
  other.parents_.clear();
  return *this;
}

// After this took over `from`'s registrations: its children's parent link, and its parents'
// entries for it, point here. A member child moved next (the derived class moves members after
// its base) then finds this parent in its own parents_ and re-points the entry to itself.
void Module::relink(Module* from) {
  for (auto& [n, c] : children_) std::replace(c->parents_.begin(), c->parents_.end(), from, this);
  for (Module* p : parents_)
    for (auto& entry : p->children_)
      if (entry.second == from) entry.second = this;
}

// A destroyed module leaves no dangling pointer behind in its parents or children.
void Module::unlink() {
  for (auto& [n, c] : children_) erase_all(c->parents_, this);
  for (Module* p : parents_)
    p->children_.erase(std::remove_if(p->children_.begin(), p->children_.end(),
                                      [&](const auto& e) { return e.second == this; }),
                       p->children_.end());
  children_.clear();
  parents_.clear();
}

Tensor& Module::register_parameter(const std::string& name, Tensor tensor, bool requires_grad) {
  check_name(name, "parameter");
  EMBER_CHECK_VALUE(tensor.defined(), "register_parameter: '", name, "' is an undefined tensor");
  tensor.requires_grad_(requires_grad);
  return put(parameters_, name, std::move(tensor));
}

Tensor& Module::register_buffer(const std::string& name, Tensor tensor) {
  check_name(name, "buffer");
  EMBER_CHECK_VALUE(tensor.defined(), "register_buffer: '", name, "' is an undefined tensor");
  return put(buffers_, name, std::move(tensor));
}

void Module::add_child(const std::string& name, Module* child, std::shared_ptr<Module> owned) {
  check_name(name, "module");
  EMBER_CHECK_VALUE(!has_name(children_, name), "register_module: '", name,
                    "' is already registered in ", this->name());
  // A module inside itself (directly, or A in B in A) would make every recursive walk, from
  // parameters() on, recurse until the stack overflows: refuse it here, walking up the parents.
  std::vector<const Module*> ancestors{this};
  for (size_t i = 0; i < ancestors.size(); ++i) {
    EMBER_CHECK_VALUE(ancestors[i] != child, "register_module: '", name, "' (", child->name(),
                      ") is ", i == 0 ? "the module itself" : "an ancestor of this module", " (",
                      this->name(), "); registering it would make a cycle");
    for (const Module* parent : ancestors[i]->parents_)
      if (std::find(ancestors.begin(), ancestors.end(), parent) == ancestors.end())
        ancestors.push_back(parent);
  }
  children_.emplace_back(name, child);
  child->parents_.push_back(this);
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
  return first_of_each(std::move(out));
}

std::vector<std::pair<std::string, Tensor>> Module::named_buffers(bool recurse) const {
  std::vector<std::pair<std::string, Tensor>> out;
  collect("", recurse, true, out);
  return first_of_each(std::move(out));
}

std::vector<Tensor> Module::buffers(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [n, t] : named_buffers(recurse)) out.push_back(t);
  return out;
}

std::vector<std::pair<std::string, Module*>> Module::named_modules(const std::string& prefix) {
  std::vector<std::pair<std::string, Module*>> out{{prefix, this}};
  std::set<const Module*> seen{this};
  // Depth first, in registration order: out grows while it is walked.
  for (size_t i = 0; i < out.size(); ++i) {
    auto [path, m] = out[i];
    std::vector<std::pair<std::string, Module*>> kids;
    for (auto& [n, c] : m->children_)
      if (seen.insert(c).second) kids.emplace_back(path.empty() ? n : path + "." + n, c);
    out.insert(out.begin() + static_cast<std::ptrdiff_t>(i) + 1, kids.begin(), kids.end());
  }
  return out;
}

std::vector<Module*> Module::modules() {
  std::vector<Module*> out;
  for (auto& [n, m] : named_modules()) out.push_back(m);
  return out;
}

Module& Module::apply(const std::function<void(Module&)>& fn) {
  for (auto& [n, c] : children_) c->apply(fn);
  fn(*this);
  return *this;
}

Module& Module::requires_grad_(bool requires_grad) {
  for (Tensor& p : parameters()) p.requires_grad_(requires_grad);
  return *this;
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

namespace {
// t's values in `dtype`, put in place of its own: every handle to t sees the new dtype (the
// TensorImpl is kept, its storage and layout replaced), as PyTorch's `param.data = ...`.
void convert_in_place(const Tensor& t, Dtype dtype) {
  TensorImpl& impl = *t.impl();
  if (impl.sparse_grad && dtype != impl.sparse_grad->dtype) impl.grad = t.grad().impl();
  if (impl.grad) {
    const Tensor grad(impl.grad);
    impl.grad = Tensor(detail::convert_storage(grad, dtype), grad.shape()).impl();
    impl.sparse_grad = nullptr;
  }
  const Tensor converted(detail::convert_storage(t, dtype), t.shape());
  impl.storage = converted.impl()->storage;
  impl.layout = converted.impl()->layout;
  impl.view = false;
  impl.base = nullptr;
  impl.history_version = 0;
  impl.made_in_no_grad = false;
  impl.grad_fn = nullptr;  // a converted non-leaf buffer is new values, not its op's output
}
}  // namespace

Module& Module::to(Dtype dtype) {
  EMBER_CHECK_DTYPE(is_floating_point(dtype), "Module::to: ", name(),
                    " can only be converted to a floating dtype (float32, float64 or bfloat16), ",
                    "got ", dtype_name(dtype));
  std::vector<std::pair<std::string, Tensor>> all;
  collect("", true, false, all);
  collect("", true, true, all);
  NoGradGuard no_grad;
  for (auto& [n, t] : first_of_each(std::move(all)))
    if (t.is_floating_point() && t.dtype() != dtype) convert_in_place(t, dtype);
  return *this;
}

StateDict Module::state_dict() const {
  std::vector<std::pair<std::string, Tensor>> all;
  collect("", true, false, all);
  collect("", true, true, all);
  StateDict dict;
  for (auto& [n, t] : all) dict[n] = t.detach();
  return dict;
}

namespace {
// Writes src, converted to t's dtype, into t's elements through t's layout: for a tensor that
// is not float32 (ValuesForWrite is float32's), such as a float64 or bool buffer.
void write_converted(const Tensor& t, const Tensor& src) {
  const std::shared_ptr<Storage> values = detail::convert_storage(src, t.dtype());  // row-major
  const int64_t size = static_cast<int64_t>(element_size(t.dtype()));
  const char* in = static_cast<const char*>(values->bytes());
  char* base = static_cast<char*>(t.impl()->storage->bytes()) + t.storage_offset() * size;
  if (t.is_contiguous()) {
    std::memcpy(base, in, static_cast<size_t>(t.numel() * size));
  } else {
    const Shape shape = t.shape(), strides = t.strides();
    Shape index(shape.size(), 0);
    for (int64_t i = 0; i < t.numel(); ++i) {
      int64_t offset = 0;
      for (size_t d = 0; d < shape.size(); ++d) offset += index[d] * strides[d];
      std::memcpy(base + offset * size, in + i * size, static_cast<size_t>(size));
      for (size_t d = shape.size(); d-- > 0;) {
        if (++index[d] < shape[d]) break;
        index[d] = 0;
      }
    }
  }
  t.bump_version();
}
}  // namespace

void Module::load_state_dict(const StateDict& dict, bool strict) {
  // Every name, tied ones included; values are written into the existing tensors, so tied
  // weights stay one tensor.
  std::vector<std::pair<std::string, Tensor>> targets;
  collect("", true, false, targets);
  collect("", true, true, targets);
  std::vector<std::string> missing, mismatched, unexpected, unwritable, mistyped;
  std::set<std::string> known;
  for (auto& [n, t] : targets) {
    known.insert(n);
    auto it = dict.find(n);
    if (it == dict.end()) {
      missing.push_back(n);
    } else if (it->second.shape() != t.shape()) {
      mismatched.push_back(n + " (checkpoint " + detail::shape_str(it->second.shape()) +
                           ", model " + detail::shape_str(t.shape()) + ")");
    } else if (it->second.is_floating_point() != t.is_floating_point()) {
      // PyTorch's copy_ would turn a mask into 0/1 weights (or weights into a mask): a wrong
      // file far more often than an intent.
      mistyped.push_back(n + " (checkpoint " + dtype_name(it->second.dtype()) + ", model " +
                         dtype_name(t.dtype()) + ")");
    } else if (!ValuesForWrite::writable(t)) {
      unwritable.push_back(n + " (an expanded view, shape " + detail::shape_str(t.shape()) + ")");
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
  list("dtype mismatch (floating dtypes convert into each other, bool only into bool)", mistyped);
  list("cannot be written (one element of the tensor is several of the view's)", unwritable);
  const std::string message = problems.str();
  if (!message.empty()) {
    const std::string what = detail::cat("load_state_dict: cannot load into ", name(),
                                         ", nothing was changed:", message);
    const bool only_dtypes = mismatched.empty() && unwritable.empty() &&
                             (!strict || (missing.empty() && unexpected.empty()));
    if (only_dtypes) throw DtypeError(what);
    throw ShapeError(what);
  }
  NoGradGuard no_grad;
  for (auto& [n, t] : targets) {
    auto it = dict.find(n);
    if (it == dict.end()) continue;
    if (t.dtype() != kFloat32) {
      write_converted(t, it->second);
      continue;
    }
    // A bfloat16 or float64 value converts to float32 as PyTorch's copy_ does. Through the
    // layout: a parameter that is a view of a larger tensor loads into it.
    const Tensor values = it->second.to(kFloat32);  // the same tensor when it is float32
    const auto src = std::as_const(values).data();  // read through its strides
    ValuesForWrite dst(t);
    std::copy(src.begin(), src.end(), dst.begin());
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
