// The backward walk over the tape (newest node first, never recursive), Tensor::backward and
// autograd::grad; where each gradient then goes is src/grad_delivery.cpp.
#include "ember/autograd.hpp"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <type_traits>
#include <unordered_map>

#include "grad_delivery.hpp"
#include "ops/op_helpers.hpp"

namespace ember {

namespace {
thread_local const char* backward_op = nullptr;  // the node whose backward runs on this thread
}  // namespace

const char* detail::current_backward_op() { return backward_op; }

using detail::accumulate_leaf;
using detail::add_into;
using detail::Capture;
using detail::deliver_to_leaf;
using detail::densify;
using detail::leaf_lock;
using detail::run_hooks;

namespace {

// A gradient must have its input's dtype (a bfloat16 leaf takes float32's): a backward that
// hands over another is Ember's bug, named here rather than read as the wrong bits.
void check_gradient_dtype(const char* op, Dtype input, const Gradient& g) {
  const Dtype expected = input == kBFloat16 ? kFloat32 : input;
  EMBER_CHECK_DTYPE(g.dtype == expected, "backward: ", op ? op : "backward", " returned a ",
                    dtype_name(g.dtype), g.sparse ? " row-sparse" : "", " gradient for a ",
                    dtype_name(input), " input");
}

struct NewestFirst {
  bool operator()(const Node* a, const Node* b) const { return a->sequence < b->sequence; }
};

template <class S>
void check_gradient_shape(const Node& node, const Gradient& g, const S& expected) {
  auto same_dims = [&](const auto& got) {
    return std::equal(expected.begin(), expected.end(), got.begin(), got.end(), [](auto a, auto b) {
      return static_cast<int64_t>(a) == static_cast<int64_t>(b);
    });
  };
  if (g.sparse ? same_dims(g.sparse->dense_shape)
               : (g.dtype == kFloat64 ? same_dims(g.dense64.shape()) : same_dims(g.dense.shape())))
    return;
  Shape got = g.sparse
                  ? g.sparse->dense_shape
                  : (g.dtype == kFloat64 ? detail::to_shape(g.dense64) : detail::to_shape(g.dense));
  throw ShapeError(detail::cat("backward: ", node.name, " returned a gradient of shape ",
                               detail::shape_str(got), " for an input of shape ",
                               detail::shape_str(Shape(expected.begin(), expected.end()))));
}

}  // namespace

// Runs a node's backward_into with one GradSink per input. An inner node's input whose
// gradient is already being summed (the node has other consumers) gets that pending sum as its
// accumulator. A leaf gets none: its .grad receives each part by one fixed addition whoever
// watches (DataParallel's overlap hooks see every part alone), so that a run with hooks and
// one without give the same bits (a GEMM that fused the addition would round differently).
// Anomaly mode checks each part, so it hands out no accumulator either.
struct detail::SinkEngine {
  template <class T>
  static Gradients run(Node& node, const ArrayOf<T>& grad) {
    const size_t n = node.inputs.size();
    std::vector<GradSink> sinks(n);
    for (size_t i = 0; i < n; ++i) {
      Edge& e = node.inputs[i];
      GradSink& sink = sinks[i];
      sink.needed_ = e.node || e.leaf;
      if (!e.node || is_anomaly_enabled()) continue;
      if (e.node->pending_grad) sink.accumulator_ = &*e.node->pending_grad;
      if (e.node->pending_grad64) sink.accumulator64_ = &*e.node->pending_grad64;
    }
    if constexpr (std::is_same_v<T, float>)
      node.backward_into(grad, sinks.data());
    else
      node.backward_into64(grad, sinks.data());
    Gradients out(n);
    for (size_t i = 0; i < n; ++i) out[i] = std::move(sinks[i].value_);
    return out;
  }
};

namespace {

// Names the running node for SavedValues' "modified by an inplace operation" error.
struct BackwardOpScope {
  explicit BackwardOpScope(const char* name) : previous(backward_op) { backward_op = name; }
  ~BackwardOpScope() { backward_op = previous; }
  const char* previous;
};

// The work lists of run_backward, kept per thread between calls: a training step's backward
// then allocates none. Lists that grew past kKeep entries are dropped rather than kept.
struct BackwardBuffers {
  static constexpr size_t kKeep = 4096;
  static thread_local std::vector<Node*> spare_ready;
  static thread_local std::vector<std::shared_ptr<Node>> spare_keep_alive;
  std::vector<Node*> ready = std::move(spare_ready);
  std::vector<std::shared_ptr<Node>> keep_alive = std::move(spare_keep_alive);
  BackwardBuffers() {
    spare_ready.clear();
    spare_keep_alive.clear();
  }
  BackwardBuffers(const BackwardBuffers&) = delete;
  BackwardBuffers& operator=(const BackwardBuffers&) = delete;
  ~BackwardBuffers() {
    ready.clear();
    keep_alive.clear();  // releases the nodes
    if (ready.capacity() <= kKeep) spare_ready = std::move(ready);
    if (keep_alive.capacity() <= kKeep) spare_keep_alive = std::move(keep_alive);
  }
};
thread_local std::vector<Node*> BackwardBuffers::spare_ready;
thread_local std::vector<std::shared_ptr<Node>> BackwardBuffers::spare_keep_alive;

// A backward's starting point: an output and the gradient flowing into it (its seed), read in
// place where it lies (copying a large one costs a full pass), in the output's dtype.
struct Root {
  Tensor tensor;
  Array grad = Array(Array::shape_type{0});
  ArrayOf<double> grad64 = ArrayOf<double>(ArrayOf<double>::shape_type{0});
  // Borrows the seed's elements when it is its whole storage; keep the seed alive.
  Root(Tensor output, const Tensor& seed) : tensor(std::move(output)) {
    EMBER_CHECK_DTYPE(seed.dtype() == tensor.dtype(), "backward: a ", dtype_name(seed.dtype()),
                      " gradient given for a ", dtype_name(tensor.dtype()), " output");
    if (seed.dtype() == kFloat64)
      grad64 = seed.is_view() ? detail::pack<double>(seed) : detail::borrow_values<double>(seed);
    else if (seed.dtype() == kBFloat16)  // a bfloat16 output's gradient flows as float32
      grad = detail::pack(seed.to(kFloat32));
    else
      grad = seed.is_view() ? detail::pack(seed) : detail::borrow_values(seed);
  }
  template <class T>
  const ArrayOf<T>& seed() const {
    if constexpr (std::is_same_v<T, float>)
      return grad;
    else
      return grad64;
  }
};

// Calls f(T{}) with T the element type of a gradient of `dtype`.
template <class F>
void with_grad_type(Dtype dtype, F&& f) {
  if (dtype == kFloat64)
    f(double{});
  else
    f(float{});
}

// `roots` points at `count` roots (a pointer and a count: no vector built per backward).
void run_backward(const Root* roots, size_t count, bool retain_graph, Capture* capture) {
  // Nodes reached and not yet run, as a heap: newest on top. Both lists reuse this thread's
  // buffers from the last backward (a nested backward, from a hook, starts its own).
  BackwardBuffers buffers;
  std::vector<Node*>& ready = buffers.ready;
  std::vector<std::shared_ptr<Node>>& keep_alive = buffers.keep_alive;
  auto push_ready = [&](Node* n) {
    ready.push_back(n);
    std::push_heap(ready.begin(), ready.end(), NewestFirst());
  };
  // A single root reads the caller's gradient in place: its node has no pending gradient.
  const Root* in_place_root = nullptr;
  auto clear_pending = [&] {
    for (auto& n : keep_alive) {
      n->pending_grad.reset();
      n->pending_grad64.reset();
    }
  };
  for (const Root* root_it = roots; root_it != roots + count; ++root_it) {
    const Root& root = *root_it;
    const std::shared_ptr<Node>& node = root.tensor.grad_fn();
    with_grad_type(root.tensor.dtype(), [&](auto tag) {
      using T = decltype(tag);
      if (!node) {
        deliver_to_leaf(*root.tensor.impl(), Gradient(ArrayOf<T>(root.seed<T>())), capture);
        return;
      }
      auto& pending = node->pending<T>();
      if (count == 1) {
        in_place_root = &root;
      } else if (pending) {
        add_into(*pending, root.seed<T>());
        return;
      } else {
        pending = root.seed<T>();
      }
      keep_alive.push_back(node);
      push_ready(node.get());
    });
  }
  // One node's backward, its gradient of element type T; its inputs' gradients are summed into
  // their nodes' pending gradients or delivered to leaves.
  auto run_node = [&](Node* node, auto tag) {
    using T = decltype(tag);
    // The summed gradient is read where it lies (an array move is not free) and freed below.
    std::optional<ArrayOf<T>>& grad_out = node->pending<T>();
    const ArrayOf<T>* grad = grad_out ? &*grad_out : &in_place_root->seed<T>();
    auto retained = node->retained.lock();
    auto captured = capture ? capture->nodes.find(node) : decltype(capture->nodes.end()){};
    const bool is_captured = capture && captured != capture->nodes.end();
    if (!node->hooks.empty() || retained || is_captured) {
      if (!grad_out) grad_out = *grad;
      grad = &*grad_out;
      if (!node->hooks.empty())
        grad_out = run_hooks<T>(node->hooks, std::move(*grad_out), node->name);
      if (retained && !capture) {
        std::lock_guard<std::mutex> lock(leaf_lock(retained.get()));
        accumulate_leaf(*retained, Gradient(*grad_out));
      }
      if (is_captured) capture->add<T>(captured->second, *grad_out);
    }
    Gradients grads;
    const Edge* reshaped = node->reshapes_gradient && grad_out && node->inputs.size() == 1
                               ? &node->inputs[0]
                               : nullptr;
    if (reshaped) {  // the summed gradient itself, in the input's shape: moved, not copied
      ArrayOf<T> moved = std::move(*grad_out);
      if (reshaped->node)
        moved.reshape(reshaped->node->output_shape);
      else if (reshaped->leaf)
        moved.reshape(typename ArrayOf<T>::shape_type(reshaped->leaf->layout.shape.begin(),
                                                      reshaped->leaf->layout.shape.end()));
      grads = gradients(std::move(moved));
    } else {
      BackwardOpScope scope(node->name);
      if constexpr (std::is_same_v<T, float>)
        grads = node->backward ? node->backward(*grad) : detail::SinkEngine::run<T>(*node, *grad);
      else
        grads =
            node->backward64 ? node->backward64(*grad) : detail::SinkEngine::run<T>(*node, *grad);
    }
    grad_out.reset();
    EMBER_CHECK(grads.size() == node->inputs.size(), "backward: ", node->name, " returned ",
                grads.size(), " gradients for ", node->inputs.size(), " inputs");
    for (size_t i = 0; i < grads.size(); ++i) {
      Edge& edge = node->inputs[i];
      Gradient& g = grads[i];
      if (!g.defined || (!edge.node && !edge.leaf)) continue;
      if (is_anomaly_enabled() && !g.sparse) {
        if (g.dtype == kFloat64)
          detail::check_finite(g.dense64, node->name, "backward gradient");
        else
          detail::check_finite(g.dense, node->name, "backward gradient");
      }
      if (edge.leaf) {
        check_gradient_shape(*node, g, edge.leaf->layout.shape);
        check_gradient_dtype(node->name, edge.leaf->storage->dtype(), g);
        deliver_to_leaf(*edge.leaf, std::move(g), capture);
        continue;
      }
      Node* input = edge.node.get();
      check_gradient_shape(*node, g, input->output_shape);
      check_gradient_dtype(node->name, input->dtype, g);
      with_grad_type(g.dtype, [&](auto input_tag) {
        using U = decltype(input_tag);
        auto& pending = input->pending<U>();
        if (g.sparse && pending) {  // only leaves keep row-sparse gradients: add its rows
          g.sparse->add_to(*pending);
          return;
        }
        if (g.sparse) g = Gradient(densify<U>(std::move(g)));
        if (!pending) {
          pending = std::move(g.dense_of<U>());
          keep_alive.push_back(edge.node);
          push_ready(input);
        } else {
          add_into(*pending, g.dense_of<U>());
        }
      });
    }
  };
  // Newest first: every consumer of a node has a larger sequence number, so by the time a node
  // is popped all the gradient flowing into it has been summed.
  try {
    while (!ready.empty()) {
      std::pop_heap(ready.begin(), ready.end(), NewestFirst());
      Node* node = ready.back();
      ready.pop_back();
      EMBER_CHECK(!node->released, "backward: the graph of ", node->name,
                  " was already freed by an earlier backward; pass retain_graph=true to the first "
                  "backward to call it twice");
      with_grad_type(node->dtype, [&](auto tag) { run_node(node, tag); });
      if (!retain_graph) {
        node->backward = nullptr;
        node->backward_into = nullptr;
        node->backward64 = nullptr;
        node->backward_into64 = nullptr;
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
  const Tensor one = ones(shape(), dtype() == kFloat64 ? kFloat64 : kFloat32);
  Root root(*this, one);
  run_backward(&root, 1, retain_graph, nullptr);
}

void Tensor::backward(const Tensor& grad, bool retain_graph) const {
  EMBER_CHECK(requires_grad(), "backward: tensor does not require grad and has no grad_fn");
  EMBER_CHECK_SHAPE(grad.shape() == shape(), "backward: gradient shape ",
                    detail::shape_str(grad.shape()), " does not match output shape ",
                    detail::shape_str(shape()));
  Root root(*this, grad);
  run_backward(&root, 1, retain_graph, nullptr);
}

namespace autograd {

std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs, bool retain_graph,
                         bool allow_unused) {
  EMBER_CHECK(grad_outputs.empty() || grad_outputs.size() == outputs.size(),
              "autograd::grad: ", grad_outputs.size(), " grad_outputs given for ", outputs.size(),
              " outputs");
  std::vector<Tensor> seeds;
  seeds.reserve(outputs.size());
  std::vector<Root> roots;
  for (size_t i = 0; i < outputs.size(); ++i) {
    const Tensor& out = outputs[i];
    EMBER_CHECK(out.requires_grad(), "autograd::grad: output ", i,
                " does not require grad and has no grad_fn");
    if (grad_outputs.empty()) {
      EMBER_CHECK_SHAPE(out.numel() == 1, "autograd::grad: grad can be implicitly created only ",
                        "for scalar outputs, output ", i, " has shape ",
                        detail::shape_str(out.shape()));
      seeds.push_back(ones(out.shape(), out.dtype() == kFloat64 ? kFloat64 : kFloat32));
    } else {
      EMBER_CHECK_SHAPE(grad_outputs[i].shape() == out.shape(), "autograd::grad: grad_output ", i,
                        " has shape ", detail::shape_str(grad_outputs[i].shape()), " but output ",
                        i, " has shape ", detail::shape_str(out.shape()));
      seeds.push_back(grad_outputs[i]);
    }
  }
  for (size_t i = 0; i < outputs.size(); ++i) roots.emplace_back(outputs[i], seeds[i]);
  Capture capture;
  capture.grads.resize(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    EMBER_CHECK(inputs[i].requires_grad(), "autograd::grad: input ", i, " does not require grad");
    if (inputs[i].grad_fn())
      capture.nodes.emplace(inputs[i].grad_fn().get(), i);
    else
      capture.leaves.emplace(inputs[i].impl().get(), i);
  }
  run_backward(roots.data(), roots.size(), retain_graph, &capture);
  std::vector<Tensor> result(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    EMBER_CHECK(capture.grads[i].defined() || allow_unused, "autograd::grad: input ", i,
                " was not used to compute the outputs; pass allow_unused=true");
    result[i] = capture.grads[i];
  }
  return result;
}

}  // namespace autograd

}  // namespace ember
