// Ember's own u8 x s8 -> s32 kernel for CPUs with AVX512-VNNI: the weight is packed once, at
// quantization time, in the layout vpdpbusd reads (16 output columns x 4 k per 64 bytes), and the
// int32 sums are rescaled to float in registers. oneDNN 2.6's gemm_u8s8s32 repacks the weight at
// every call and costs ~10 us even on a 32x64x128 product; this kernel measured 2-4x faster on
// the shapes of bench/quantized_bench.cpp. Compiled for AVX-512 with a function attribute and
// called only when the CPU has it (the rest of Ember is built for the baseline x86-64).
#include <algorithm>
#include <cstring>

#include "ember/error.hpp"
#include "ember/parallel.hpp"
#include "quantized_kernel.hpp"

#if defined(__x86_64__)
#include <immintrin.h>
#define EMBER_VNNI_TARGET __attribute__((target("avx512f,avx512bw,avx512vnni")))
#endif

namespace ember::quantized::detail {

int64_t vnni_k(int64_t k) { return (k + 3) / 4 * 4; }

bool vnni_kernel_available() {
#if defined(__x86_64__)
  static const bool ok = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                         __builtin_cpu_supports("avx512vnni");
  return ok;
#else
  return false;
#endif
}

std::vector<int8_t> pack_vnni(const int8_t* w, int64_t n, int64_t k) {
  const int64_t kp = vnni_k(k), groups = kp / 4, blocks = (n + 15) / 16;
  std::vector<int8_t> packed(static_cast<size_t>(blocks * groups * 64), 0);
  for (int64_t r = 0; r < n; ++r)
    for (int64_t j = 0; j < k; ++j)
      packed[((r / 16) * groups + j / 4) * 64 + (r % 16) * 4 + j % 4] = w[r * k + j];
  return packed;
}

#if defined(__x86_64__)
namespace {

// Rescales a tile's int32 sums and stores them (the epilogue), masked past column n.
template <int MR, int NV>
EMBER_VNNI_TARGET void finish(__m512i (&acc)[MR][NV], const Epilogue& e, int64_t m0, int64_t c0);

// Rows m0 .. m0 + MR of A against NV blocks of 16 columns from column c0, epilogue included.
template <int MR, int NV>
EMBER_VNNI_TARGET void tile(const uint8_t* a, int64_t lda, const int8_t* b, int64_t groups,
                            const Epilogue& e, int64_t m0, int64_t c0) {
  __m512i acc[MR][NV];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_si512();
  const int64_t panel = groups * 64;
  for (int64_t g = 0; g < groups; ++g) {
    __m512i w[NV];
    for (int v = 0; v < NV; ++v) w[v] = _mm512_loadu_si512(b + v * panel + g * 64);
    for (int r = 0; r < MR; ++r) {
      int32_t four;
      std::memcpy(&four, a + (m0 + r) * lda + g * 4, 4);
      const __m512i x = _mm512_set1_epi32(four);
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_dpbusd_epi32(acc[r][v], x, w[v]);
    }
  }
  finish<MR, NV>(acc, e, m0, c0);
}

// The full 4 x 4 tile written out with named accumulators: from the loop over an array GCC 12
// made code that copied every accumulator to another register at each step (half of the
// loop's instructions were moves, one accumulator spilled to the stack).
EMBER_VNNI_TARGET void tile44(const uint8_t* a, int64_t lda, const int8_t* b, int64_t groups,
                              const Epilogue& e, int64_t m0, int64_t c0) {
  __m512i c00 = _mm512_setzero_si512(), c01 = c00, c02 = c00, c03 = c00, c10 = c00, c11 = c00,
          c12 = c00, c13 = c00, c20 = c00, c21 = c00, c22 = c00, c23 = c00, c30 = c00, c31 = c00,
          c32 = c00, c33 = c00;
  const int64_t panel = groups * 64;
  const uint8_t *a0 = a + m0 * lda, *a1 = a0 + lda, *a2 = a1 + lda, *a3 = a2 + lda;
  for (int64_t g = 0; g < groups; ++g) {
    const int8_t* bg = b + g * 64;
    const __m512i w0 = _mm512_loadu_si512(bg), w1 = _mm512_loadu_si512(bg + panel);
    const __m512i w2 = _mm512_loadu_si512(bg + 2 * panel), w3 = _mm512_loadu_si512(bg + 3 * panel);
    int32_t four;
#define EMBER_ROW(ar, r0, r1, r2, r3)          \
  std::memcpy(&four, ar + g * 4, 4);           \
  {                                            \
    const __m512i x = _mm512_set1_epi32(four); \
    r0 = _mm512_dpbusd_epi32(r0, x, w0);       \
    r1 = _mm512_dpbusd_epi32(r1, x, w1);       \
    r2 = _mm512_dpbusd_epi32(r2, x, w2);       \
    r3 = _mm512_dpbusd_epi32(r3, x, w3);       \
  }
    EMBER_ROW(a0, c00, c01, c02, c03)
    EMBER_ROW(a1, c10, c11, c12, c13)
    EMBER_ROW(a2, c20, c21, c22, c23)
    EMBER_ROW(a3, c30, c31, c32, c33)
#undef EMBER_ROW
  }
  __m512i acc[4][4] = {
      {c00, c01, c02, c03}, {c10, c11, c12, c13}, {c20, c21, c22, c23}, {c30, c31, c32, c33}};
  finish<4, 4>(acc, e, m0, c0);
}

template <int MR, int NV>
EMBER_VNNI_TARGET void finish(__m512i (&acc)[MR][NV], const Epilogue& e, int64_t m0, int64_t c0) {
  const __m512i zp = _mm512_set1_epi32(e.zero_point);
  const __m512 x_scale = _mm512_set1_ps(e.x_scale);
  for (int v = 0; v < NV; ++v) {
    const int64_t c = c0 + v * 16, left = e.n - c;
    const __mmask16 mask = left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1);
    const __m512i sum = _mm512_maskz_loadu_epi32(mask, e.row_sum + c);
    // As the scalar epilogue: float(acc - zp * sum) * (x_scale * scale[n]) + bias[n], no FMA.
    const __m512 scale = _mm512_mul_ps(x_scale, _mm512_maskz_loadu_ps(mask, e.scale + c));
    const __m512 bias = e.bias ? _mm512_maskz_loadu_ps(mask, e.bias + c) : _mm512_setzero_ps();
    const __m512i correction = _mm512_mullo_epi32(zp, sum);
    for (int r = 0; r < MR; ++r) {
      // maskz: GCC 12 warns that the unmasked form reads an undefined register.
      __m512 y = _mm512_maskz_cvtepi32_ps(0xFFFF, _mm512_sub_epi32(acc[r][v], correction));
      y = _mm512_mul_ps(y, scale);
      if (e.bias) y = _mm512_add_ps(y, bias);
      _mm512_mask_storeu_ps(e.out + (m0 + r) * e.ldo + c, mask, y);
    }
  }
}

using Tile = void (*)(const uint8_t*, int64_t, const int8_t*, int64_t, const Epilogue&, int64_t,
                      int64_t);
template <int MR>
constexpr Tile row_of(int nv) {
  return nv == 1 ? tile<MR, 1> : nv == 2 ? tile<MR, 2> : nv == 3 ? tile<MR, 3> : tile<MR, 4>;
}
Tile pick(int mr, int nv) {
  switch (mr) {
    case 1:
      return row_of<1>(nv);
    case 2:
      return row_of<2>(nv);
    case 3:
      return row_of<3>(nv);
    default:
      return nv == 4 ? tile44 : row_of<4>(nv);
  }
}

}  // namespace

