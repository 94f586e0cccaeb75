// Runtime-dispatched loops (see kernels.hpp). The pool pays above kMinParallel elements: below
// it a wake-up costs more than half the loop (2-core machines, 1 MB add: 36 µs on one thread).
#include "kernels.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "ember/parallel.hpp"

// Without clones (EMBER_TARGET_CLONES=OFF: the ThreadSanitizer build) the baseline loops run;
// every clone gives the same bits, so nothing but speed changes.
#ifdef EMBER_NO_TARGET_CLONES
#define EMBER_CLONES
#else
#define EMBER_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#endif

namespace ember::detail::kernels {

namespace {

constexpr int64_t kMinParallel = int64_t(1) << 17;
constexpr int64_t kPiece = int64_t(1) << 15;  // elements per task: fixed, not per thread

template <class Loop>
void split(int64_t n, Loop loop) {
  if (n < kMinParallel || get_num_threads() == 1) return loop(0, n);
  int64_t pieces = (n + kPiece - 1) / kPiece;
  parallel_for(pieces, [&](int64_t p) { loop(p * kPiece, std::min(n, (p + 1) * kPiece)); });
}

// float32 to bfloat16 bits, round to nearest even, a NaN to the quiet NaN (as BFloat16::round),
// branch-free so that each clone vectorizes it.
EMBER_CLONES void to_bf16_loop(const float* in, uint16_t* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    uint32_t u;
    std::memcpy(&u, in + i, sizeof u);
    const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    out[i] = static_cast<uint16_t>((u & 0x7fffffffu) > 0x7f800000u ? 0x7fc0u : rounded);
  }
}
EMBER_CLONES void from_bf16_loop(const uint16_t* in, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t u = static_cast<uint32_t>(in[i]) << 16;
    std::memcpy(out + i, &u, sizeof u);
  }
}

// out[i] = mask[i] ? value : x[i], with bit masks instead of a branch (a mask's bytes are as
// unpredictable as the data).
EMBER_CLONES void fill_where_loop(const uint8_t* mask, float value, const float* x, float* out,
                                  int64_t n) {
  uint32_t v;
  std::memcpy(&v, &value, sizeof v);
  for (int64_t i = 0; i < n; ++i) {
    uint32_t u;
    std::memcpy(&u, x + i, sizeof u);
    const uint32_t take = 0u - static_cast<uint32_t>(mask[i] != 0);
    const uint32_t r = (v & take) | (u & ~take);
    std::memcpy(out + i, &r, sizeof r);
  }
}

EMBER_CLONES void add_loop(const float* a, const float* b, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}
EMBER_CLONES void sub_loop(const float* a, const float* b, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] - b[i];
}
EMBER_CLONES void mul_loop(const float* a, const float* b, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] * b[i];
}
EMBER_CLONES void div_loop(const float* a, const float* b, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] / b[i];
}

// 16 running sums in double (a long float sum drifts), two AVX-512 registers (four AVX2, eight
// SSE: the same additions in the same order), folded pairwise at the end.
EMBER_CLONES double sum_loop(const float* x, int64_t n) {
  double acc[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; ++j) acc[j] += x[i + j];
  for (int j = 0; i < n; ++i, ++j) acc[j] += x[i];
  for (int w = 8; w >= 1; w /= 2)
    for (int j = 0; j < w; ++j) acc[j] += acc[j + w];
  return acc[0];
}

// GCC vector types of 16 floats: each clone lowers them to one AVX-512, two AVX2 or four SSE
// registers, the same lane operations in every case.
typedef float V16 __attribute__((vector_size(64)));
typedef int32_t I16 __attribute__((vector_size(64)));

// Cephes expf on 16 lanes: exp(x) = 2^n exp(r), r = x - n ln2 in [-ln2/2, ln2/2], exp(r) by a
// degree-6 polynomial (within 1e-7 relative of exp), 2^n from exponent bits in two factors so
// that denormal results and the overflow to inf come out of the multiplications.
__attribute__((always_inline)) inline void exp16(const float* in, float* out, float shift) {
  V16 x;
  std::memcpy(&x, in, sizeof x);
  x = x - shift;
  const V16 lo = V16{} + -103.f, hi = V16{} + 88.72283f, zero = V16{}, inf = V16{} + INFINITY;
  V16 xc = x < lo ? lo : x;
  xc = xc > hi ? hi : xc;
  V16 fx = xc * 1.44269504088896341f + 0.5f;
  V16 n = __builtin_convertvector(__builtin_convertvector(fx, I16), V16);
  n = n > fx ? n - 1.f : n;  // floor
  V16 r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  V16 z = r * r;
  V16 p = V16{} + 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  V16 y = p * z + r + 1.f;
  I16 ni = __builtin_convertvector(n, I16), n1 = ni >> 1;
  I16 b1 = (n1 + 127) << 23, b2 = (ni - n1 + 127) << 23;
  V16 s1, s2;
  std::memcpy(&s1, &b1, sizeof s1);
  std::memcpy(&s2, &b2, sizeof s2);
  y = y * s1 * s2;
  y = x < lo ? zero : y;
  y = x > hi ? inf : y;
  y = x != x ? x : y;  // NaN stays NaN
  std::memcpy(out, &y, sizeof y);
}

