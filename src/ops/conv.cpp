// Conv1d as im2col + gemm: each sample's receptive fields are laid out once as columns
// [C_in/groups * K, L_out] (kept for backward), then one gemm per group gives the outputs;
// backward is dW += dY · colsᵀ, dcols = Wᵀ · dY scattered back (col2im), db = Σ dY.
#include "ember/nn/conv.hpp"

#include <cmath>

#include "../gemm.hpp"
#include "ember/autograd.hpp"
#include "ember/parallel.hpp"

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
  const int64_t Cg = g.C / g.G, Og = g.O / g.G, rows = Cg * g.K, T = g.L_out;
  // x is read where it sits (through its strides) while its fields are laid out as columns.
  const float* x_base = x.data_ptr();
  const Shape x_strides = x.strides();
  const auto x_shape = detail::to_xshape(x.shape());
  auto W = weight.storage();
  // cols[n][group]: [Cg * K, L_out], zero where the field reaches into the padding.
  auto cols = std::make_shared<Array>(
      Array::from_shape({static_cast<size_t>(g.N), static_cast<size_t>(g.G),
                         static_cast<size_t>(rows), static_cast<size_t>(T)}));
  Array y = Array::from_shape(
      {static_cast<size_t>(g.N), static_cast<size_t>(g.O), static_cast<size_t>(T)});
  const float* b = bias.defined() ? bias.data_ptr() : nullptr;  // read through its stride
  const int64_t b_step = bias.defined() ? bias.strides()[0] : 0;
  detail::parallel_rows(g.N, g.N * g.O * rows * T * 2, [&](int64_t lo, int64_t hi) {
    for (int64_t n = lo; n < hi; ++n) {
      float* col = cols->data() + n * g.G * rows * T;
      for (int64_t c = 0; c < g.C; ++c) {
        const float* xr = x_base + n * x_strides[0] + c * x_strides[1];
        for (int64_t k = 0; k < g.K; ++k) {
          float* dst = col + (c * g.K + k) * T;  // groups are consecutive channel blocks
          for (int64_t t = 0; t < T; ++t) {
            const int64_t pos = t * g.stride + k * g.dilation - g.pad_left;
            dst[t] = pos >= 0 && pos < g.L ? xr[pos * x_strides[2]] : 0.f;
          }
        }
      }
      float* out = y.data() + n * g.O * T;
      for (int64_t o2 = 0; o2 < g.O; ++o2)
        std::fill(out + o2 * T, out + (o2 + 1) * T, b ? b[o2 * b_step] : 0.f);
      for (int64_t gi = 0; gi < g.G; ++gi)
        detail::sgemm(false, false, Og, T, rows, 1.f, W->data() + gi * Og * rows, rows,
                      col + gi * rows * T, T, 1.f, out + gi * Og * T, T);
    }
  });
  const bool need_x = x.requires_grad(), need_w = weight.requires_grad();
  const bool has_b = bias.defined(), need_b = has_b && bias.requires_grad();
  std::vector<Tensor> inputs{x, weight};
  if (has_b) inputs.push_back(bias);
  Tensor out = make_output(std::move(y), op, inputs, [=](const Array& dy) {
    Gradients grads(has_b ? 3 : 2);
    if (need_w) {
      Array dw = xt::zeros<float>(W->shape());
      for (int64_t n = 0; n < g.N; ++n)
        for (int64_t gi = 0; gi < g.G; ++gi)
          detail::sgemm(false, true, Og, rows, T, 1.f, dy.data() + (n * g.O + gi * Og) * T, T,
                        cols->data() + (n * g.G + gi) * rows * T, T, 1.f,
                        dw.data() + gi * Og * rows, rows);
      grads[1] = std::move(dw);
    }
    if (need_b) {
      Array db = xt::zeros<float>({static_cast<size_t>(g.O)});
      for (int64_t n = 0; n < g.N; ++n)
        for (int64_t o2 = 0; o2 < g.O; ++o2) {
          const float* r = dy.data() + (n * g.O + o2) * T;
          float s = 0.f;
          for (int64_t t = 0; t < T; ++t) s += r[t];
          db.data()[o2] += s;
        }
      grads[2] = std::move(db);
    }
    if (need_x) {
      Array dx = xt::zeros<float>(x_shape);
      detail::parallel_rows(g.N, g.N * g.O * rows * T * 2, [&](int64_t lo, int64_t hi) {
        std::vector<float> dcol(static_cast<size_t>(rows * T));
        for (int64_t n = lo; n < hi; ++n)
          for (int64_t gi = 0; gi < g.G; ++gi) {
            detail::sgemm(true, false, rows, T, Og, 1.f, W->data() + gi * Og * rows, rows,
                          dy.data() + (n * g.O + gi * Og) * T, T, 0.f, dcol.data(), T);
            for (int64_t c = 0; c < Cg; ++c) {
              float* dxr = dx.data() + (n * g.C + gi * Cg + c) * g.L;
              for (int64_t k = 0; k < g.K; ++k) {
                const float* src = dcol.data() + (c * g.K + k) * T;
                for (int64_t t = 0; t < T; ++t) {
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
  return unbatched ? out.squeeze(0) : out;
}

}  // namespace ember::nn::functional
