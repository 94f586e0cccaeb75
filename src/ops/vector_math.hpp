// Private SIMD helpers (xsimd) for the row loops of softmax and cross-entropy: exp of a whole
// row at a time runs several times faster than std::exp per element.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <xsimd/xsimd.hpp>

namespace ember::detail {

// out[k] = exp(in[k] - shift) for k < n, and returns their sum. out may alias in.
inline float exp_shifted(const float* in, float* out, int64_t n, float shift) {
  using Batch = xsimd::batch<float>;
  constexpr int64_t width = static_cast<int64_t>(Batch::size);
  Batch acc(0.f);
  int64_t k = 0;
  for (; k + width <= n; k += width) {
    Batch e = xsimd::exp(Batch::load_unaligned(in + k) - Batch(shift));
    e.store_unaligned(out + k);
    acc += e;
  }
  float total = xsimd::hadd(acc);
  for (; k < n; ++k) total += out[k] = std::exp(in[k] - shift);
  return total;
}

inline float max_of(const float* in, int64_t n) {
  using Batch = xsimd::batch<float>;
  constexpr int64_t width = static_cast<int64_t>(Batch::size);
  float m = -INFINITY;
  int64_t k = 0;
  if (n >= width) {
    Batch acc = Batch::load_unaligned(in);
    for (k = width; k + width <= n; k += width)
      acc = xsimd::max(acc, Batch::load_unaligned(in + k));
    alignas(64) float lanes[width];
    acc.store_unaligned(lanes);
    m = *std::max_element(lanes, lanes + width);
  }
  for (; k < n; ++k) m = std::max(m, in[k]);
  return m;
}

}  // namespace ember::detail
