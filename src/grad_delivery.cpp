// How a gradient reaches its destination once a backward produced it: summed into a pending
// sum or a leaf's .grad (dense or row-sparse), through the tensor's hooks, or captured for
// autograd::grad. The walk that calls these is src/autograd.cpp.
#include "grad_delivery.hpp"

#include <xtensor/xnoalias.hpp>
#include <xtensor/xreducer.hpp>

#include "ops/kernels.hpp"
#include "ops/op_helpers.hpp"

namespace ember {

namespace {
template <class T>
ArrayOf<T> sum_to_of(const ArrayOf<T>& grad, const Shape& shape) {
  Shape gshape = detail::to_shape(grad);
  if (gshape == shape) return grad;
  // Nothing to sum (an empty batch): zeros. xtensor's reducer reads past an empty input.
  if (grad.size() == 0) return xt::zeros<T>(detail::to_xshape(shape));
  size_t lead = gshape.size() - shape.size();
  std::vector<size_t> axes;
  for (size_t i = 0; i < gshape.size(); ++i) {
    if (i < lead || (shape[i - lead] == 1 && gshape[i] != 1)) axes.push_back(i);
  }
  ArrayOf<T> reduced = xt::sum(grad, axes, xt::evaluation_strategy::immediate);
  reduced.reshape(detail::to_xshape(shape));
  return reduced;
}
}  // namespace

Array sum_to(const Array& grad, const Shape& shape) { return sum_to_of(grad, shape); }
ArrayOf<double> sum_to(const ArrayOf<double>& grad, const Shape& shape) {
  return sum_to_of(grad, shape);
}

namespace detail {

// acc += g for two arrays of one shape (backward checked the shapes), on the dispatched loop:
// xtensor's += costs more than the adding for the small tensors of most graphs.
void add_into(Array& acc, const Array& g) {
  if (acc.shape() == g.shape())
    detail::kernels::add(acc.data(), g.data(), acc.data(), static_cast<int64_t>(acc.size()));
  else
    xt::noalias(acc) += g;
}
void add_into(ArrayOf<double>& acc, const ArrayOf<double>& g) { xt::noalias(acc) += g; }

namespace {
// A row-sparse gradient joins a dense .grad (added into it) or a row-sparse one (its rows
// appended, summed by a later coalesce()); a dense one densifies a row-sparse .grad first. A
// dense gradient given by its rows is added by rows into a dense .grad, and is dense otherwise.
template <class T>
void accumulate_of(TensorImpl& leaf, Gradient&& g) {
  if (g.sparse && g.dense_as_rows && !leaf.grad) g = Gradient(densify<T>(std::move(g)));
  if (g.sparse) {
    if (leaf.grad) {
      ArrayOf<T> grad = detail::own_values<T>(Tensor(leaf.grad));  // borrows the .grad's storage
      g.sparse->add_to(grad);
    } else if (leaf.sparse_grad) {
      leaf.sparse_grad->append(*g.sparse);
    } else {
      leaf.sparse_grad = std::move(g.sparse);
    }
    return;
  }
  ArrayOf<T>& dense = g.dense_of<T>();
  if (leaf.sparse_grad) {
    leaf.sparse_grad->add_to(dense);
    leaf.sparse_grad = nullptr;
  }
  if (leaf.grad) {
    ArrayOf<T> grad = detail::own_values<T>(Tensor(leaf.grad));  // borrows the .grad's storage
    add_into(grad, dense);
  } else {
    leaf.grad = Tensor(std::move(dense)).impl();
  }
}

}  // namespace

void accumulate_leaf(TensorImpl& leaf, Gradient&& g) {
  if (g.dtype == kFloat64) return accumulate_of<double>(leaf, std::move(g));
  accumulate_of<float>(leaf, std::move(g));
}

std::mutex& leaf_lock(const TensorImpl* leaf) {
  static std::mutex locks[64];
  return locks[(reinterpret_cast<uintptr_t>(leaf) >> 4) % 64];
}

template <class T>
ArrayOf<T> densify(Gradient&& g) {
  if (g.sparse) {
    ArrayOf<T> dense = xt::zeros<T>(detail::to_xshape(g.sparse->dense_shape));
    g.sparse->add_to(dense);
    return dense;
  }
  return std::move(g.dense_of<T>());
}

template <class T>
ArrayOf<T> run_hooks(const std::vector<std::function<Tensor(const Tensor&)>>& hooks,
                     ArrayOf<T> grad, const char* made_by) {
  for (size_t k = 0; k < hooks.size(); ++k) {
    const Shape expected = detail::to_shape(grad);
    Tensor given(std::move(grad));
    Tensor replaced = hooks[k](given.detach());
    if (!replaced.defined()) {        // keeps the gradient, as a PyTorch hook returning None
      grad = detail::pack<T>(given);  // a copy: the hook may have kept the tensor
      continue;
    }
    const std::string whose = made_by ? std::string("the output of ") + made_by : "a leaf tensor";
    EMBER_CHECK_SHAPE(replaced.shape() == expected, "register_hook: hook ", k, " of ", whose,
                      " returned a gradient of shape ", detail::shape_str(replaced.shape()),
                      " for a gradient of shape ", detail::shape_str(expected),
                      "; a hook must keep the shape");
    EMBER_CHECK_DTYPE(replaced.dtype() == given.dtype(), "register_hook: hook ", k, " of ", whose,
                      " returned a ", dtype_name(replaced.dtype()), " gradient for a ",
                      dtype_name(given.dtype()), " one; a hook must keep the dtype");
    grad = detail::pack<T>(replaced);  // the hook may return a view: packed here
  }
  return grad;
}

template Array densify<float>(Gradient&&);
template ArrayOf<double> densify<double>(Gradient&&);
template Array run_hooks<float>(const std::vector<std::function<Tensor(const Tensor&)>>&, Array,
                                const char*);
template ArrayOf<double> run_hooks<double>(const std::vector<std::function<Tensor(const Tensor&)>>&,
                                           ArrayOf<double>, const char*);

namespace {
template <class T>
void deliver_dense(TensorImpl& leaf, Gradient&& g, Capture* capture) {
  if (capture) {
    auto it = capture->leaves.find(&leaf);
    if (it != capture->leaves.end()) capture->add<T>(it->second, densify<T>(std::move(g)));
    return;
  }
  if (!leaf.hooks.empty())
    g = Gradient(run_hooks<T>(leaf.hooks, densify<T>(std::move(g)), nullptr));
  std::lock_guard<std::mutex> lock(leaf_lock(&leaf));
  accumulate_leaf(leaf, std::move(g));
}

}  // namespace

void deliver_to_leaf(TensorImpl& leaf, Gradient&& g, Capture* capture) {
  if (g.dtype == kFloat64) return deliver_dense<double>(leaf, std::move(g), capture);
  deliver_dense<float>(leaf, std::move(g), capture);
}

}  // namespace detail
}  // namespace ember
