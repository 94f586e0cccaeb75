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
// (Vectors pass by reference: a by-value AVX-512 vector would change the ABI by clone.)
__attribute__((always_inline)) inline void exp_v16(const V16& x, V16& out) {
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
  out = x != x ? x : y;  // NaN stays NaN
}

__attribute__((always_inline)) inline void exp16(const float* in, float* out, float shift) {
  V16 x;
  std::memcpy(&x, in, sizeof x);
  V16 y;
  exp_v16(x - shift, y);
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

namespace {
// GELU's tanh form, 0.5 x (1 + tanh(u)) with u = sqrt(2/pi) (x + 0.044715 x^3), written as
// x s with s = 1 / (1 + exp(-2u)) (the same function: 0.5 (1 + tanh u) = sigmoid(2u)), one exp
// and one division a lane; its derivative is s + 2 x s (1 - s) u'. A large -2u gives exp = inf
// and s = 0, as the limit.
constexpr float kGeluSqrt2OverPi = 0.79788456080286536f, kGeluCubic = 0.044715f;

__attribute__((always_inline)) inline void gelu_sigmoid(const V16& x, V16& s) {
  const V16 u = kGeluSqrt2OverPi * (x + kGeluCubic * x * x * x);
  V16 e;
  exp_v16(-2.f * u, e);
  s = 1.f / (1.f + e);
}

// 16 lanes of x from floats, or from bfloat16 bits (autocast's kept input), widened here.
__attribute__((always_inline)) inline void load16(const float* x, const uint16_t* x16, V16& v) {
  if (x) {
    std::memcpy(&v, x, sizeof v);
    return;
  }
  I16 bits;
  for (int j = 0; j < 16; ++j) bits[j] = static_cast<int32_t>(static_cast<uint32_t>(x16[j]) << 16);
  std::memcpy(&v, &bits, sizeof v);
}

__attribute__((always_inline)) inline void gelu16(const float* in, float* out) {
  V16 x;
  std::memcpy(&x, in, sizeof x);
  V16 s;
  gelu_sigmoid(x, s);
  const V16 y = x * s;
  std::memcpy(out, &y, sizeof y);
}

__attribute__((always_inline)) inline void gelu_backward16(const float* x, const uint16_t* x16,
                                                           const float* g, float* dx) {
  V16 v, gv, s;
  load16(x, x16, v);
  std::memcpy(&gv, g, sizeof gv);
  gelu_sigmoid(v, s);
  const V16 du = kGeluSqrt2OverPi * (1.f + 3.f * kGeluCubic * v * v);
  const V16 d = gv * (s + 2.f * v * s * (1.f - s) * du);
  std::memcpy(dx, &d, sizeof d);
}

EMBER_CLONES void gelu_tanh_loop(const float* in, float* out, int64_t n) {
  int64_t k = 0;
  for (; k + 16 <= n; k += 16) gelu16(in + k, out + k);
  if (k < n) {  // the tail through a padded block: the same arithmetic as the full blocks
    float block[16] = {};
    std::memcpy(block, in + k, static_cast<size_t>(n - k) * sizeof(float));
    gelu16(block, block);
    std::memcpy(out + k, block, static_cast<size_t>(n - k) * sizeof(float));
  }
}

EMBER_CLONES void gelu_tanh_backward_loop(const float* x, const uint16_t* x16, const float* g,
                                          float* dx, int64_t n) {
  int64_t k = 0;
  for (; k + 16 <= n; k += 16)
    gelu_backward16(x ? x + k : nullptr, x16 ? x16 + k : nullptr, g + k, dx + k);
  if (k < n) {
    float xb[16] = {}, gb[16] = {}, db[16];
    uint16_t hb[16] = {};
    const size_t rest = static_cast<size_t>(n - k);
    if (x) std::memcpy(xb, x + k, rest * sizeof(float));
    if (x16) std::memcpy(hb, x16 + k, rest * sizeof(uint16_t));
    std::memcpy(gb, g + k, rest * sizeof(float));
    gelu_backward16(x ? xb : nullptr, x16 ? hb : nullptr, gb, db);
    std::memcpy(dx + k, db, rest * sizeof(float));
  }
}

}  // namespace

EMBER_CLONES void add_to_double(const float* x, double* acc, int64_t n) {
  for (int64_t i = 0; i < n; ++i) acc[i] += static_cast<double>(x[i]);
}

void gelu_tanh(const float* in, float* out, int64_t n) {
  split(n, [&](int64_t lo, int64_t hi) { gelu_tanh_loop(in + lo, out + lo, hi - lo); });
}
void gelu_tanh_backward(const float* x, const uint16_t* x16, const float* g, float* dx, int64_t n) {
  split(n, [&](int64_t lo, int64_t hi) {
    gelu_tanh_backward_loop(x ? x + lo : nullptr, x16 ? x16 + lo : nullptr, g + lo, dx + lo,
                            hi - lo);
  });
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
