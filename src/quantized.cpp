// int8 dynamic quantization: weight packing, the activation's parameters, and the product: on
// Ember's AVX512-VNNI kernel (quantized_vnni.cpp) where the CPU has it, else on oneDNN's
// gemm_u8s8s32 split between Ember's threads as sgemm is, its int32 accumulators landing in the
// float output buffer itself and rescaled in place. Integer sums are exact, so both give the same
// bits on any thread count.
#include "ember/quantized.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "ember/autograd.hpp"
#include "ember/error.hpp"
#include "gemm.hpp"
#include "quantized_kernel.hpp"

#ifdef EMBER_HAVE_DNNL
#include <dnnl.h>
#include <omp.h>
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace ember::quantized {

namespace {

// Below this PyTorch raises the scale (and widens the range), so that 1/scale stays finite.
constexpr float kSmallScale = 6.1e-5f;

// The u8 x s8 -> s32 product C[m, n] = A[m, k] B[n, k]^T, B row-major [n, k] (the weight).
void gemm_u8s8s32(int64_t m, int64_t n, int64_t k, const uint8_t* a, const int8_t* b, int32_t* c,
                  int64_t ldc) {
#ifdef EMBER_HAVE_DNNL
  // One OpenMP thread per call, as sgemm: Ember's pool splits the product.
  int saved = omp_get_max_threads();
  if (saved != 1) omp_set_num_threads(1);
  const int32_t co = 0;
  dnnl_status_t status =
      dnnl_gemm_u8s8s32('N', 'T', 'F', m, n, k, 1.f, a, k, 0, b, k, 0, 0.f, c, ldc, &co);
  if (saved != 1) omp_set_num_threads(saved);
  EMBER_CHECK(status == dnnl_success, "linear_dynamic: oneDNN gemm_u8s8s32 failed with status ",
              static_cast<int>(status), " for m=", m, " n=", n, " k=", k);
#else
  // Without oneDNN: the same integers, one row of A against each row of B.
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      int32_t acc = 0;
      for (int64_t p = 0; p < k; ++p)
        acc += static_cast<int32_t>(a[i * k + p]) * static_cast<int32_t>(b[j * k + p]);
      c[i * ldc + j] = acc;
    }
#endif
}

// Reused between calls (a fresh large buffer costs page faults at every call): one per thread.
std::vector<uint8_t>& activation_buffer(size_t size) {
  thread_local std::vector<uint8_t> buffer;
  if (buffer.size() < size) buffer.resize(size);
  return buffer;
}

// The range of x (always holding 0); false when x holds an inf or a NaN.
bool min_max(const float* x, int64_t n, float& lo, float& hi) {
  // Sixteen lanes each so that the loops vectorize without -ffast-math; z turns NaN at an inf
  // or a NaN (x * 0), which the comparisons alone would skip.
  float l[16], h[16], z[16];
  for (int j = 0; j < 16; ++j) l[j] = h[j] = z[j] = 0.f;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; ++j) {
      l[j] = x[i + j] < l[j] ? x[i + j] : l[j];
      h[j] = x[i + j] > h[j] ? x[i + j] : h[j];
      z[j] += x[i + j] * 0.f;
    }
  for (; i < n; ++i) {
    l[0] = x[i] < l[0] ? x[i] : l[0];
    h[0] = x[i] > h[0] ? x[i] : h[0];
    z[0] += x[i] * 0.f;
  }
  lo = *std::min_element(l, l + 16);
  hi = *std::max_element(h, h + 16);
  float zero = 0.f;
  for (float v : z) zero += v;
  return zero == 0.f;
}

}  // namespace

namespace {
// AVX-VNNI (CPUID leaf 7 subleaf 1, EAX bit 4), read directly: clang 14's
// __builtin_cpu_supports does not know "avxvnni".
bool cpu_has_avx_vnni() {
#if defined(__x86_64__) || defined(__i386__)
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid_max(0, nullptr) < 7) return false;
  __cpuid_count(7, 1, a, b, c, d);
  return (a >> 4) & 1u;
#else
  return false;
#endif
}
}  // namespace

bool cpu_has_vnni() {
#if defined(__x86_64__) || defined(__i386__)
  static const bool vnni = __builtin_cpu_supports("avx512vnni") || cpu_has_avx_vnni();
  return vnni;
#else
  return false;
#endif
}

bool default_reduce_range() { return !cpu_has_vnni(); }

