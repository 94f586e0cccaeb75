// Matrix products through sgemm (gemm.hpp: oneDNN where found, else OpenBLAS), on raw
// pointers so that transposes are flags, batches are pointer offsets and gradients accumulate
// with beta = 1 — no transposed or sliced copies.
#include "ember/autograd.hpp"
#include "ember/ops.hpp"
#include "gemm.hpp"

namespace ember {

namespace {

// C[m,n] = op(A)[m,k] * op(B)[k,n] + beta * C, all row-major and contiguous.
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* A,
          const float* B, float beta, float* C) {
  detail::gemm(trans_a, trans_b, m, n, k, 1.f, A, trans_a ? m : k, B, trans_b ? k : n, beta, C, n);
}

template <class S>
Array uninitialized(const S& shape) {
  return Array::from_shape(shape);
}

void check_matmul(const Shape& sa, const Shape& sb) {
  bool ok = (sa.size() == 2 || sa.size() == 3) && (sb.size() == 2 || sb.size() == 3) &&
            !(sa.size() == 2 && sb.size() == 3) && sa.back() == sb[sb.size() - 2] &&
            (sb.size() == 2 || sa[0] == sb[0]);
  EMBER_CHECK_SHAPE(ok, "matmul: shapes ", detail::shape_str(sa), " and ", detail::shape_str(sb),
                    " cannot be multiplied");
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  Shape sa = a.shape(), sb = b.shape();
  check_matmul(sa, sb);
  auto A = a.storage(), B = b.storage();
  bool need_a = a.requires_grad(), need_b = b.requires_grad();
  const int64_t K = sa.back(), N = sb.back();
  if (sb.size() == 2) {
    // [.., M, K] x [K, N]: the batch folds into the rows of one gemm.
    const int64_t rows = sa.size() == 3 ? sa[0] * sa[1] : sa[0];
    std::vector<size_t> out_shape(sa.begin(), sa.end());
    out_shape.back() = static_cast<size_t>(N);
    Array out = uninitialized(out_shape);
    gemm(false, false, rows, N, K, A->data(), B->data(), 0.f, out.data());
    return make_output(std::move(out), "mm", {a, b}, [=](const Array& g) {
      Gradients grads(2);
      if (need_a) {
        Array da = uninitialized(A->shape());
        gemm(false, true, rows, K, N, g.data(), B->data(), 0.f, da.data());  // g · Bᵀ
        grads[0] = std::move(da);
      }
      if (need_b) {
        Array db = uninitialized(B->shape());
        gemm(true, false, K, N, rows, A->data(), g.data(), 0.f, db.data());  // Aᵀ · g
        grads[1] = std::move(db);
      }
      return grads;
    });
  }
  // [Bt, M, K] x [Bt, K, N]: one gemm per batch entry, at pointer offsets.
  const int64_t batch = sa[0], M = sa[1];
  Array out = uninitialized(std::vector<size_t>{static_cast<size_t>(batch), static_cast<size_t>(M),
                                                static_cast<size_t>(N)});
  for (int64_t i = 0; i < batch; ++i)
    gemm(false, false, M, N, K, A->data() + i * M * K, B->data() + i * K * N, 0.f,
         out.data() + i * M * N);
  return make_output(std::move(out), "bmm", {a, b}, [=](const Array& g) {
    Gradients grads(2);
    if (need_a) {
      Array da = uninitialized(A->shape());
      for (int64_t i = 0; i < batch; ++i)
        gemm(false, true, M, K, N, g.data() + i * M * N, B->data() + i * K * N, 0.f,
             da.data() + i * M * K);
      grads[0] = std::move(da);
    }
    if (need_b) {
      Array db = uninitialized(B->shape());
      for (int64_t i = 0; i < batch; ++i)
        gemm(true, false, K, N, M, A->data() + i * M * K, g.data() + i * M * N, 0.f,
             db.data() + i * K * N);
      grads[1] = std::move(db);
    }
    return grads;
  });
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  Shape sx = x.shape(), sw = weight.shape();
  EMBER_CHECK_SHAPE(sw.size() == 2, "linear: weight must be 2-D [out, in], got ",
                    detail::shape_str(sw));
  EMBER_CHECK_SHAPE(!sx.empty() && sx.back() == sw[1], "linear: input shape ",
                    detail::shape_str(sx), " does not match weight shape ", detail::shape_str(sw),
                    " (expected last dim ", sw[1], ")");
  const int64_t in = sw[1], out_features = sw[0];
  if (bias.defined()) {
    EMBER_CHECK_SHAPE(bias.shape() == Shape{out_features}, "linear: bias shape ",
                      detail::shape_str(bias.shape()), " does not match out_features ",
                      out_features);
  }
  int64_t rows = 1;
  for (size_t i = 0; i + 1 < sx.size(); ++i) rows *= sx[i];
  auto X = x.storage(), W = weight.storage();
  std::vector<size_t> out_shape(sx.begin(), sx.end());
  out_shape.back() = static_cast<size_t>(out_features);
  Array y = uninitialized(out_shape);
  float beta = 0.f;
  if (bias.defined()) {  // start from the bias rows, then accumulate X·Wᵀ on top (beta = 1)
    const float* b = bias.data().data();
    for (int64_t r = 0; r < rows; ++r) std::copy(b, b + out_features, y.data() + r * out_features);
    beta = 1.f;
  }
  gemm(false, true, rows, out_features, in, X->data(), W->data(), beta, y.data());
  bool need_x = x.requires_grad(), need_w = weight.requires_grad();
  bool has_bias = bias.defined(), need_b = has_bias && bias.requires_grad();
  std::vector<Tensor> inputs{x, weight};
  if (bias.defined()) inputs.push_back(bias);
  return make_output(std::move(y), "linear", inputs, [=](const Array& g) {
    Gradients grads(has_bias ? 3 : 2);
    if (need_x) {
      Array dx = uninitialized(X->shape());
      gemm(false, false, rows, in, out_features, g.data(), W->data(), 0.f, dx.data());
      grads[0] = std::move(dx);
    }
    if (need_w) {
      Array dw = uninitialized(W->shape());
      gemm(true, false, out_features, in, rows, g.data(), X->data(), 0.f, dw.data());
      grads[1] = std::move(dw);
    }
    if (need_b) {
      Array db = xt::zeros<float>({static_cast<size_t>(out_features)});
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < out_features; ++j) db.data()[j] += g.data()[r * out_features + j];
      grads[2] = std::move(db);
    }
    return grads;
  });
}

}  // namespace ember
