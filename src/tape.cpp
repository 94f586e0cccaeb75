// Recording the tape: grad mode, anomaly mode, and the nodes ops attach to their outputs.
// (The backward walk over them is src/autograd.cpp.)
#include <atomic>
#include <cmath>
#include <type_traits>

#include "ember/autograd.hpp"
#include "ops/op_helpers.hpp"

namespace ember {

namespace {
thread_local bool grad_enabled = true;
std::atomic<bool> anomaly_enabled{false};
std::atomic<uint64_t> next_sequence{0};
}  // namespace

template <class T>
void detail::check_finite(const ArrayOf<T>& a, const char* op, const char* where) {
  for (T v : a) {
    EMBER_CHECK_VALUE(std::isfinite(v), "anomaly: ", op, " produced ",
                      std::isnan(v) ? "NaN" : "Inf", " in its ", where);
  }
}
template void detail::check_finite<float>(const Array&, const char*, const char*);
template void detail::check_finite<double>(const ArrayOf<double>&, const char*, const char*);

bool is_grad_enabled() { return grad_enabled; }
NoGradGuard::NoGradGuard() : previous_(grad_enabled) { grad_enabled = false; }
NoGradGuard::~NoGradGuard() { grad_enabled = previous_; }
void set_detect_anomaly(bool enabled) { anomaly_enabled = enabled; }
bool is_anomaly_enabled() { return anomaly_enabled; }

std::string backward_name(const char* op) {
  std::string name;
  bool upper = true;
  for (const char* c = op; *c; ++c) {
    if (*c == '_') {
      upper = true;
      continue;
    }
    name += upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(*c))) : *c;
    upper = false;
  }
  return name + "Backward0";
}

bool needs_grad(TensorList inputs) {
  if (!grad_enabled) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

Tensor make_output(Array result, const char* name, TensorList inputs, BackwardFn backward) {
  if (anomaly_enabled) detail::check_finite(result, name, "forward output");
  return attach_grad_fn(Tensor(std::move(result)), name, inputs, std::move(backward));
}

Tensor make_output(Tensor result, const char* name, TensorList inputs, BackwardFn backward) {
  return make_output_of<float>(std::move(result), name, inputs, std::move(backward));
}

Tensor make_output(ArrayOf<double> result, const char* name, TensorList inputs,
                   BackwardFnOf<double> backward) {
  if (anomaly_enabled) detail::check_finite(result, name, "forward output");
  return attach_grad_fn_of<double>(Tensor(std::move(result)), name, inputs, std::move(backward));
}

template <class T>
Tensor make_output_of(Tensor result, const char* name, TensorList inputs,
                      BackwardFnOf<T> backward) {
  if (anomaly_enabled) detail::check_finite(*detail::DenseOf<T>(result), name, "forward output");
  return attach_grad_fn_of<T>(std::move(result), name, inputs, std::move(backward));
}
template Tensor make_output_of<float>(Tensor, const char*, TensorList, BackwardFnOf<float>);
template Tensor make_output_of<double>(Tensor, const char*, TensorList, BackwardFnOf<double>);

namespace {
// A node for `out` with edges to `inputs`, or null when nothing is recorded.
std::shared_ptr<Node> new_node(const Tensor& out, const char* name, TensorList inputs) {
  if (!needs_grad(inputs)) return nullptr;
  auto node = std::make_shared<Node>();
  node->name = name;
  node->sequence = next_sequence++;
  node->dtype = out.dtype();
  const Dims& shape = out.impl()->layout.shape;
  node->output_shape.assign(shape.begin(), shape.end());
  node->inputs.resize(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& in = inputs[i];
    if (!in.defined() || !in.requires_grad()) continue;
    if (in.grad_fn())
      node->inputs[i].node = in.grad_fn();
    else
      node->inputs[i].leaf = in.impl();
  }
  return node;
}

Tensor attach(Tensor out, std::shared_ptr<Node> node) {
  out.impl()->requires_grad = true;
  out.impl()->grad_fn = std::move(node);
  return out;
}
}  // namespace

Tensor attach_grad_fn(Tensor out, const char* name, TensorList inputs, BackwardFn backward) {
  return attach_grad_fn_of<float>(std::move(out), name, inputs, std::move(backward));
}

template <class T>
Tensor attach_grad_fn_of(Tensor out, const char* name, TensorList inputs,
                         BackwardFnOf<T> backward) {
  std::shared_ptr<Node> node = new_node(out, name, inputs);
  if (!node) return out;
  // A float64 output's gradient is float64; any other's float32 (a bfloat16 one's too).
  EMBER_CHECK_DTYPE(((node->dtype == kFloat64) == std::is_same_v<T, double>), "internal: ", name,
                    " made a ", dtype_name(node->dtype), " tensor with a ",
                    dtype_name(dtype_of<T>::value), " backward");
  if constexpr (std::is_same_v<T, float>)
    node->backward = std::move(backward);
  else
    node->backward64 = std::move(backward);
  return attach(std::move(out), std::move(node));
}
template Tensor attach_grad_fn_of<float>(Tensor, const char*, TensorList, BackwardFnOf<float>);
template Tensor attach_grad_fn_of<double>(Tensor, const char*, TensorList, BackwardFnOf<double>);

namespace {
// make_output for a backward that writes into sinks, in T.
template <class T>
Tensor make_sink_output(ArrayOf<T> result, const char* name, TensorList inputs,
                        SinkBackwardFnOf<T> backward) {
  if (anomaly_enabled) detail::check_finite(result, name, "forward output");
  Tensor out(std::move(result));
  std::shared_ptr<Node> node = new_node(out, name, inputs);
  if (!node) return out;
  if constexpr (std::is_same_v<T, float>)
    node->backward_into = std::move(backward);
  else
    node->backward_into64 = std::move(backward);
  return attach(std::move(out), std::move(node));
}
}  // namespace

Tensor make_output(Array result, const char* name, TensorList inputs, SinkBackwardFn backward) {
  return make_sink_output<float>(std::move(result), name, inputs, std::move(backward));
}

Tensor make_output(ArrayOf<double> result, const char* name, TensorList inputs,
                   SinkBackwardFnOf<double> backward) {
  return make_sink_output<double>(std::move(result), name, inputs, std::move(backward));
}

void Tensor::register_hook(std::function<Tensor(const Tensor&)> hook) const {
  EMBER_CHECK(requires_grad(), "register_hook: cannot register a hook on a tensor that ",
              "doesn't require gradient");
  if (grad_fn())
    grad_fn()->hooks.push_back(std::move(hook));
  else
    impl()->hooks.push_back(std::move(hook));
}

void Tensor::retain_grad() const {
  EMBER_CHECK(requires_grad(), "retain_grad: cannot retain the gradient of a tensor that ",
              "doesn't require gradient");
  if (is_leaf()) return;  // leaves keep their gradient anyway
  impl()->retains_grad = true;
  grad_fn()->retained = impl();
}

bool Tensor::retains_grad() const { return checked().retains_grad; }

}  // namespace ember
