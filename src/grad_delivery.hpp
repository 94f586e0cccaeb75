// Delivering gradients (src/grad_delivery.cpp): what the backward walk (src/autograd.cpp) does
// with each gradient a node's backward hands over. Private.
#pragma once

#include <cstddef>
#include <functional>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "dense.hpp"
#include "ember/autograd.hpp"

namespace ember::detail {

// acc += g for two arrays of one shape (backward checked the shapes), written in place: acc
// may borrow a leaf's .grad storage, where xtensor's plain += would swap in a fresh buffer.
void add_into(Array& acc, const Array& g);
void add_into(ArrayOf<double>& acc, const ArrayOf<double>& g);

// Adds g (dense or row-sparse, of the leaf's dtype) into the leaf's gradient.
void accumulate_leaf(TensorImpl& leaf, Gradient&& g);

// Two threads running backward through shared parameters accumulate into the same leaves:
// a lock per leaf, taken from a small striped table (no mutex in every tensor).
std::mutex& leaf_lock(const TensorImpl* leaf);

// The dense array of a gradient of element type T (a row-sparse one densified).
template <class T>
ArrayOf<T> densify(Gradient&& g);

// Runs a tensor's hooks on the gradient flowing into it; each may replace it, in the same
// shape and dtype (checked: a wrong one would surface later, blamed on the next op's
// backward). `made_by` is the op that made the tensor, null for a leaf.
template <class T>
ArrayOf<T> run_hooks(const std::vector<std::function<Tensor(const Tensor&)>>& hooks,
                     ArrayOf<T> grad, const char* made_by);

// Where autograd::grad collects gradients instead of accumulating them into leaves.
struct Capture {
  std::unordered_map<const TensorImpl*, size_t> leaves;
  std::unordered_map<const Node*, size_t> nodes;
  std::vector<Tensor> grads;
  template <class T>
  void add(size_t slot, ArrayOf<T> g) {
    if (grads[slot].defined()) {
      ArrayOf<T> sum = own_values<T>(grads[slot]);  // borrows its storage
      add_into(sum, g);
    } else {
      grads[slot] = Tensor(std::move(g));
    }
  }
};

// A leaf's share: into `capture` when autograd::grad asked for it (else dropped), or through
// the leaf's hooks into its .grad.
void deliver_to_leaf(TensorImpl& leaf, Gradient&& g, Capture* capture);

}  // namespace ember::detail
