// The tape. An op computes its result with xtensor and calls make_output with a backward
// closure; make_output records a Node only when grad mode is on and an input requires grad.
// This header is public: it is how a user adds a differentiable op (see docs/extending.md).
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <type_traits>
#include <vector>

#include "ember/tensor.hpp"

namespace ember {

// A row-sparse gradient: `values[i]` is the gradient of row `rows[i]` of a 2-D (or higher)
// tensor of `dense_shape`. Rows may repeat until coalesce() sums them. It has its table's dtype,
// as PyTorch's sparse gradients: float32 rows in `values`, float64 ones in `values64`
// (values_of<T>() is the one of element type T).
struct RowSparseGrad {
  std::vector<int64_t> rows;
  Array values;              // float32: [rows.size(), dense_shape[1:]...]
  ArrayOf<double> values64;  // float64: the same
  Shape dense_shape;
  Dtype dtype = kFloat32;

  template <class T>
  ArrayOf<T>& values_of() {
    if constexpr (std::is_same_v<T, float>)
      return values;
    else
      return values64;
  }
  template <class T>
  const ArrayOf<T>& values_of() const {
    return const_cast<RowSparseGrad*>(this)->values_of<T>();
  }
  // Calls f(T{}) with T the values' element type: float for float32, double for float64.
  template <class F>
  decltype(auto) dispatch(F&& f) const {
    if (dtype == kFloat64) return f(double{});
    return f(float{});
  }
  int64_t row_size() const;
  // Makes the values an uninitialised [n, dense_shape[1:]...] array of T (the dtype T's).
  template <class T>
  ArrayOf<T>& allocate(size_t n);
  void coalesce();                          // sorts rows and sums duplicates
  void append(const RowSparseGrad& other);  // other's rows after these (of one dtype)
  Tensor to_dense() const;
  // dense[rows[i]] += alpha * values[i]; dense has this gradient's dtype (throws otherwise).
  void add_to(Array& dense, float alpha = 1.0f) const;
  void add_to(ArrayOf<double>& dense, double alpha = 1.0) const;
};

// One input's gradient, as a backward closure returns it: none, dense, or row-sparse. A dense
// one is float32 (`dense`) or, from an op on float64 tensors, float64 (`dense64`); a
// row-sparse one has its values' dtype: a gradient has its input's dtype.
// An undefined or row-sparse Gradient holds empty (shape [0]) dense arrays: a default xarray
// is a 0-d scalar, and allocating one would cost a malloc per input of every backward.
struct Gradient {
  Gradient() : dense(Array::shape_type{0}), dense64(ArrayOf<double>::shape_type{0}) {}
  // Implicit on purpose: a backward returns gradients(array, ...) or a RowSparseGrad.
  // NOLINTNEXTLINE(google-explicit-constructor)
  Gradient(Array&& dense)
      : dense(std::move(dense)), dense64(ArrayOf<double>::shape_type{0}), defined(true) {}
  // NOLINTNEXTLINE(google-explicit-constructor)
  Gradient(const Array& dense)
      : dense(dense), dense64(ArrayOf<double>::shape_type{0}), defined(true) {}
  // NOLINTNEXTLINE(google-explicit-constructor)
  Gradient(ArrayOf<double>&& dense)
      : dense(Array::shape_type{0}), dense64(std::move(dense)), defined(true), dtype(kFloat64) {}
  // NOLINTNEXTLINE(google-explicit-constructor)
  Gradient(const ArrayOf<double>& dense)
      : dense(Array::shape_type{0}), dense64(dense), defined(true), dtype(kFloat64) {}
  // An xtensor expression, evaluated in its own element type (`gradients(-g)`).
  template <class E>
  Gradient(const xt::xexpression<E>& e)  // NOLINT(google-explicit-constructor)
      : Gradient(ArrayOf<typename E::value_type>(e)) {}
  // NOLINTNEXTLINE(google-explicit-constructor)
  Gradient(std::shared_ptr<RowSparseGrad> sparse)
      : dense(Array::shape_type{0}),
        dense64(ArrayOf<double>::shape_type{0}),
        sparse(std::move(sparse)),
        defined(true),
        dtype(this->sparse ? this->sparse->dtype : kFloat32) {}
  // A dense gradient given as its only nonzero rows (coalesced): the engine adds those rows
  // into a dense .grad or pending sum there is, and makes it dense anywhere else; it never
  // becomes a row-sparse .grad. Embedding's backward (sparse=false) answers so: a step then
  // adds the few rows a batch touched into a tied [vocab, dim] .grad, instead of zeroing a
  // whole table and adding it in a second pass. The bits are the dense gradient's.
  static Gradient dense_from_rows(std::shared_ptr<RowSparseGrad> rows) {
    Gradient g(std::move(rows));
    g.dense_as_rows = true;
    return g;
  }
  Array dense;
  ArrayOf<double> dense64;
  std::shared_ptr<RowSparseGrad> sparse;
  bool defined = false;
  bool dense_as_rows = false;  // `sparse` stands for a dense gradient (dense_from_rows)
  Dtype dtype = kFloat32;      // of the dense array, or of the row-sparse values
  // The dense array of element type T (dense or dense64).
  template <class T>
  ArrayOf<T>& dense_of() {
    if constexpr (std::is_same_v<T, float>)
      return dense;
    else
      return dense64;
  }
};

using Gradients = std::vector<Gradient>;

// Builds the Gradients a backward closure returns, moving each one in. (A braced
// Gradients{...} would copy every array: initializer lists hold const elements.)
template <class... G>
Gradients gradients(G&&... grads) {
  Gradients out;
  out.reserve(sizeof...(G));
  (out.emplace_back(std::forward<G>(grads)), ...);
  return out;
}
// Maps the gradient of an op's output to one Gradient per input, in input order. An op on
// float64 tensors gets a float64 gradient (BackwardFnOf<double>).
template <class T>
using BackwardFnOf = std::function<Gradients(const ArrayOf<T>& grad_output)>;
using BackwardFn = BackwardFnOf<float>;

namespace detail {
struct SinkEngine;
}

// Where one input's gradient goes, for a backward that writes in place (the backward contract
// of DESIGN.md section 10): when the input's gradient is already being summed (an inner node
// with other consumers), the backward adds straight into that sum — `dX += dY·W` is one GEMM
// with beta = 1 — and allocates nothing; otherwise it hands over a fresh array. (A leaf's
// .grad is added to by the engine in one fixed order, so that hooks cannot change its bits.)
class GradSink {
 public:
  // The input needs a gradient (false when it does not require grad).
  bool needed() const { return needed_; }
  // The gradient summed so far for this input (contiguous, of its shape) to add into, or null
  // when there is none yet. Adding into it is the delivery: do not also call set().
  // accumulator() is float32's; accumulator_of<double>() a float64 input's.
  Array* accumulator() const { return accumulator_; }
  template <class T>
  ArrayOf<T>* accumulator_of() const {
    if constexpr (std::is_same_v<T, float>)
      return accumulator_;
    else
      return accumulator64_;
  }
  // Hands over this input's gradient as a fresh value (dense or row-sparse).
  void set(Gradient g) { value_ = std::move(g); }
  // write(beta, destination) into the accumulator with beta = 1 when there is one, else into a
  // fresh uninitialised array of `shape` with beta = 0, which is then set(): the one call a
  // GEMM-shaped backward needs. T is the element type (double for a float64 op).
  template <class T = float, class S, class Write>
  void accumulate(const S& shape, Write write) {
    if (!needed_) return;
    if (ArrayOf<T>* acc = accumulator_of<T>()) {
      write(T(1), acc->data());
      return;
    }
    ArrayOf<T> fresh = ArrayOf<T>::from_shape(shape);
    write(T(0), fresh.data());
    set(std::move(fresh));
  }

