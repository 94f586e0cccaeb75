// int8 dynamic quantization kernels, what nn::quantize_dynamic's modules run
// (ember/nn/quantized.hpp): weights quantized once, per output channel, symmetric int8; inputs
// quantized at every call, per tensor, asymmetric uint8 with a zero point (PyTorch's fbgemm /
// onednn scheme); products accumulated in int32 (Ember's AVX512-VNNI kernel on a weight packed
// once, else oneDNN's gemm_u8s8s32); scales and bias applied in float32; float32 out. Inference
// only: nothing is recorded.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ember/tensor.hpp"

namespace ember::quantized {

// A weight [out_features, in_features] as int8 rows q[n, k] = round(w[n, k] / scale[n]),
// scale[n] = max_k |w[n, k]| / 127.5 clamped to [-128, 127] (PyTorch's per-channel symmetric
// qint8 observer), with what every call reuses: the rows' sums (the activation zero point's
// correction) and the float bias.
struct PackedLinearWeight {
  int64_t out_features = 0, in_features = 0;
  std::vector<int8_t> weight;    // [out_features, in_features], row-major
  std::vector<float> scale;      // [out_features]
  std::vector<int32_t> row_sum;  // [out_features]: sum over k of weight[n, k]
  std::vector<float> bias;       // [out_features], or empty
  std::vector<int8_t> packed;    // the weight in the AVX512-VNNI kernel's layout (else empty)
};

// Quantizes a float weight [out, in] (and bias [out] or undefined). `op` names the caller in
// errors (a non-2-D weight, a bias of the wrong size, a non-finite value).
PackedLinearWeight pack_linear_weight(const Tensor& weight, const Tensor& bias,
                                      const std::string& op = "pack_linear_weight");
// The float32 values the int8 weight stands for, q * scale: [out, in].
Tensor dequantize(const PackedLinearWeight& packed);

// How inputs are quantized at run time. reduce_range keeps them to 7 bits (0..127), as PyTorch
// does on every CPU: needed where the int8 dot product goes through int16 pairs that saturate
// (AVX2 / AVX-512 without VNNI), not with VNNI. The default is full 8 bits on a CPU with VNNI
// (more accurate) and 7 bits without.
bool cpu_has_vnni();
bool default_reduce_range();

// The activation's quantization parameters for values in [min, max], as PyTorch's
// ChooseQuantizationParams (the range always holds 0; the zero point is an integer in range).
struct ActivationParams {
  float scale;
  int32_t zero_point;
};
ActivationParams choose_activation_params(float min, float max, bool reduce_range);

// out[i, n] = x_scale * scale[n] * sum_k (xq[i, k] - zp) q[n, k] + bias[n], for x [m,
// in_features] row-major floats quantized as one tensor (xq, x_scale, zp); out [m,
// out_features] row-major. The raw form that the Linear op and the LSTM kernel share.
void linear_dynamic(const float* x, int64_t m, const PackedLinearWeight& w, bool reduce_range,
                    float* out);

// y = x W^T + b on the int8 weight, x [*, in_features] float32; y [*, out_features], which
// does not require grad. `op` names the caller in errors (shape mismatch names both shapes).
Tensor linear_dynamic(const Tensor& input, const PackedLinearWeight& w, bool reduce_range,
                      const std::string& op = "linear_dynamic");

// One direction of one LSTM layer on int8 weights (gates i, f, g, o as PyTorch's). x holds
// time-major rows [N, I]: step t owns batch_sizes[t] rows (never more than the step before; a
// padded batch is T steps of B rows), visited last step first when `reverse`. h, c [B, H] are the
// state, updated in place (rows past batch_sizes[t] keep theirs: a finished sequence's state).
// Step outputs go to out + row * out_stride. The input projection of the whole sequence is one
// call (one input scale), the hidden one is one call per step (h quantized per step), as
// PyTorch's, padded or packed.
void lstm_layer_dynamic(const float* x, const std::vector<int64_t>& batch_sizes,
                        const PackedLinearWeight& w_ih, const PackedLinearWeight& w_hh,
                        bool reverse, bool reduce_range, float* h, float* c, float* out,
                        int64_t out_stride);

// What runs the int8 products, for reports: "Ember's AVX512-VNNI kernel (weights packed once)",
// or "oneDNN 2.6.3 gemm_u8s8s32 (no VNNI)".
std::string int8_engine_name();

}  // namespace ember::quantized
