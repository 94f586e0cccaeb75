// SGD: one fused pass per parameter (or per touched row) over contiguous memory.
#include "ember/optim/sgd.hpp"

#include <type_traits>

#include "ember/autograd.hpp"

namespace ember::optim {

namespace {
SGDOptions validated(SGDOptions o) {
  check_non_negative("SGD", "lr", o.lr());
  check_non_negative("SGD", "momentum", o.momentum());
  check_non_negative("SGD", "weight_decay", o.weight_decay());
  EMBER_CHECK_VALUE(!o.nesterov() || (o.momentum() > 0 && o.dampening() == 0),
                    "SGD: nesterov needs momentum > 0 and dampening = 0, got momentum ",
                    o.momentum(), " and dampening ", o.dampening());
  return o;
}
}  // namespace

SGD::SGD(std::vector<ParamGroup> groups, SGDOptions defaults)
    : OptimizerWithState(std::move(groups), std::make_unique<SGDOptions>(validated(defaults)),
                         "SGD") {
  for (ParamGroup& g : groups_) validated(options_of(g));
}

void SGD::step() {
  // In the parameter's element type T: float for float32, double for float64 (as PyTorch).
  for_each_param([&](ParamGroup& group, Tensor& p, auto* param) {
    using T = std::remove_pointer_t<decltype(param)>;
    const SGDOptions& o = options_of(group);
    const T lr = static_cast<T>(o.lr()), wd = static_cast<T>(o.weight_decay());
    const T momentum = static_cast<T>(o.momentum());
    const T keep = static_cast<T>(1.0 - o.dampening());
    SGDState& s = state_of(p);
    const bool sparse = p.has_sparse_grad();
    // Dense: the first gradient is copied into the buffer, as PyTorch, whichever step it
    // comes on. Sparse: lazy buffer from zeros (see the header).
    const bool fresh = !s.momentum_buffer.defined() && !sparse;
    if (momentum != T(0) && !s.momentum_buffer.defined()) s.momentum_buffer = state_buffer(p);
    T* buf = s.momentum_buffer.defined() ? state_values<T>(s.momentum_buffer) : nullptr;
    bool stepped = for_each_span<T>(p, [&](int64_t offset, const T* g, int64_t n) {
      for (int64_t i = 0; i < n; ++i) {
        T* w = param + offset + i;
        T d = g[i];
        if (wd != T(0)) d += wd * *w;
        if (momentum != T(0)) {
          T& b = buf[offset + i];
          b = fresh ? d : b * momentum + keep * d;
          d = o.nesterov() ? d + momentum * b : b;
        }
        *w += -lr * d;
      }
    });
    if (stepped) ++s.step;
  });
}

}  // namespace ember::optim