 private:
  friend struct detail::SinkEngine;
  bool needed_ = false;
  Array* accumulator_ = nullptr;
  ArrayOf<double>* accumulator64_ = nullptr;
  Gradient value_;
};
// A backward that writes into one GradSink per input, in input order.
template <class T>
using SinkBackwardFnOf = std::function<void(const ArrayOf<T>& grad_output, GradSink* sinks)>;
using SinkBackwardFn = SinkBackwardFnOf<float>;

// An edge to an input: either the node that made it, or the leaf that accumulates.
struct Edge {
  std::shared_ptr<Node> node;
  std::shared_ptr<TensorImpl> leaf;
};

// A node's edges, one per op input: up to two inline (nearly every op has one or two inputs,
// and a vector would cost an allocation per recorded op), more on the heap.
class Edges {
 public:
  void resize(size_t n) {
    if (size_ != 0) clear();
    if (n > kInline) heap_.resize(n);
    size_ = n;
  }
  void clear() {
    for (Edge& e : inline_) e = Edge();
    heap_.clear();
    size_ = 0;
  }
  size_t size() const { return size_; }
  Edge* begin() { return size_ > kInline ? heap_.data() : inline_; }
  Edge* end() { return begin() + size_; }
  Edge& operator[](size_t i) { return begin()[i]; }

