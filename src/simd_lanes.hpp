// Private: the SIMD helpers of the recurrent gate loops (src/ops/rnn.cpp's float kernel and
// src/quantized_lstm.cpp's int8 one): one generic body runs on xsimd batches, then on the
// scalar tail. The same body runs on double scalars alone for float64 tensors (lanes_of).
#pragma once

#include <cmath>
#include <cstdint>
#include <type_traits>
#include <utility>
#include <xsimd/xsimd.hpp>

namespace ember::detail::simd {

using Batch = xsimd::batch<float>;

// T is Batch or a scalar (float, or double with a double* p).
template <class T, class E>
T vload(const E* p) {
  if constexpr (std::is_arithmetic_v<T>)
    return *p;
  else
    return T::load_unaligned(p);
}
template <class E, class T>
void vstore(E* p, const T& v) {
  if constexpr (std::is_arithmetic_v<T>)
    *p = v;
  else
    v.store_unaligned(p);
}
inline float vexp(float x) { return std::exp(x); }
inline double vexp(double x) { return std::exp(x); }
inline Batch vexp(const Batch& x) { return xsimd::exp(x); }
inline float vtanh(float x) { return std::tanh(x); }
inline double vtanh(double x) { return std::tanh(x); }
inline Batch vtanh(const Batch& x) { return xsimd::tanh(x); }
template <class T>
T vsigmoid(const T& x) {
  return T(1.f) / (T(1.f) + vexp(-x));
}

// Calls step(j, T{}) for j = 0, W, 2W, ... with T = Batch, then for the tail with T = float.
template <class Step>
void lanes(int64_t n, Step&& step) {
  constexpr int64_t width = static_cast<int64_t>(Batch::size);
  int64_t j = 0;
  for (; j + width <= n; j += width) step(j, Batch(0.f));
  for (; j < n; ++j) step(j, 0.f);
}

// lanes() for a kernel written once for both element types E: float's batches and tail, or
// for double every j as a scalar (float64 has no speed target).
template <class E, class Step>
void lanes_of(int64_t n, Step&& step) {
  if constexpr (std::is_same_v<E, float>) {
    lanes(n, std::forward<Step>(step));
  } else {
    for (int64_t j = 0; j < n; ++j) step(j, E{});
  }
}

}  // namespace ember::detail::simd