std::string int8_engine_name() {
  if (detail::vnni_kernel_available()) return "Ember's AVX512-VNNI kernel (weights packed once)";
  std::string isa = "no VNNI";
#if defined(__x86_64__) || defined(__i386__)
  if (__builtin_cpu_supports("avx512vnni"))
    isa = "AVX512-VNNI";
  else if (cpu_has_avx_vnni())
    isa = "AVX-VNNI";
#endif
#ifdef EMBER_HAVE_DNNL
  const dnnl_version_t* v = dnnl_version();
  return "oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
         std::to_string(v->patch) + " gemm_u8s8s32 (" + isa + ")";
#else
  return "Ember's scalar int8 loop (" + isa + " unused: built without oneDNN)";
#endif
}

PackedLinearWeight pack_linear_weight(const Tensor& weight, const Tensor& bias,
                                      const std::string& op) {
  EMBER_CHECK_SHAPE(
      weight.defined() && weight.dim() == 2, op,
      ": expected a 2-D weight [out_features, in_features], got shape ",
      weight.defined() ? ::ember::detail::shape_str(weight.shape()) : std::string("undefined"));
  const int64_t n = weight.size(0), k = weight.size(1);
  EMBER_CHECK_SHAPE(!bias.defined() || bias.shape() == Shape{n}, op, ": expected bias [", n,
                    "] for weight ", ::ember::detail::shape_str(weight.shape()), ", got ",
                    ::ember::detail::shape_str(bias.shape()));
  PackedLinearWeight p;
  p.out_features = n;
  p.in_features = k;
  p.weight.resize(n * k);
  p.scale.resize(n);
  p.row_sum.resize(n);
  const std::vector<float> w = weight.to_vector();
  for (int64_t r = 0; r < n; ++r) {
    const float* row = w.data() + r * k;
    float amax = 0.f;
    for (int64_t j = 0; j < k; ++j) {
      EMBER_CHECK_VALUE(std::isfinite(row[j]), op, ": weight[", r, ", ", j, "] is ", row[j],
                        "; only finite weights can be quantized");
      amax = std::max(amax, std::abs(row[j]));
    }
    // PyTorch's symmetric observer: max|w| / ((qmax - qmin) / 2), at least float epsilon.
    const float scale = std::max(amax / 127.5f, std::numeric_limits<float>::epsilon());
    const float inverse = 1.f / scale;
    int32_t sum = 0;
    for (int64_t j = 0; j < k; ++j) {
      float q = std::clamp(std::nearbyint(row[j] * inverse), -128.f, 127.f);
      p.weight[r * k + j] = static_cast<int8_t>(q);
      sum += static_cast<int32_t>(q);
    }
    p.scale[r] = scale;
    p.row_sum[r] = sum;
  }
  if (bias.defined()) p.bias = bias.to_vector();
  if (detail::vnni_kernel_available()) p.packed = detail::pack_vnni(p.weight.data(), n, k);
  return p;
}

Tensor dequantize(const PackedLinearWeight& p) {
  std::vector<float> w(p.weight.size());
  for (int64_t r = 0; r < p.out_features; ++r)
    for (int64_t j = 0; j < p.in_features; ++j)
      w[r * p.in_features + j] = static_cast<float>(p.weight[r * p.in_features + j]) * p.scale[r];
  return tensor(std::move(w), {p.out_features, p.in_features});
}

ActivationParams choose_activation_params(float min, float max, bool reduce_range) {
  // PyTorch's ChooseQuantizationParams (aten/src/ATen/native/quantized/cpu/QuantUtils.h) for
  // quint8 without preserve_sparsity, in its mix of float and double.
  const int32_t qmin = 0, qmax = reduce_range ? 127 : 255;
  min = std::min(min, 0.f);
  max = std::max(max, 0.f);
  double scale = (static_cast<double>(max) - min) / (qmax - qmin);
  if (static_cast<float>(scale) == 0.f || std::isinf(1.f / static_cast<float>(scale))) scale = 0.1;
  if (scale < kSmallScale) {
    float original = static_cast<float>(scale);
    scale = kSmallScale;
    if (min == 0.f)
      max = kSmallScale * (qmax - qmin);
    else if (max == 0.f)
      min = -kSmallScale * (qmax - qmin);
    else {
      float amplifier = kSmallScale / original;
      min *= amplifier;
      max *= amplifier;
    }
  }
  const double from_min = qmin - min / scale, from_max = qmax - max / scale;
  const double min_error = std::abs(qmin) - std::abs(min / scale);
  const double max_error = std::abs(qmax) - std::abs(max / scale);
  const double initial = min_error < max_error ? from_min : from_max;
  int32_t zero_point = initial < qmin   ? qmin
                       : initial > qmax ? qmax
                                        : static_cast<int32_t>(std::nearbyint(initial));
  return {static_cast<float>(scale), zero_point};
}