 private:
  static constexpr size_t kInline = 2;
  Edge inline_[kInline];
  std::vector<Edge> heap_;
  size_t size_ = 0;
};

// Backward closures capture their inputs' data (Tensor::storage()), never a Tensor: a node
// reaches older nodes only through `inputs`, so the graph has no cycles and is freed
// iteratively.
struct Node {
  // User-provided, so make_shared does not zero the whole node before constructing it.
  Node() {}  // NOLINT(modernize-use-equals-default)
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
  ~Node();
  const char* name = nullptr;  // op name, e.g. "mul"; printed as grad_fn=<MulBackward0>
  uint64_t sequence = 0;
  Edges inputs;                    // one per op input; empty edge when that input needs no grad
  Array::shape_type output_shape;  // inline storage: no allocation for up to 4 dims
  // The output's dtype, which its gradient has: float32, or float64 for the `*64` members.
  Dtype dtype = kFloat32;
  BackwardFn backward;
  SinkBackwardFn backward_into;  // set instead of `backward` by ops that write in place
  BackwardFnOf<double> backward64;
  SinkBackwardFnOf<double> backward_into64;
  bool released = false;
  // A pure reshape (a view in the same element order): its input's gradient is the output's
  // with the input's shape, which the engine then moves instead of calling backward to copy it.
  bool reshapes_gradient = false;
  // The output's gradient hooks and retain_grad() (a weak link: the node never owns its output).
  std::vector<std::function<Tensor(const Tensor&)>> hooks;
  std::weak_ptr<TensorImpl> retained;
  // The gradient flowing into this node, summed while a backward pass runs (empty otherwise:
  // a default Array would allocate a scalar for every node); pending_grad64 for float64.
  std::optional<Array> pending_grad;
  std::optional<ArrayOf<double>> pending_grad64;
  template <class T>
  std::optional<ArrayOf<T>>& pending() {
    if constexpr (std::is_same_v<T, float>)
      return pending_grad;
    else
      return pending_grad64;
  }
};

// A view of an op's inputs: a braced list or a vector, without copying either into a new
// vector (this runs on every op).
// Valid for the call it is passed to, as the braced list's array is.
class TensorList {
 public:
  TensorList(std::initializer_list<Tensor> list) : list_(list) {}        // NOLINT: implicit
  TensorList(const std::vector<Tensor>& tensors) : vector_(&tensors) {}  // NOLINT: implicit
  const Tensor* begin() const { return vector_ ? vector_->data() : list_.begin(); }
  const Tensor* end() const { return begin() + size(); }
  size_t size() const { return vector_ ? vector_->size() : list_.size(); }
  const Tensor& operator[](size_t i) const { return begin()[i]; }

