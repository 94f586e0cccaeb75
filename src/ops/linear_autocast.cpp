// linear under autocast (ember/autocast.hpp): x and W rounded to bfloat16 once, their product
// summed in float32 on the bfloat16 GEMM, the bias added in float32. Backward keeps x's
// bfloat16 copy (half of float32's bytes: the activation memory autocast saves) and the float32
// weight (no second copy of every weight), which it rounds again for dx.
#include "ember/autocast.hpp"
#include "ember/autograd.hpp"
#include "ember/gemm.hpp"
#include "ember/ops.hpp"
#include "kernels.hpp"
#include "op_helpers.hpp"

namespace ember::detail {

namespace {
// n float32 values rounded to bfloat16, in a block from the buffer cache.
std::shared_ptr<Storage> rounded(const float* values, int64_t n) {
  auto out = std::make_shared<Storage>(n, kBFloat16);
  kernels::to_bf16(values, static_cast<uint16_t*>(out->bytes()), n);
  return out;
}
}  // namespace

Tensor linear_autocast(const Tensor& x, const Tensor& weight, const Tensor& bias,
                       bool weight_in_out) {
  const Shape sx = x.shape(), sw = weight.shape();
  // W is [out, in] (linear's) or [in, out] (matmul's right operand): a transpose flag, so
  // neither forward nor backward goes through a transposed view of the weight.
  const int64_t in = sw[weight_in_out ? 0 : 1], out_features = sw[weight_in_out ? 1 : 0];
  const int64_t rows = in == 0 ? 0 : x.numel() / in;
  const int64_t ldw = weight_in_out ? out_features : in;
  // Row-major bfloat16 copies, read where x and W sit (any strides).
  std::shared_ptr<const Storage> xb = convert_storage(x, kBFloat16);
  const auto wb = convert_storage(weight, kBFloat16);
  std::vector<size_t> out_shape(sx.begin(), sx.end());
  out_shape.back() = static_cast<size_t>(out_features);
  Array y = Array::from_shape(out_shape);
  float beta = 0.f;
  if (bias.defined()) {  // the bias rows first, then the product on top (beta = 1)
    const Strided1D b = strided_1d(bias);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < out_features; ++j) y.data()[r * out_features + j] = b[j];
    beta = 1.f;
  }
  gemm_bf16(false, !weight_in_out, rows, out_features, in, xb->data_as<BFloat16>(), in,
            wb->data_as<BFloat16>(), ldw, beta, y.data(), out_features);
  const Tensor w_read = weight.is_contiguous() ? weight : weight.contiguous();
  auto W = w_read.storage();
  const auto x_shape = to_xshape(sx), w_shape = to_xshape(sw);
  const std::vector<size_t> b_shape{static_cast<size_t>(out_features)};
  const bool has_bias = bias.defined();
  auto backward = [=](const Array& g, GradSink* sinks) {
    const auto gb = rounded(g.data(), static_cast<int64_t>(g.size()));
    const BFloat16* gp = gb->data_as<BFloat16>();
    sinks[0].accumulate(x_shape, [&](float beta_x, float* dx) {  // dx = g · W
      const auto w = rounded(W->data(), out_features * in);
      gemm_bf16(false, weight_in_out, rows, in, out_features, gp, out_features,
                w->data_as<BFloat16>(), ldw, beta_x, dx, in);
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

}  // namespace ember::detail