EMBER_CLONES void exp_loop(const float* in, float* out, int64_t n, float shift) {
  int64_t k = 0;
  for (; k + 16 <= n; k += 16) exp16(in + k, out + k, shift);
  if (k < n) {  // the tail through a padded block: the same arithmetic as the full blocks
    float block[16] = {};
    std::memcpy(block, in + k, static_cast<size_t>(n - k) * sizeof(float));
    exp16(block, block, shift);
    std::memcpy(out + k, block, static_cast<size_t>(n - k) * sizeof(float));
  }
}

EMBER_CLONES float sum_float(const float* x, int64_t n) {
  float acc[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; ++j) acc[j] += x[i + j];
  for (int j = 0; i < n; ++i, ++j) acc[j] += x[i];
  for (int w = 8; w >= 1; w /= 2)
    for (int j = 0; j < w; ++j) acc[j] += acc[j + w];
  return acc[0];
}

EMBER_CLONES float max_loop(const float* x, int64_t n) {
  float acc[16];
  for (float& a : acc) a = -INFINITY;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; ++j) acc[j] = x[i + j] > acc[j] ? x[i + j] : acc[j];
  for (int j = 0; i < n; ++i, ++j) acc[j] = x[i] > acc[j] ? x[i] : acc[j];
  float m = acc[0];
  for (int j = 1; j < 16; ++j) m = acc[j] > m ? acc[j] : m;
  return m;
}

}  // namespace

float exp_shifted(const float* in, float* out, int64_t n, float shift) {
  exp_loop(in, out, n, shift);
  return sum_float(out, n);
}

float max_of(const float* in, int64_t n) { return max_loop(in, n); }

void exp(const float* in, float* out, int64_t n) {
  split(n, [&](int64_t lo, int64_t hi) { exp_loop(in + lo, out + lo, hi - lo, 0.f); });
}

namespace {
// NaN < 0 is false, so NaN passes through as PyTorch's relu keeps it.
EMBER_CLONES void relu_loop(const float* in, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = in[i] < 0.f ? 0.f : in[i];
}
}  // namespace

EMBER_CLONES void add_to_double(const float* x, double* acc, int64_t n) {
  for (int64_t i = 0; i < n; ++i) acc[i] += static_cast<double>(x[i]);
}

void relu(const float* in, float* out, int64_t n) {
  split(n, [&](int64_t lo, int64_t hi) { relu_loop(in + lo, out + lo, hi - lo); });
}

EMBER_CLONES void axpy(float alpha, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

void to_bf16(const float* in, uint16_t* out, int64_t n) {
  split(n, [&](int64_t lo, int64_t hi) { to_bf16_loop(in + lo, out + lo, hi - lo); });
}
void from_bf16(const uint16_t* in, float* out, int64_t n) {
  split(n, [&](int64_t lo, int64_t hi) { from_bf16_loop(in + lo, out + lo, hi - lo); });
}
void fill_where(const uint8_t* mask, float value, const float* x, float* out, int64_t n) {
  split(n, [&](int64_t lo, int64_t hi) {
    fill_where_loop(mask + lo, value, x + lo, out + lo, hi - lo);
  });
}
void add(const float* a, const float* b, float* out, int64_t n) {
  split(n, [&](int64_t lo, int64_t hi) { add_loop(a + lo, b + lo, out + lo, hi - lo); });
}
void sub(const float* a, const float* b, float* out, int64_t n) {
  split(n, [&](int64_t lo, int64_t hi) { sub_loop(a + lo, b + lo, out + lo, hi - lo); });
}
void mul(const float* a, const float* b, float* out, int64_t n) {
  split(n, [&](int64_t lo, int64_t hi) { mul_loop(a + lo, b + lo, out + lo, hi - lo); });
}
void div(const float* a, const float* b, float* out, int64_t n) {
  split(n, [&](int64_t lo, int64_t hi) { div_loop(a + lo, b + lo, out + lo, hi - lo); });
}

// Pieces of kPiece elements summed separately, then their sums in order: the same result for
// any thread count.
double sum(const float* x, int64_t n) {
  if (n <= kPiece) return sum_loop(x, n);
  int64_t pieces = (n + kPiece - 1) / kPiece;
  std::vector<double> partial(static_cast<size_t>(pieces));
  auto piece = [&](int64_t p) {
    int64_t lo = p * kPiece;
    partial[static_cast<size_t>(p)] = sum_loop(x + lo, std::min(n, lo + kPiece) - lo);
  };
  if (n < kMinParallel || get_num_threads() == 1)
    for (int64_t p = 0; p < pieces; ++p) piece(p);
  else
    parallel_for(pieces, piece);
  double total = 0;
  for (double v : partial) total += v;
  return total;
}

}  // namespace ember::detail::kernels
