// Conv1d as im2col + gemm: each sample's receptive fields are laid out once as columns
// [C_in/groups * K, L_out] (kept for backward), then one gemm per group gives the outputs;
// backward is dW += dY · colsᵀ, dcols = Wᵀ · dY scattered back (col2im), db = Σ dY. Under
// autocast the columns, the weight and dY are bfloat16 (ember/autocast.hpp); float64 tensors
// run the same body in float64 (dgemm).
#include "ember/nn/conv.hpp"

#include <cmath>
#include <type_traits>

#include "../gemm.hpp"
#include "ember/autograd.hpp"
#include "ember/gemm.hpp"
#include "ember/parallel.hpp"
#include "op_helpers.hpp"

namespace ember::nn::functional {

namespace {

struct ConvGeometry {
  int64_t N, C, L, O, K, G, stride, dilation, pad_left, L_out;
};

ConvGeometry conv_geometry(const char* op, const Shape& sx, const Shape& sw, int64_t stride,
                           const Conv1dPadding& padding, int64_t dilation, int64_t groups) {
  EMBER_CHECK_SHAPE(sw.size() == 3, op, ": weight must be 3-D [out, in / groups, kernel], got ",
                    detail::shape_str(sw));
  EMBER_CHECK_SHAPE(sx.size() == 3, op, ": input must be [N, C, L] or [C, L], got ",
                    detail::shape_str(sx));
  EMBER_CHECK_VALUE(stride >= 1 && dilation >= 1 && groups >= 1, op,
                    ": stride, dilation and groups must be positive, got ", stride, ", ", dilation,
                    " and ", groups);
  ConvGeometry g{sx[0], sx[1], sx[2], sw[0], sw[2], groups, stride, dilation, 0, 0};
  EMBER_CHECK_SHAPE(g.C == sw[1] * groups, op, ": input shape ", detail::shape_str(sx), " has ",
                    g.C, " channels, weight ", detail::shape_str(sw), " with groups ", groups,
                    " expects ", sw[1] * groups);
  EMBER_CHECK_VALUE(g.O % groups == 0, op, ": out_channels ", g.O, " must be divisible by groups ",
                    groups);
  const int64_t span = dilation * (g.K - 1);  // receptive field minus one
  int64_t total_pad;
  if (const auto* p = std::get_if<int64_t>(&padding)) {
    EMBER_CHECK_VALUE(*p >= 0, op, ": padding must be >= 0, got ", *p);
    g.pad_left = *p;
    total_pad = 2 * *p;
  } else {
    const std::string& mode = std::get<std::string>(padding);
    EMBER_CHECK_VALUE(mode == "same" || mode == "valid", op,
                      ": padding must be a number, \"same\" or \"valid\", got \"", mode, "\"");
    EMBER_CHECK_VALUE(mode == "valid" || stride == 1, op,
                      ": padding \"same\" needs stride 1, got stride ", stride);
    total_pad = mode == "same" ? span : 0;
    g.pad_left = total_pad / 2;  // PyTorch puts the odd one on the right
  }
  EMBER_CHECK_SHAPE(g.L + total_pad >= span + 1, op, ": kernel size ", g.K, " (dilation ", dilation,
                    ", spanning ", span + 1, ") is larger than the padded input length ",
                    g.L + total_pad);
  g.L_out = (g.L + total_pad - span - 1) / stride + 1;
  return g;
}

// The products on float32 operands (sgemm) or, under autocast, bfloat16 ones (gemm_bf16), both
// summed in float32; on float64 ones (dgemm) in float64.
template <class Acc>
void product(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const Acc* a, int64_t lda,
             const Acc* b, int64_t ldb, Acc beta, Acc* c, int64_t ldc) {
  gemm(ta, tb, m, n, k, Acc(1), a, lda, b, ldb, beta, c, ldc);
}
void product(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const BFloat16* a, int64_t lda,
             const BFloat16* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  gemm_bf16(ta, tb, m, n, k, a, lda, b, ldb, beta, c, ldc);
}

// conv1d with the columns and the weight as T: float, double for float64 tensors, or BFloat16
// under autocast (the columns, K times the input's size, then kept for backward at half the
// bytes). Acc is what the input, the output and the gradients hold: double for double, else
// float.
template <class T>
Tensor conv1d_as(const Tensor& x, const Tensor& weight, const Tensor& bias, const ConvGeometry& g) {
  constexpr bool kRounded = std::is_same_v<T, BFloat16>;
  using Acc = std::conditional_t<kRounded, float, T>;
  const char* op = "conv1d";
  const int64_t Cg = g.C / g.G, Og = g.O / g.G, rows = Cg * g.K, T_out = g.L_out;
  // x is read where it sits (through its strides) while its fields are laid out as columns.
  const Acc* x_base = x.data_ptr<Acc>();
  const Shape x_strides = x.strides();
  const auto x_shape = detail::to_xshape(x.shape());
  const auto w_shape = detail::to_xshape(weight.shape());
  // The weight: its values (version-checked in backward), or a bfloat16 copy.
  const SavedValuesOf<Acc> W = kRounded ? SavedValuesOf<Acc>() : detail::saved<Acc>(weight);
  const std::shared_ptr<const Storage> W16 =
      kRounded ? detail::convert_storage(weight, kBFloat16) : nullptr;
  auto w_data = [W, W16]() -> const T* {
    if constexpr (kRounded)
      return W16->data_as<BFloat16>();
    else
      return W->data();
  };
  // cols[n][group]: [Cg * K, L_out], zero where the field reaches into the padding.
  const std::shared_ptr<Storage> cols =
      std::make_shared<Storage>(g.N * g.G * rows * T_out, dtype_of<T>::value);
  ArrayOf<Acc> y = ArrayOf<Acc>::from_shape(
      {static_cast<size_t>(g.N), static_cast<size_t>(g.O), static_cast<size_t>(T_out)});
  const Acc* b = bias.defined() ? bias.data_ptr<Acc>() : nullptr;  // read through its stride
  const int64_t b_step = bias.defined() ? bias.strides()[0] : 0;
  detail::parallel_rows(g.N, g.N * g.O * rows * T_out * 2, [&](int64_t lo, int64_t hi) {
    for (int64_t n = lo; n < hi; ++n) {
      T* col = cols->data_as<T>() + n * g.G * rows * T_out;
      for (int64_t c = 0; c < g.C; ++c) {
        const Acc* xr = x_base + n * x_strides[0] + c * x_strides[1];
        for (int64_t k = 0; k < g.K; ++k) {
          T* dst = col + (c * g.K + k) * T_out;  // groups are consecutive channel blocks
          for (int64_t t = 0; t < T_out; ++t) {
            const int64_t pos = t * g.stride + k * g.dilation - g.pad_left;
            dst[t] = T(pos >= 0 && pos < g.L ? xr[pos * x_strides[2]] : Acc(0));
          }
        }
      }
      Acc* out = y.data() + n * g.O * T_out;
      for (int64_t o2 = 0; o2 < g.O; ++o2)
        std::fill(out + o2 * T_out, out + (o2 + 1) * T_out, b ? b[o2 * b_step] : Acc(0));
      for (int64_t gi = 0; gi < g.G; ++gi)
        product(false, false, Og, T_out, rows, w_data() + gi * Og * rows, rows,
                col + gi * rows * T_out, T_out, Acc(1), out + gi * Og * T_out, T_out);
    }
  });
  const bool need_x = x.requires_grad(), need_w = weight.requires_grad();
  const bool has_b = bias.defined(), need_b = has_b && bias.requires_grad();
  std::vector<Tensor> inputs{x, weight};
  if (has_b) inputs.push_back(bias);
  return make_output(std::move(y), op, inputs, [=](const ArrayOf<Acc>& dy) {
    Gradients grads(has_b ? 3 : 2);
    // dy as the products read it: as it is, or rounded to bfloat16 under autocast.
    std::shared_ptr<Storage> dy16;
    if constexpr (kRounded) dy16 = detail::rounded(dy.data(), static_cast<int64_t>(dy.size()));
    const T* dyp = [&]() -> const T* {
      if constexpr (kRounded)
        return dy16->data_as<BFloat16>();
      else
        return dy.data();
    }();
    const T* colp = cols->data_as<T>();
    if (need_w) {
      ArrayOf<Acc> dw = xt::zeros<Acc>(w_shape);
      for (int64_t n = 0; n < g.N; ++n)
        for (int64_t gi = 0; gi < g.G; ++gi)
          product(false, true, Og, rows, T_out, dyp + (n * g.O + gi * Og) * T_out, T_out,
                  colp + (n * g.G + gi) * rows * T_out, T_out, Acc(1), dw.data() + gi * Og * rows,
                  rows);
      grads[1] = std::move(dw);
    }
    if (need_b) {
      ArrayOf<Acc> db = xt::zeros<Acc>({static_cast<size_t>(g.O)});
      for (int64_t n = 0; n < g.N; ++n)
        for (int64_t o2 = 0; o2 < g.O; ++o2) {
          const Acc* r = dy.data() + (n * g.O + o2) * T_out;
          Acc s = 0;
          for (int64_t t = 0; t < T_out; ++t) s += r[t];
          db.data()[o2] += s;
        }
      grads[2] = std::move(db);
    }
    if (need_x) {
      ArrayOf<Acc> dx = xt::zeros<Acc>(x_shape);
      const T* w = w_data();
      detail::parallel_rows(g.N, g.N * g.O * rows * T_out * 2, [&](int64_t lo, int64_t hi) {
        std::vector<Acc> dcol(static_cast<size_t>(rows * T_out));
        for (int64_t n = lo; n < hi; ++n)
          for (int64_t gi = 0; gi < g.G; ++gi) {
            product(true, false, rows, T_out, Og, w + gi * Og * rows, rows,
                    dyp + (n * g.O + gi * Og) * T_out, T_out, Acc(0), dcol.data(), T_out);
            for (int64_t c = 0; c < Cg; ++c) {
              Acc* dxr = dx.data() + (n * g.C + gi * Cg + c) * g.L;
              for (int64_t k = 0; k < g.K; ++k) {
                const Acc* src = dcol.data() + (c * g.K + k) * T_out;
                for (int64_t t = 0; t < T_out; ++t) {
                  const int64_t pos = t * g.stride + k * g.dilation - g.pad_left;
                  if (pos >= 0 && pos < g.L) dxr[pos] += src[t];
                }
              }
            }
          }
      });
      grads[0] = std::move(dx);
    }
    return grads;
  });
}

}  // namespace

Tensor conv1d(const Tensor& input, const Tensor& weight, const Conv1dFuncOptions& o) {
  const char* op = "conv1d";
  const bool unbatched = input.dim() == 2;
  Tensor x = unbatched ? input.unsqueeze(0) : input;
  const ConvGeometry g = conv_geometry(op, x.shape(), weight.shape(), o.stride(), o.padding(),
                                       o.dilation(), o.groups());
  const Tensor& bias = o.bias();
  if (bias.defined())
    EMBER_CHECK_SHAPE(bias.shape() == Shape{g.O}, op, ": bias shape ",
                      detail::shape_str(bias.shape()), " should be [", g.O, "]");
  Tensor out;
  if (detail::autocasts({x, weight, bias}) && detail::bf16_products_on()) {
    out = conv1d_as<BFloat16>(x, weight, bias, g);
  } else {
    detail::check_same_dtype(op, x, weight, "input and weight");
    if (bias.defined()) detail::check_same_dtype(op, weight, bias, "weight and bias");
    out = detail::by_dtype(
        x, op, [&](auto real) { return conv1d_as<decltype(real)>(x, weight, bias, g); });
  }
  return unbatched ? out.squeeze(0) : out;
}

}  // namespace ember::nn::functional