void linear_dynamic(const float* x, int64_t m, const PackedLinearWeight& w, bool reduce_range,
                    float* out) {
  const int64_t n = w.out_features, k = w.in_features;
  if (m == 0) return;
  const bool vnni = !w.packed.empty();
  float lo, hi;
  const bool finite = vnni ? detail::min_max_avx512(x, m * k, lo, hi) : min_max(x, m * k, lo, hi);
  EMBER_CHECK_VALUE(finite, "linear_dynamic: the input [", m, ", ", k,
                    "] holds an inf or a NaN; only finite inputs can be quantized");
  const ActivationParams a = choose_activation_params(lo, hi, reduce_range);
  const float inverse = 1.f / a.scale, qmax = reduce_range ? 127.f : 255.f;
  const float zp = static_cast<float>(a.zero_point);
  const int64_t lda = vnni ? detail::vnni_k(k) : k;
  std::vector<uint8_t>& xq = activation_buffer(static_cast<size_t>(m * lda));
  if (vnni) detail::quantize_avx512(x, m, k, lda, inverse, zp, qmax, xq.data());
  for (int64_t i = 0; i < m && !vnni; ++i) {
    const float* xi = x + i * k;
    uint8_t* qi = xq.data() + i * lda;
    for (int64_t j = 0; j < k; ++j) {
      // Round half to even, as nearbyint, in a form that vectorizes without SSE4.1: adding and
      // subtracting 1.5 * 2^23 rounds any |v| < 2^22 to an integer (v is finite, clamped first).
      float v = xi[j] * inverse;
      v = v < -512.f ? -512.f : v > 512.f ? 512.f : v;
      v = (v + 12582912.f) - 12582912.f + zp;
      v = v < 0.f ? 0.f : v > qmax ? qmax : v;
      qi[j] = static_cast<uint8_t>(static_cast<int32_t>(v));
    }
    for (int64_t j = k; j < lda; ++j) qi[j] = 0;
  }
  const uint8_t* aq = xq.data();
  if (vnni) {
    detail::Epilogue e{w.row_sum.data(),
                       w.scale.data(),
                       w.bias.empty() ? nullptr : w.bias.data(),
                       a.scale,
                       a.zero_point,
                       n,
                       out,
                       n};
    return detail::gemm_vnni(aq, m, k, w.packed.data(), e);
  }

  // The int32 products go into `out` (same size as float) and are rescaled there, piece by piece
  // while they are in cache.
  int32_t* acc = reinterpret_cast<int32_t*>(out);
  auto finish = [&](int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
    for (int64_t i = r0; i < r1; ++i) {
      float* o = out + i * n;
      for (int64_t j = c0; j < c1; ++j) {
        int32_t v;
        std::memcpy(&v, o + j, sizeof v);
        float y = static_cast<float>(v - a.zero_point * w.row_sum[j]) * (a.scale * w.scale[j]);
        if (!w.bias.empty()) y += w.bias[j];
        std::memcpy(o + j, &y, sizeof y);
      }
    }
  };
  ::ember::detail::split_product(m, n, k, [&](int64_t lo_, int64_t hi_, bool rows) {
    if (rows) {
      gemm_u8s8s32(hi_ - lo_, n, k, aq + lo_ * k, w.weight.data(), acc + lo_ * n, n);
      finish(lo_, hi_, 0, n);
    } else {
      gemm_u8s8s32(m, hi_ - lo_, k, aq, w.weight.data() + lo_ * k, acc + lo_, n);
      finish(0, m, lo_, hi_);
    }
  });
}

Tensor linear_dynamic(const Tensor& input, const PackedLinearWeight& w, bool reduce_range,
                      const std::string& op) {
  EMBER_CHECK_VALUE(input.defined(), op, ": the input is an undefined tensor");
  EMBER_CHECK_DTYPE(input.dtype() == kFloat32, op, ": expected a float32 input, got ",
                    dtype_name(input.dtype()));
  EMBER_CHECK_SHAPE(input.dim() >= 1 && input.size(-1) == w.in_features, op, ": input shape ",
                    ::ember::detail::shape_str(input.shape()), " does not match weight [",
                    w.out_features, ", ", w.in_features, "] (expected [*, ", w.in_features, "])");
  Tensor x = input.contiguous();
  Shape shape = input.shape();
  const int64_t m = input.numel() / w.in_features;
  shape.back() = w.out_features;
  auto storage = std::make_shared<Storage>(m * w.out_features, kFloat32);
  linear_dynamic(x.data_ptr(), m, w, reduce_range, storage->data());
  return Tensor(storage, shape);
}

}  // namespace ember::quantized
