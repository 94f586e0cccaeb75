// The AVX512-VNNI int8 kernel behind ember::quantized::linear_dynamic (private to src/).
#pragma once

#include <cstdint>
#include <vector>

namespace ember::quantized::detail {

// What turns a column's int32 sum into its float output:
// out[i, c] = float(sum - zero_point * row_sum[c]) * (x_scale * scale[c]) + bias[c].
struct Epilogue {
  const int32_t* row_sum;
  const float* scale;
  const float* bias;  // or null
  float x_scale;
  int32_t zero_point;
  int64_t n;  // columns
  float* out;
  int64_t ldo;
};

bool vnni_kernel_available();  // AVX512F + AVX512BW + AVX512-VNNI
int64_t vnni_k(int64_t k);     // k rounded up to a multiple of 4: A's row stride
// W [n, k] int8 row-major to the kernel's layout: per 16 columns, per 4 k, 64 bytes.
std::vector<int8_t> pack_vnni(const int8_t* w, int64_t n, int64_t k);
// out = epilogue(A W^T) for A [m, vnni_k(k)] uint8 (the padding's values do not matter: the
// packed weight is zero there), W packed by pack_vnni.
void gemm_vnni(const uint8_t* a, int64_t m, int64_t k, const int8_t* packed, const Epilogue& e);

// AVX-512 forms of linear_dynamic's input loops (called only when vnni_kernel_available()):
// x's range (holding 0; false at an inf or a NaN), and x [m, k] quantized to q [m, lda]
// (round half to even, + zero point, clamped to [0, qmax]; zeros past k).
bool min_max_avx512(const float* x, int64_t n, float& lo, float& hi);
void quantize_avx512(const float* x, int64_t m, int64_t k, int64_t lda, float inverse,
                     float zero_point, float qmax, uint8_t* q);

// LSTM gates of `rows` rows: gx + gh (i, f, g, o, each [H]) to c, h and out (row stride
// out_stride), with exp, sigmoid and tanh of a few ulp (absolute error near 1e-7).
void lstm_cells_avx512(int64_t rows, int64_t H, const float* gx, const float* gh, float* c,
                       float* h, float* out, int64_t out_stride);

}  // namespace ember::quantized::detail