// exp as Cephes' expf (a degree-6 polynomial on x - n ln2, scaled by 2^n), a few ulp; the input
// is clamped where float exp overflows or goes subnormal, which the gates never need.
EMBER_VNNI_TARGET inline __m512 exp512(__m512 x) {
  x = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(88.f)), _mm512_set1_ps(-87.f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  x = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  x = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), x);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, x, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, x, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, x, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, x, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, x, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(x, x), _mm512_add_ps(x, _mm512_set1_ps(1.f)));
  return _mm512_scalef_ps(p, n);
}
EMBER_VNNI_TARGET inline __m512 sigmoid512(__m512 x) {
  const __m512 one = _mm512_set1_ps(1.f);
  return _mm512_div_ps(one, _mm512_add_ps(one, exp512(_mm512_sub_ps(_mm512_setzero_ps(), x))));
}
EMBER_VNNI_TARGET inline __m512 tanh512(__m512 x) {  // 2 sigmoid(2x) - 1
  const __m512 two = _mm512_set1_ps(2.f);
  return _mm512_sub_ps(_mm512_mul_ps(two, sigmoid512(_mm512_mul_ps(two, x))), _mm512_set1_ps(1.f));
}

EMBER_VNNI_TARGET inline __m512 gate(__mmask16 m, const float* x, const float* y, int64_t j) {
  return _mm512_add_ps(_mm512_maskz_loadu_ps(m, x + j), _mm512_maskz_loadu_ps(m, y + j));
}

