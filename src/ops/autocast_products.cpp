// The products autocast runs in bfloat16 (ember/autocast.hpp), summed in float32 on gemm_bf16.
// linear: x rounded once and kept for dW (half of float32's bytes: the activation memory
// autocast saves); W rounded block by block, in forward and again for dx, so no bfloat16 copy
// of a whole weight is kept; the bias added in float32. Batched matmul: both operands rounded
// once and kept for backward. And what other ops keep of an activation under autocast.
#include <algorithm>

#include "ember/autocast.hpp"
#include "ember/autograd.hpp"
#include "ember/gemm.hpp"
#include "ember/ops.hpp"
#include "kernels.hpp"
#include "op_helpers.hpp"

namespace ember::detail {

std::shared_ptr<Storage> rounded(const float* values, int64_t n) {
  auto out = std::make_shared<Storage>(n, kBFloat16);
  kernels::to_bf16(values, static_cast<uint16_t*>(out->bytes()), n);
  return out;
}

namespace {
// Calls use(first, count, part) on blocks of a row-major [rows, cols] float32 matrix's rows,
// each rounded to bfloat16 just before use: at most 16 MB at a time instead of a copy of the
// whole weight (the language-model head's is 77 MB in bfloat16) held through the product.
// Blocks this large leave every other GPT-2 weight whole (smaller blocks split the inner dim
// of the MLP's products and measured slower).
template <class Use>
void in_row_blocks(const float* w, int64_t rows, int64_t cols, Use use) {
  const int64_t block = std::max<int64_t>(16, (int64_t{1} << 23) / std::max<int64_t>(cols, 1));
  for (int64_t first = 0; first < rows; first += block) {
    const int64_t count = std::min(block, rows - first);
    const auto part = rounded(w + first * cols, count * cols);
    use(first, count, part->data_as<BFloat16>());
  }
}
}  // namespace

bool autocasts(TensorList operands) {
  if (!autocast::is_enabled()) return false;
  for (const Tensor& t : operands)
    if (t.defined() && t.dtype() == kFloat64) return false;
  return true;
}

bool keeps_bf16(const Tensor& t) {
  return autocast::is_enabled() && is_grad_enabled() && t.requires_grad();
}

SavedValues saved_activation(const Tensor& t) {
  return keeps_bf16(t) ? SavedValues::rounded_to_bfloat16(t) : t.storage();
}

Tensor linear_autocast(const Tensor& x, const Tensor& weight, const Tensor& bias,
                       bool weight_in_out) {
  const Shape sx = x.shape(), sw = weight.shape();
  // W is [out, in] (linear's) or [in, out] (matmul's right operand): a transpose flag, so
  // neither forward nor backward goes through a transposed view of the weight.
  const int64_t in = sw[weight_in_out ? 0 : 1], out_features = sw[weight_in_out ? 1 : 0];
  const int64_t rows = in == 0 ? 0 : x.numel() / in;
  // x as a row-major bfloat16 copy (read where it sits), kept for dW; W rounded block by block.
  std::shared_ptr<const Storage> xb = convert_storage(x, kBFloat16);
  const Tensor w_read = weight.is_contiguous() ? weight : weight.contiguous();
  auto W = w_read.storage();
  const int64_t w_rows = sw[0], w_cols = sw[1];
  std::vector<size_t> out_shape(sx.begin(), sx.end());
  out_shape.back() = static_cast<size_t>(out_features);
  Array y = Array::from_shape(out_shape);
  float beta = 0.f;
  if (bias.defined()) {  // the bias rows first, then the product on top (beta = 1)
    const Strided1D b = strided_1d(bias);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < out_features; ++j) y.data()[r * out_features + j] = b[j];
    beta = 1.f;
  } else if (w_rows == 0) {  // no block below writes y
    std::fill(y.begin(), y.end(), 0.f);
  }
  const BFloat16* xp = xb->data_as<BFloat16>();
  in_row_blocks(W->data(), w_rows, w_cols, [&](int64_t first, int64_t count, const BFloat16* w) {
    if (weight_in_out)  // rows of W are a range of `in`: y += x[:, range] · W[range, :]
      gemm_bf16(false, false, rows, out_features, count, xp + first, in, w, out_features,
                first == 0 ? beta : 1.f, y.data(), out_features);
    else  // rows of W are a range of outputs: y[:, range] = x · W[range, :]ᵀ
      gemm_bf16(false, true, rows, count, in, xp, in, w, in, beta, y.data() + first, out_features);
  });
  const auto x_shape = to_xshape(sx), w_shape = to_xshape(sw);
  const std::vector<size_t> b_shape{static_cast<size_t>(out_features)};
  const bool has_bias = bias.defined();
  auto backward = [=](const Array& g, GradSink* sinks) {
    const auto gb = rounded(g.data(), static_cast<int64_t>(g.size()));
    const BFloat16* gp = gb->data_as<BFloat16>();
    sinks[0].accumulate(x_shape, [&](float beta_x, float* dx) {  // dx = g · W
      if (w_rows == 0 && beta_x == 0.f) std::fill(dx, dx + rows * in, 0.f);
      in_row_blocks(W->data(), w_rows, w_cols,
                    [&](int64_t first, int64_t count, const BFloat16* w) {
                      if (weight_in_out)  // dx[:, range] = g · W[range, :]ᵀ
                        gemm_bf16(false, true, rows, count, out_features, gp, out_features, w,
                                  out_features, beta_x, dx + first, in);
                      else  // dx += g[:, range] · W[range, :]
                        gemm_bf16(false, false, rows, in, count, gp + first, out_features, w, in,
                                  first == 0 ? beta_x : 1.f, dx, in);
                    });
    });
    sinks[1].accumulate(w_shape, [&](float beta_w, float* dw) {
      if (weight_in_out)  // dW = xᵀ · g, [in, out]
        gemm_bf16(true, false, in, out_features, rows, xb->data_as<BFloat16>(), in, gp,
                  out_features, beta_w, dw, out_features);
      else  // dW = gᵀ · x, [out, in]
        gemm_bf16(true, false, out_features, in, rows, gp, out_features, xb->data_as<BFloat16>(),
                  in, beta_w, dw, in);
    });
    if (has_bias)
      sinks[2].accumulate(b_shape, [&](float beta_b, float* db) {  // the column sums of g
        if (beta_b == 0.f) std::fill(db, db + out_features, 0.f);
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t j = 0; j < out_features; ++j) db[j] += g.data()[r * out_features + j];
      });
  };
  const char* name = weight_in_out ? "mm" : "linear";
  if (has_bias) return make_output(std::move(y), name, {x, weight, bias}, backward);
  return make_output(std::move(y), name, {x, weight}, backward);
}

