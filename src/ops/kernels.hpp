// Ember's hot loops on contiguous floats (private), compiled for AVX-512, AVX2 and baseline
// x86-64 and picked at run time for the CPU at hand (target_clones). Every clone gives the same
// bits: no FMA contraction (-ffp-contract=off), and sums keep 16 partial sums in a fixed order
// whatever the vector width. Large inputs are split between the pool's threads in pieces fixed
// by the size, so the thread count never changes a result either.
#pragma once

#include <cstdint>

namespace ember::detail::kernels {

void add(const float* a, const float* b, float* out, int64_t n);
void sub(const float* a, const float* b, float* out, int64_t n);
void mul(const float* a, const float* b, float* out, int64_t n);
void div(const float* a, const float* b, float* out, int64_t n);
void axpy(float alpha, const float* x, float* y, int64_t n);  // y += alpha * x
double sum(const float* x, int64_t n);
// float32 to bfloat16 bits (round to nearest even, NaN to the quiet NaN) and back, exactly as
// BFloat16's conversions: what autocast and to(kBFloat16) convert in bulk.
void to_bf16(const float* in, uint16_t* out, int64_t n);
void from_bf16(const uint16_t* in, float* out, int64_t n);
// out[k] = mask[k] ? value : x[k] (masked_fill on a mask of x's shape); out may alias x.
void fill_where(const uint8_t* mask, float value, const float* x, float* out, int64_t n);

// out[k] = exp(in[k] - shift) for k < n, returns their sum (16 lanes in a fixed order); out may
// alias in. exp is Cephes' expf polynomial (within 1e-7 relative of exp), on 16-lane vectors
// so that every clone gets the same bits.
float exp_shifted(const float* in, float* out, int64_t n, float shift);
// out[k] = exp(in[k]) and max(in[k], 0) (NaN kept); out may alias in.
void exp(const float* in, float* out, int64_t n);
void add_to_double(const float* x, double* acc, int64_t n);  // acc[k] += x[k]
void relu(const float* in, float* out, int64_t n);
// GELU's tanh form, out[k] = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) as x sigmoid(2u),
// and its backward dx[k] = g[k] gelu'(x[k]), x read from floats or (x null) bfloat16 bits x16.
void gelu_tanh(const float* in, float* out, int64_t n);
void gelu_tanh_backward(const float* x, const uint16_t* x16, const float* g, float* dx, int64_t n);
float max_of(const float* in,
             int64_t n);  // -inf for n = 0                        // accumulated in double

}  // namespace ember::detail::kernels