EMBER_VNNI_TARGET void lstm_cells_avx512(int64_t rows, int64_t H, const float* gx, const float* gh,
                                         float* c, float* h, float* out, int64_t out_stride) {
  const int64_t G = 4 * H;
  for (int64_t r = 0; r < rows; ++r) {
    const float *x = gx + r * G, *y = gh + r * G;
    float *cr = c + r * H, *hr = h + r * H, *o = out + r * out_stride;
    for (int64_t j = 0; j < H; j += 16) {
      const __mmask16 m = H - j >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (H - j)) - 1);
      const __m512 i = sigmoid512(gate(m, x, y, j));
      const __m512 f = sigmoid512(gate(m, x + H, y + H, j));
      const __m512 g = tanh512(gate(m, x + 2 * H, y + 2 * H, j));
      const __m512 og = sigmoid512(gate(m, x + 3 * H, y + 3 * H, j));
      const __m512 c_new =
          _mm512_add_ps(_mm512_mul_ps(f, _mm512_maskz_loadu_ps(m, cr + j)), _mm512_mul_ps(i, g));
      const __m512 h_new = _mm512_mul_ps(og, tanh512(c_new));
      _mm512_mask_storeu_ps(cr + j, m, c_new);
      _mm512_mask_storeu_ps(hr + j, m, h_new);
      _mm512_mask_storeu_ps(o + j, m, h_new);
    }
  }
}

EMBER_VNNI_TARGET bool min_max_avx512(const float* x, int64_t n, float& lo, float& hi) {
  const __m512 zero = _mm512_setzero_ps();
  __m512 l = zero, h = zero, z = zero;  // z turns NaN at an inf or a NaN
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 mask = n - i >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (n - i)) - 1);
    const __m512 v = _mm512_maskz_loadu_ps(mask, x + i);  // zeros past the end: 0 is in range
    l = _mm512_min_ps(l, v);
    h = _mm512_max_ps(h, v);
    z = _mm512_add_ps(z, _mm512_mul_ps(v, zero));
  }
  // Reduced through memory: GCC 12 warns about an undefined register in _mm512_reduce_*_ps.
  alignas(64) float ls[16], hs[16], zs[16];
  _mm512_store_ps(ls, l);
  _mm512_store_ps(hs, h);
  _mm512_store_ps(zs, z);
  lo = hi = 0.f;
  float nan_or_zero = 0.f;
  for (int j = 0; j < 16; ++j) {
    lo = ls[j] < lo ? ls[j] : lo;
    hi = hs[j] > hi ? hs[j] : hi;
    nan_or_zero += zs[j];
  }
  return nan_or_zero == 0.f;
}

EMBER_VNNI_TARGET void quantize_avx512(const float* x, int64_t m, int64_t k, int64_t lda,
                                       float inverse, float zero_point, float qmax, uint8_t* q) {
  const __m512 inv = _mm512_set1_ps(inverse), zp = _mm512_set1_ps(zero_point);
  const __m512 lo = _mm512_setzero_ps(), hi = _mm512_set1_ps(qmax);
  for (int64_t i = 0; i < m; ++i) {
    const float* xi = x + i * k;
    uint8_t* qi = q + i * lda;
    for (int64_t j = 0; j < k; j += 16) {
      const __mmask16 mask = k - j >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (k - j)) - 1);
      __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(mask, xi + j), inv);
      v = _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);  // half to even
      v = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(v, zp), lo), hi);
      _mm512_mask_cvtusepi32_storeu_epi8(qi + j, mask, _mm512_cvtps_epi32(v));
    }
    for (int64_t j = k; j < lda; ++j) qi[j] = 0;
  }
}
#endif

void gemm_vnni(const uint8_t* a, int64_t m, int64_t k, const int8_t* packed, const Epilogue& e) {
#if defined(__x86_64__)
  const int64_t kp = vnni_k(k), groups = kp / 4, blocks = (e.n + 15) / 16;
  // Pieces of 4 column blocks (64 columns); more than one only when the product is worth waking
  // the pool for: 2^23 multiply-adds, four times sgemm's threshold, as this kernel does about
  // four times as many per second. Every element is one exact integer sum whatever the split.
  const int64_t quads = (blocks + 3) / 4;
  const int64_t pieces =
      std::min<int64_t>({get_num_threads(), quads, std::max<int64_t>(1, m * e.n * k >> 23)});
  auto run = [&](int64_t piece) {
    const int64_t q0 = quads * piece / pieces, q1 = quads * (piece + 1) / pieces;
    for (int64_t q = q0; q < q1; ++q) {
      const int64_t b0 = q * 4, nv = std::min<int64_t>(4, blocks - b0);
      const int8_t* panel = packed + b0 * groups * 64;
      for (int64_t m0 = 0; m0 < m; m0 += 4) {
        const int64_t mr = std::min<int64_t>(4, m - m0);
        pick(static_cast<int>(mr), static_cast<int>(nv))(a, kp, panel, groups, e, m0, b0 * 16);
      }
    }
  };
  if (pieces <= 1)
    run(0);
  else
    ::ember::detail::parallel_for(pieces, run);
#else
  (void)a, (void)m, (void)k, (void)packed, (void)e;
  EMBER_CHECK(false, "linear_dynamic: the VNNI kernel was called on a CPU without it");
#endif
}

}  // namespace ember::quantized::detail
