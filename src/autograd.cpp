// The tape: recording nodes, and the backward walk (newest node first, never recursive).
#include "ember/autograd.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <queue>
#include <xtensor/xreducer.hpp>

namespace ember {

namespace {
thread_local bool grad_enabled = true;
std::atomic<bool> anomaly_enabled{false};
std::atomic<uint64_t> next_sequence{0};

void check_finite(const Array& a, const char* op, const char* where) {
  for (float v : a) {
    EMBER_CHECK_VALUE(std::isfinite(v), "anomaly: ", op, " produced ",
                      std::isnan(v) ? "NaN" : "Inf", " in its ", where);
  }
}
}  // namespace

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
  return make_output(std::make_shared<Array>(std::move(result)), name, inputs, std::move(backward));
}

Tensor make_output(std::shared_ptr<Array> result, const char* name, TensorList inputs,
                   BackwardFn backward) {
  if (anomaly_enabled) check_finite(*result, name, "forward output");
  Tensor out(std::move(result));
  if (!needs_grad(inputs)) return out;
  auto node = std::make_shared<Node>();
  node->name = name;
  node->sequence = next_sequence++;
  node->output_shape = out.data().shape();
  node->backward = std::move(backward);
  node->inputs.resize(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& in = inputs[i];
    if (!in.defined() || !in.requires_grad()) continue;
    if (in.grad_fn())
      node->inputs[i].node = in.grad_fn();
    else
      node->inputs[i].leaf = in.impl();
  }
  out.impl()->requires_grad = true;
  out.impl()->grad_fn = std::move(node);
  return out;
}

Array sum_to(const Array& grad, const Shape& shape) {
  Shape gshape = detail::to_shape(grad);
  if (gshape == shape) return grad;
  size_t lead = gshape.size() - shape.size();
  std::vector<size_t> axes;
  for (size_t i = 0; i < gshape.size(); ++i) {
    if (i < lead || (shape[i - lead] == 1 && gshape[i] != 1)) axes.push_back(i);
  }
  Array reduced = xt::sum(grad, axes, xt::evaluation_strategy::immediate);
  reduced.reshape(detail::to_xshape(shape));
  return reduced;
}

namespace {

void accumulate_leaf(TensorImpl& leaf, Gradient&& g) {
  if (g.sparse) {
    if (leaf.grad) {
      g.sparse->add_to(*leaf.grad->data);
    } else if (leaf.sparse_grad) {
      RowSparseGrad& s = *leaf.sparse_grad;
      s.rows.insert(s.rows.end(), g.sparse->rows.begin(), g.sparse->rows.end());
      s.values = xt::concatenate(xt::xtuple(s.values, g.sparse->values), 0);
    } else {
      leaf.sparse_grad = std::move(g.sparse);
    }
    return;
  }
  if (leaf.sparse_grad) {
    leaf.sparse_grad->add_to(g.dense);
    leaf.sparse_grad = nullptr;
  }
  if (leaf.grad) {
    *leaf.grad->data += g.dense;
  } else {
    leaf.grad = Tensor(std::move(g.dense)).impl();
  }
}

struct NewestFirst {
  bool operator()(const Node* a, const Node* b) const { return a->sequence < b->sequence; }
};

template <class S>
void check_gradient_shape(const Node& node, const Gradient& g, const S& expected) {
  auto same_dims = [&](const auto& got) {
    return std::equal(expected.begin(), expected.end(), got.begin(), got.end(),
                      [](size_t a, auto b) { return a == static_cast<size_t>(b); });
  };
  if (g.sparse ? same_dims(g.sparse->dense_shape) : same_dims(g.dense.shape())) return;
  Shape got = g.sparse ? g.sparse->dense_shape : detail::to_shape(g.dense);
  throw ShapeError(detail::cat("backward: ", node.name, " returned a gradient of shape ",
                               detail::shape_str(got), " for an input of shape ",
                               detail::shape_str(Shape(expected.begin(), expected.end()))));
}

}  // namespace