 private:
  std::initializer_list<Tensor> list_;
  const std::vector<Tensor>* vector_ = nullptr;
};

// Wraps `result` as the output of op `name`. When recording, the node keeps `backward`, which
// must return one Gradient per input (Gradient{} for inputs it has nothing for).
Tensor make_output(Array result, const char* name, TensorList inputs, BackwardFn backward);
// For an op whose backward needs its own output: make the Tensor first
// (`Tensor out(std::move(values))`), keep `out.storage()` in the closure, then pass it here.
Tensor make_output(Tensor result, const char* name, TensorList inputs, BackwardFn backward);
// The same with a backward that writes into sinks (GradSink above).
Tensor make_output(Array result, const char* name, TensorList inputs, SinkBackwardFn backward);
// Records `backward` as the grad_fn of an already made tensor (a view of an input).
Tensor attach_grad_fn(Tensor out, const char* name, TensorList inputs, BackwardFn backward);
// The same for an op on float64 tensors: a double result, a double gradient.
Tensor make_output(ArrayOf<double> result, const char* name, TensorList inputs,
                   BackwardFnOf<double> backward);
Tensor make_output(ArrayOf<double> result, const char* name, TensorList inputs,
                   SinkBackwardFnOf<double> backward);
// For code written once for both (T = float or double, named: a lambda converts to either
// BackwardFn, since an array converts to the other element type).
template <class T>
Tensor make_output_of(Tensor result, const char* name, TensorList inputs, BackwardFnOf<T> backward);
template <class T>
Tensor attach_grad_fn_of(Tensor out, const char* name, TensorList inputs, BackwardFnOf<T> backward);

// Calls f(T{}) with T the element type an op computes in for x's dtype: float for float32,
// double for float64 (PyTorch's AT_DISPATCH_FLOATING_TYPES). Throws DtypeError naming `op`
// for a bfloat16 or bool tensor. An op written once as a generic lambda,
// `dispatch_floating(x, "swish", [&](auto real) { using T = decltype(real); ... })`, runs in
// both dtypes (gradcheck runs in float64: docs/extending.md).
namespace detail {
[[noreturn]] void throw_no_kernel(const char* op, Dtype dtype);
}
template <class F>
decltype(auto) dispatch_floating(const Tensor& x, const char* op, F&& f) {
  const Dtype dtype = x.dtype();
  if (dtype == kFloat64) return f(double{});
  if (dtype != kFloat32) detail::throw_no_kernel(op, dtype);
  return f(float{});
}
// What an op computing in T keeps of x for its backward: x.storage() for T = float, its
// float64 values for T = double (`auto X = ember::saved<T>(x); ... *X`).
template <class T>
SavedValuesOf<T> saved(const Tensor& x) {
  return detail::saved<T>(x);
}

// True when grad mode is on and one of `inputs` requires grad.
bool needs_grad(TensorList inputs);

// Grad mode: thread-local, on by default.
bool is_grad_enabled();
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// Makes forward and backward throw at the first op producing NaN or Inf, naming the op.
void set_detect_anomaly(bool enabled);
bool is_anomaly_enabled();

// Reduces a broadcast gradient back to `shape` (the one helper every binary op's backward uses),
// in the gradient's element type (an expression is evaluated first).
Array sum_to(const Array& grad, const Shape& shape);
ArrayOf<double> sum_to(const ArrayOf<double>& grad, const Shape& shape);
template <class E>
ArrayOf<typename E::value_type> sum_to(const xt::xexpression<E>& grad, const Shape& shape) {
  return sum_to(ArrayOf<typename E::value_type>(grad), shape);
}

namespace autograd {
// The gradients of `outputs` with respect to `inputs` (PyTorch's torch.autograd.grad), without
// touching any tensor's grad. grad_outputs may be empty (every output then must be a scalar)
// or hold one gradient per output. An input that `outputs` do not depend on gets an undefined
// Tensor when allow_unused, and throws otherwise.
std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs = {}, bool retain_graph = false,
                         bool allow_unused = false);
}  // namespace autograd

// Grad-fn display name: "log_softmax" -> "LogSoftmaxBackward0".
std::string backward_name(const char* op);

}  // namespace ember
