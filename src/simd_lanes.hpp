// Private: the SIMD helpers of the recurrent gate loops (src/ops/rnn.cpp's float kernel and
// src/quantized_lstm.cpp's int8 one): one generic body runs on xsimd batches, then on the
// scalar tail.
#pragma once

#include <cmath>
#include <cstdint>
#include <type_traits>
#include <xsimd/xsimd.hpp>

namespace ember::detail::simd {

using Batch = xsimd::batch<float>;

template <class T>
T vload(const float* p) {
  if constexpr (std::is_same_v<T, float>)
    return *p;
  else
    return T::load_unaligned(p);
}
template <class T>
void vstore(float* p, const T& v) {
  if constexpr (std::is_same_v<T, float>)
    *p = v;
  else
    v.store_unaligned(p);
}
inline float vexp(float x) { return std::exp(x); }
inline Batch vexp(const Batch& x) { return xsimd::exp(x); }
inline float vtanh(float x) { return std::tanh(x); }
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

}  // namespace ember::detail::simd