namespace {
void run_backward(const Tensor& root, const Array& root_grad, bool retain_graph) {
  const std::shared_ptr<Node>& root_node = root.grad_fn();
  if (!root_node) {
    accumulate_leaf(*root.impl(), Gradient(Array(root_grad)));
    return;
  }
  // Newest first: every consumer of a node has a larger sequence number, so by the time a node
  // is popped all the gradient flowing into it has been summed.
  std::priority_queue<Node*, std::vector<Node*>, NewestFirst> ready;
  std::vector<std::shared_ptr<Node>> keep_alive{root_node};
  ready.push(root_node.get());
  // A throw mid-walk (a freed graph, a bad user op) must not leave half-summed gradients behind.
  auto clear_pending = [&] {
    for (auto& n : keep_alive) {
      n->pending_grad = Array();
      n->has_pending_grad = false;
    }
  };
  try {
    while (!ready.empty()) {
      Node* node = ready.top();
      ready.pop();
      EMBER_CHECK(!node->released, "backward: the graph of ", node->name,
                  " was already freed by an earlier backward; pass retain_graph=true to the first "
                  "backward to call it twice");
      // The root reads the caller's gradient in place: copying a large one costs a full pass.
      const bool is_root = node == root_node.get();
      Array grad_out;
      if (!is_root) {
        grad_out = std::move(node->pending_grad);
        node->pending_grad = Array();
        node->has_pending_grad = false;
      }
      Gradients grads = node->backward(is_root ? root_grad : grad_out);
      EMBER_CHECK(grads.size() == node->inputs.size(), "backward: ", node->name, " returned ",
                  grads.size(), " gradients for ", node->inputs.size(), " inputs");
      for (size_t i = 0; i < grads.size(); ++i) {
        Edge& edge = node->inputs[i];
        Gradient& g = grads[i];
        if (!g.defined || (!edge.node && !edge.leaf)) continue;
        if (anomaly_enabled && !g.sparse) check_finite(g.dense, node->name, "backward gradient");
        if (edge.leaf) {
          check_gradient_shape(*node, g, edge.leaf->data->shape());
          accumulate_leaf(*edge.leaf, std::move(g));
          continue;
        }
        Node* input = edge.node.get();
        check_gradient_shape(*node, g, input->output_shape);
        if (g.sparse) {  // only leaves keep row-sparse gradients; anything else gets dense
          Array dense = xt::zeros<float>(detail::to_xshape(g.sparse->dense_shape));
          g.sparse->add_to(dense);
          g.dense = std::move(dense);
        }
        if (!input->has_pending_grad) {
          input->pending_grad = std::move(g.dense);
          input->has_pending_grad = true;
          keep_alive.push_back(edge.node);
          ready.push(input);
        } else {
          input->pending_grad += g.dense;
        }
      }
      if (!retain_graph) {
        node->backward = nullptr;
        node->released = true;
      }
    }
  } catch (...) {
    clear_pending();
    throw;
  }
  // Freeing edges iteratively here (not in ~Node) keeps a 100k-op chain from recursing on
  // destruction.
  if (!retain_graph) {
    for (auto& n : keep_alive) n->inputs.clear();
  }
}
}  // namespace

Node::~Node() {
  // Unlink the chain of inputs iteratively: a recursive release of a 100k-op chain would
  // overflow the stack.
  std::vector<std::shared_ptr<Node>> unlinked;
  for (Edge& e : inputs)
    if (e.node) unlinked.push_back(std::move(e.node));
  while (!unlinked.empty()) {
    std::shared_ptr<Node> n = std::move(unlinked.back());
    unlinked.pop_back();
    if (n.use_count() == 1) {
      for (Edge& e : n->inputs)
        if (e.node) unlinked.push_back(std::move(e.node));
    }
  }
}

void Tensor::backward(bool retain_graph) const {
  EMBER_CHECK(requires_grad(), "backward: tensor does not require grad and has no grad_fn");
  EMBER_CHECK_SHAPE(numel() == 1, "backward: grad can be implicitly created only for scalar ",
                    "outputs, got shape ", detail::shape_str(shape()),
                    "; pass a gradient to backward(grad)");
  Array one = xt::ones<float>(data().shape());
  run_backward(*this, one, retain_graph);
}

void Tensor::backward(const Tensor& grad, bool retain_graph) const {
  EMBER_CHECK(requires_grad(), "backward: tensor does not require grad and has no grad_fn");
  EMBER_CHECK_SHAPE(grad.shape() == shape(), "backward: gradient shape ",
                    detail::shape_str(grad.shape()), " does not match output shape ",
                    detail::shape_str(shape()));
  run_backward(*this, grad.data(), retain_graph);
}

}  // namespace ember
