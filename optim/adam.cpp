// Adam and AdamW: one fused pass per parameter (dense) or per touched row (row-sparse, lazy).
#include "ember/optim/adam.hpp"

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "../src/ops/kernels.hpp"
#include "ember/autograd.hpp"
#include "ember/optim/rounded_copies.hpp"
#include "ember/parallel.hpp"

namespace ember::optim {

namespace {
template <class Options>
void validate(const Options& o, const char* name) {
  check_non_negative(name, "lr", o.lr());
  check_non_negative(name, "eps", o.eps());
  check_non_negative(name, "weight_decay", o.weight_decay());
  auto [b1, b2] = o.betas();
  EMBER_CHECK_VALUE(b1 >= 0.0 && b1 < 1.0, name, ": betas[0] must be in [0, 1), got ", b1);
  EMBER_CHECK_VALUE(b2 >= 0.0 && b2 < 1.0, name, ": betas[1] must be in [0, 1), got ", b2);
}

// The constants of one step, in the parameter's element type T (float or double).
template <class T>
struct AdamStep {
  T b1, b2, keep1, keep2, eps, wd, decay;
  bool decoupled;
};

// Weight decay: AdamW shrinks the weight (decoupled), Adam adds wd * w to the gradient.
template <class T>
inline T decayed_gradient(T g, T& w, const AdamStep<T>& s) {
  if (s.wd == T(0)) return g;
  if (s.decoupled) {
    w *= s.decay;
    return g;
  }
  return g + s.wd * w;
}

// The dense rule of torch.optim.Adam over n contiguous elements, for T = float or double.
template <class T>
[[gnu::always_inline]] inline void adam_dense_rule(T* w, const T* grad, T* m, T* v, T* vmax,
                                                   int64_t n, AdamStep<T> s, T step_size,
                                                   T bc2_sqrt) {
  for (int64_t i = 0; i < n; ++i) {
    const T g = decayed_gradient(grad[i], w[i], s);
    m[i] = m[i] * s.b1 + s.keep1 * g;
    v[i] = v[i] * s.b2 + s.keep2 * g * g;
    T second = v[i];
    if (vmax) second = vmax[i] = std::max(vmax[i], v[i]);
    w[i] += -step_size * (m[i] / (std::sqrt(second) / bc2_sqrt + s.eps));
  }
}

// float32's loop, compiled for each vector unit (target_clones; the rule above is inlined into
// each clone). Raw pointers and no xtensor types, so the clones do not touch the library's
// ABI. The ThreadSanitizer build has no clones (CMakeLists.txt says why). float64 runs the
// rule as it is (no speed target).
#ifdef EMBER_NO_TARGET_CLONES
#define EMBER_ADAM_CLONES
#else
#define EMBER_ADAM_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#endif
EMBER_ADAM_CLONES void adam_dense_float(float* w, const float* grad, float* m, float* v,
                                        float* vmax, int64_t n, AdamStep<float> s, float step_size,
                                        float bc2_sqrt) {
  adam_dense_rule(w, grad, m, v, vmax, n, s, step_size, bc2_sqrt);
}
// The same, then the new weights' bfloat16 bits into w16 (autocast's copy of the parameter,
// optim/rounded_copies.hpp), a block at a time while it is in cache. Two loops: rounding in the
// rule's loop keeps the compiler from vectorizing it.
void adam_dense_float_rounded(float* w, const float* grad, float* m, float* v, float* vmax,
                              int64_t n, AdamStep<float> s, float step_size, float bc2_sqrt,
                              uint16_t* w16) {
  // 64 KB of weights, still in L2 for the rounding pass: the copy of 124M parameters costs
  // 10-13 ms more than the rule alone (EPYC, 1 thread, bench/adamw_copy_bench.cpp), where
  // blocks of 2048 (in L1) cost 17.
  constexpr int64_t kBlock = 16384;
  for (int64_t lo = 0; lo < n; lo += kBlock) {
    const int64_t count = std::min(kBlock, n - lo);
    adam_dense_float(w + lo, grad + lo, m + lo, v + lo, vmax ? vmax + lo : nullptr, count, s,
                     step_size, bc2_sqrt);
    detail::kernels::to_bf16(w + lo, w16 + lo, count);  // serial: below the pool's threshold
  }
}

// w16: autocast's bfloat16 copy to write too, or null (always null for float64).
template <class T>
void adam_dense(T* w, const T* grad, T* m, T* v, T* vmax, int64_t n, AdamStep<T> s, T step_size,
                T bc2_sqrt, uint16_t* w16) {
  if constexpr (std::is_same_v<T, float>) {
    if (w16)
      adam_dense_float_rounded(w, grad, m, v, vmax, n, s, step_size, bc2_sqrt, w16);
    else
      adam_dense_float(w, grad, m, v, vmax, n, s, step_size, bc2_sqrt);
  } else {
    adam_dense_rule(w, grad, m, v, vmax, n, s, step_size, bc2_sqrt);
  }
}

// torch.optim.SparseAdam's rule, written as its updates are: old + (1 - β)(new - old).
template <class T>
void adam_lazy(T* w, const T* grad, T* m, T* v, T* vmax, int64_t n, AdamStep<T> s, T step_size) {
  for (int64_t i = 0; i < n; ++i) {
    const T g = decayed_gradient(grad[i], w[i], s);
    const T old_m = m[i], old_v = v[i];
    const T update_m = (g - old_m) * s.keep1;
    const T update_v = (g * g - old_v) * s.keep2;
    m[i] = old_m + update_m;
    v[i] = old_v + update_v;
    T second = update_v + old_v;
    if (vmax) second = vmax[i] = std::max(vmax[i], second);
    w[i] += -step_size * ((update_m + old_m) / (std::sqrt(second) + s.eps));
  }
}
}  // namespace

template <class Options>
AdamFamily<Options>::AdamFamily(std::vector<ParamGroup> groups, const Options& defaults,
                                const char* name, bool decoupled_weight_decay)
    : OptimizerWithState<Options, AdamState>(
          std::move(groups), (validate(defaults, name), std::make_unique<Options>(defaults)), name),
      decoupled_weight_decay_(decoupled_weight_decay) {
  for (ParamGroup& g : this->groups_) validate(this->options_of(g), name);
}

Adam::Adam(std::vector<ParamGroup> groups, AdamOptions defaults)
    : AdamFamily(std::move(groups), defaults, "Adam", false) {}

AdamW::AdamW(std::vector<ParamGroup> groups, AdamWOptions defaults)
    : AdamFamily(std::move(groups), defaults, "AdamW", true) {}

template <class Options>
void AdamFamily<Options>::step() {
  RoundedCopies copies;  // autocast's bfloat16 copies, written in the same pass
  // In the parameter's element type T: float for float32, double for float64 (as PyTorch).
  this->for_each_param([&](ParamGroup& group, Tensor& p, auto* w) {
    using T = std::remove_pointer_t<decltype(w)>;
    const Options& o = this->options_of(group);
    const auto [beta1, beta2] = o.betas();
    // 1 - β in double, then T, as PyTorch passes it: 1 - 0.999f would be off by 1e-5.
    const AdamStep<T> rule{static_cast<T>(beta1),
                           static_cast<T>(beta2),
                           static_cast<T>(1.0 - beta1),
                           static_cast<T>(1.0 - beta2),
                           static_cast<T>(o.eps()),
                           static_cast<T>(o.weight_decay()),
                           static_cast<T>(1.0 - o.lr() * o.weight_decay()),
                           decoupled_weight_decay_};
    AdamState& s = this->state_of(p);
    if (!s.exp_avg.defined()) {
      s.exp_avg = this->state_buffer(p);
      s.exp_avg_sq = this->state_buffer(p);
      if (o.amsgrad()) s.max_exp_avg_sq = this->state_buffer(p);
    }
    const double t = static_cast<double>(++s.step);
    const double bc1 = 1.0 - std::pow(beta1, t), bc2 = 1.0 - std::pow(beta2, t);
    T* m = this->template state_values<T>(s.exp_avg);
    T* v = this->template state_values<T>(s.exp_avg_sq);
    T* vmax = o.amsgrad() ? this->template state_values<T>(s.max_exp_avg_sq) : nullptr;
    if (!p.has_sparse_grad()) {
      const T step_size = static_cast<T>(o.lr() / bc1);
      const T bc2_sqrt = static_cast<T>(std::sqrt(bc2));
      uint16_t* w16 = std::is_same_v<T, float> ? copies.target(p) : nullptr;
      this->template for_each_span<T>(p, [&](int64_t, const T* grad, int64_t n) {
        // Elementwise: how the pool splits it does not change a bit.
        detail::parallel_rows(n, n * 4, [&](int64_t lo, int64_t hi) {
          adam_dense(w + lo, grad + lo, m + lo, v + lo, vmax ? vmax + lo : nullptr, hi - lo, rule,
                     step_size, bc2_sqrt, w16 ? w16 + lo : nullptr);
        });
      });
      return;
    }
    const T step_size = static_cast<T>(o.lr() * std::sqrt(bc2) / bc1);
    this->template for_each_span<T>(p, [&](int64_t offset, const T* grad, int64_t n) {
      adam_lazy(w + offset, grad, m + offset, v + offset, vmax ? vmax + offset : nullptr, n, rule,
                step_size);
    });
  });
  copies.stamp();
}

template class AdamFamily<AdamOptions>;
template class AdamFamily<AdamWOptions>;

}  // namespace ember::optim
