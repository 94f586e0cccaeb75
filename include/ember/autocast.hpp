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
// Where the product runs (native_bf16_gemm()): oneDNN's bfloat16 matmul where the CPU makes it
// faster than float32 (measured on the AMD EPYC kind: 214 vs 114 GFLOPS on one thread, 1.9x;
// on the Intel Xeon kind without AMX the issue measured it at half of float32's speed), else
// the same bfloat16 operands widened to float32 and multiplied by sgemm: the same products,
// slower, and correct on any CPU. The rule is fixed per machine, never timed (the two paths sum
// in different orders): AMX-BF16, or an AMD CPU with AVX512_BF16, and oneDNN as the GEMM engine.
// EMBER_BF16_GEMM=native|widened overrides it (native needs oneDNN).
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
// Whether bfloat16 products run natively (oneDNN) on this machine, by the rule above.
bool native_bf16_gemm();

}  // namespace ember::autocast