Tensor matmul_batched_autocast(const Tensor& a, const Tensor& b, const char* name,
                               const Shape& out_shape, const BatchEntries& ea,
                               const BatchEntries& eb) {
  const Shape sa = a.shape(), sb = b.shape();
  const int64_t M = sa[sa.size() - 2], K = sa.back(), N = sb.back();
  const int64_t count = static_cast<int64_t>(ea.at.size());
  // Both operands as row-major bfloat16 copies, kept for backward (half of float32's bytes).
  std::shared_ptr<const Storage> ab = convert_storage(a, kBFloat16),
                                 bb = convert_storage(b, kBFloat16);
  Array out = Array::from_shape(to_xshape(out_shape));
  for (int64_t i = 0; i < count; ++i)
    gemm_bf16(false, false, M, N, K, ab->data_as<BFloat16>() + ea.at[i], K,
              bb->data_as<BFloat16>() + eb.at[i], N, 0.f, out.data() + i * M * N, N);
  const auto a_shape = to_xshape(sa), b_shape = to_xshape(sb);
  const bool need_a = a.requires_grad(), need_b = b.requires_grad();
  return make_output(std::move(out), name, {a, b}, [=](const Array& g) {
    const auto gb = rounded(g.data(), static_cast<int64_t>(g.size()));
    const BFloat16* gp = gb->data_as<BFloat16>();
    Gradients grads(2);
    if (need_a) {  // dA = g · Bᵀ, summed over the entries that share a broadcast A
      Array da = Array::from_shape(a_shape);
      if (ea.shared) std::fill(da.begin(), da.end(), 0.f);
      for (int64_t i = 0; i < count; ++i)
        gemm_bf16(false, true, M, K, N, gp + i * M * N, N, bb->data_as<BFloat16>() + eb.at[i], N,
                  ea.shared ? 1.f : 0.f, da.data() + ea.at[i], K);
      grads[0] = std::move(da);
    }
    if (need_b) {  // dB = Aᵀ · g
      Array db = Array::from_shape(b_shape);
      if (eb.shared) std::fill(db.begin(), db.end(), 0.f);
      for (int64_t i = 0; i < count; ++i)
        gemm_bf16(true, false, K, N, M, ab->data_as<BFloat16>() + ea.at[i], K, gp + i * M * N, N,
                  eb.shared ? 1.f : 0.f, db.data() + eb.at[i], N);
      grads[1] = std::move(db);
    }
    return grads;
  });
}

}  // namespace ember::detail
