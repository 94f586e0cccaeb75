// Ember's single entry to single-precision matrix products, as the core calls it. The engine and
// its choice are public (ember/gemm.hpp); this name stays for the core's callers.
#pragma once

#include <cstdint>
#include <functional>

#include "ember/gemm.hpp"

namespace ember::detail {

using ember::sgemm;

// Splits a product's C[m, n] into pieces fixed by the shape and the machine (its hardware
// threads), never by the thread count, so that one and two threads compute every element with
// the same calls and give the same bits. Calls piece(lo, hi, rows) on the pool for each: rows
// [lo, hi) of C when rows is true, else columns [lo, hi); one call over all of C (rows 0..m)
// when the product is too small to split.
void split_product(int64_t m, int64_t n, int64_t k,
                   const std::function<void(int64_t lo, int64_t hi, bool rows)>& piece);

// A row-major bfloat16 block [rows, cols] with leading dim ld, widened into a packed float32 one
// at `out` (rows * cols floats).
void widen_rows(const BFloat16* x, int64_t rows, int64_t cols, int64_t ld, float* out);

// An operand of a product summed in float32: float32 values or bfloat16 ones (one of the two
// set).
struct MixedOperand {
  const float* f32 = nullptr;
  const BFloat16* bf16 = nullptr;
};
// C = beta * C + op(A) · op(B), summed in float32: gemm_bf16 when both operands are bfloat16,
// else sgemm with each bfloat16 operand widened to float32 first (gemm_bf16's own path on a CPU
// without its native kernel, and autocast's float32 path, whose dW multiplies a float32
// gradient by a kept bfloat16 input).
void gemm_mixed(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, MixedOperand a,
                int64_t lda, MixedOperand b, int64_t ldb, float beta, float* c, int64_t ldc);

}  // namespace ember::detail
