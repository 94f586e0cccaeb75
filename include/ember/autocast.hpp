// Autocast, as PyTorch's CPU autocast (torch.autocast("cpu", dtype=torch.bfloat16)): while a
// Guard lives on a thread, the GEMM-bound ops it lists run their products on bfloat16 operands
// with float32 accumulation, and what backward needs is kept in bfloat16 (half the bytes of
// float32 activations). Weights, optimizer state, gradients and the other ops' arithmetic
// (softmax, layer_norm, the losses) stay float32, and results stay float32 tensors. As in
// PyTorch, only float32 tensors are autocast: an op on float64 tensors computes in float64.
// The products: linear (nn::Linear, the attention projections, BERT's layers, GPT-2's
// lm_head), matmul (by a matrix, as GPT-2's Conv1D, or batched with broadcasting, as attention
// written by hand: q · kᵀ), bmm, the fused attention (scaled_dot_product_attention, and
// multi_head_attention_forward without need_weights) and conv1d. Under a Guard, linear(x, W, b)
// computes round_bf16(x) · round_bf16(W)ᵀ + b, summed in float32, so its value differs from
// float32's by bfloat16's rounding of the operands (8 significant bits). RNN, LSTM and GRU run
// their input-side products (every step's input projection, dx and dW_ih) that way and keep x
// in bfloat16; the recurrence (h · W_hhᵀ step by step) stays float32.
//
// Kept in bfloat16 for backward: the products' operands (conv1d's columns), the attention's
// weights, the inputs of gelu, relu and silu, and cross_entropy's logits (whose softmax
// backward recomputes). Forward reads the float32 values: a loss is float32's loss of the same
// logits.
//
// Where the products run (products()), fixed per machine, never timed (the paths sum in
// different orders):
// - bf16_native: oneDNN's bfloat16 matmul, where the CPU makes it faster than float32 (measured
//   on the AMD EPYC kind: 214 vs 114 GFLOPS on one thread, 1.9x): AMX-BF16, or an AMD CPU with
//   AVX512_BF16, and oneDNN as the GEMM engine. A parameter's bfloat16 copy is made once per
//   version (forward rounds it, backward's dx reads the same copy, inference rounds it once;
//   AdamW's step writes it in its own pass, optim/rounded_copies.hpp) and kept with the
//   parameter: the weights' size in bfloat16 beside them (248 MB for GPT-2 124M).
// - float32, elsewhere (the issue measured the Intel Xeon kind without AMX at half of float32's
//   speed in bfloat16): the products run on the float32 operands, as without autocast, and only
//   what backward keeps is bfloat16 (linear's and matmul's inputs, as the other ops' above):
//   the bytes are saved, the FLOPs are float32's. The fused attention, conv1d and the recurrent
//   layers run their float32 kernels there.
// - bf16_widened: the bfloat16 products of bf16_native, widened to float32 and multiplied by
//   sgemm: the native numerics on any CPU (slower than both), for tests and comparisons.
// EMBER_BF16_GEMM=native|float32|widened overrides the rule (native needs oneDNN).
#pragma once

#include "ember/dtype.hpp"

namespace ember::autocast {

class Guard {
 public:
  // Only kBFloat16 is a lower precision Ember has; `enabled = false` turns autocast off inside
  // an enabled region, as torch.autocast(enabled=False).
  explicit Guard(Dtype dtype = kBFloat16, bool enabled = true);
  ~Guard();
  Guard(const Guard&) = delete;
  Guard& operator=(const Guard&) = delete;

 private:
  bool previous_;
};

// Whether a Guard is on for this thread.
bool is_enabled();
// Where autocast's products run on this machine, by the rule above.
enum class Products { bf16_native, float32, bf16_widened };
Products products();
const char* products_name(Products p);  // "bf16_native", "float32", "bf16_widened"
// Whether gemm_bf16 runs on oneDNN's bfloat16 matmul (products() is bf16_native).
bool native_bf16_gemm();

}  // namespace ember::autocast
