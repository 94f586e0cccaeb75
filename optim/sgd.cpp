// SGD: one fused pass per parameter (or per touched row) over contiguous memory.
#include "ember/optim/sgd.hpp"

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
  for_each_param([&](ParamGroup& group, Tensor& p, float* param) {
    const SGDOptions& o = options_of(group);
    const float lr = static_cast<float>(o.lr()), wd = static_cast<float>(o.weight_decay());
    const float momentum = static_cast<float>(o.momentum());
    const float keep = static_cast<float>(1.0 - o.dampening());
    SGDState& s = state_of(p);
    const bool sparse = p.has_sparse_grad();
    // Dense: the first gradient is copied into the buffer, as PyTorch, whichever step it
    // comes on. Sparse: lazy buffer from zeros (see the header).
    const bool fresh = s.momentum_buffer.dimension() == 0 && !sparse;
    if (momentum != 0.f && s.momentum_buffer.dimension() == 0) s.momentum_buffer = state_buffer(p);
    float* buf = s.momentum_buffer.dimension() ? s.momentum_buffer.data() : nullptr;
    bool stepped = for_each_span(p, [&](int64_t offset, const float* g, int64_t n) {
      for (int64_t i = 0; i < n; ++i) {
        float* w = param + offset + i;
        float d = g[i];
        if (wd != 0.f) d += wd * *w;
        if (momentum != 0.f) {
          float& b = buf[offset + i];
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
