// Matrix products through detail::sgemm (src/gemm.cpp: the fastest engine on this CPU), on raw
// pointers so that transposes are flags, batches are pointer offsets and gradients accumulate
// with beta = 1 — no transposed or sliced copies.
#include <algorithm>

#include "../dense.hpp"
#include "../gemm.hpp"
#include "ember/autograd.hpp"
#include "ember/ops.hpp"

namespace ember {

namespace {

// C[m,n] = op(A)[m,k] * op(B)[k,n] + beta * C, all row-major and contiguous.
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* A,
          const float* B, float beta, float* C) {
  detail::sgemm(trans_a, trans_b, m, n, k, 1.f, A, trans_a ? m : k, B, trans_b ? k : n, beta, C, n);
}

template <class S>
Array uninitialized(const S& shape) {
  return Array::from_shape(shape);
}

// Where each batch entry of a broadcast batch product reads its operand: the batch dims of
// `from` (shorter, or with 1s) broadcast to `to`.
std::vector<int64_t> batch_offsets(const Shape& from, const Shape& to, int64_t matrix_size) {
  int64_t total = 1;
  for (int64_t d : to) total *= d;
  std::vector<int64_t> offsets(static_cast<size_t>(total));
  const size_t lead = to.size() - from.size();
  for (int64_t i = 0; i < total; ++i) {
    int64_t rest = i, offset = 0, stride = matrix_size;
    for (size_t d = to.size(); d-- > lead;) {
      const int64_t coord = rest % to[d];
      rest /= to[d];
      const int64_t size = from[d - lead];
      offset += (size == 1 ? 0 : coord) * stride;
      stride *= size;
    }
    offsets[static_cast<size_t>(i)] = offset;
  }
  return offsets;
}

// A 2-D operand as GEMM reads it, straight from its storage: element (r, c) of the matrix is
// storage[offset + (trans ? c * ld + r : r * ld + c)]. Row-major matrices, their transposes
// and narrowed rows or columns of either qualify; `ok` is false for any other layout.
struct MatrixOperand {
  int64_t offset = 0, ld = 1;
  bool trans = false, ok = false;
};
MatrixOperand matrix_operand(const Tensor& t) {
  const Shape shape = t.shape(), strides = t.strides();
  MatrixOperand m;
  m.offset = t.storage_offset();
  const int64_t rows = shape[0], cols = shape[1];
  if ((strides[1] == 1 || cols == 1) && strides[0] >= std::max<int64_t>(cols, 1)) {
    m.ld = strides[0];
    m.ok = true;
  } else if ((strides[0] == 1 || rows == 1) && strides[1] >= std::max<int64_t>(rows, 1)) {
    m.ld = strides[1];
    m.trans = m.ok = true;
  }
  return m;
}

// [M, K] x [K, N] where an operand is a view: transposed strides become GEMM's transpose flag
// and a row stride its leading dimension, so neither operand is copied, in forward or backward.
Tensor matmul_2d_strided(const Tensor& a, const Tensor& b, MatrixOperand ma, MatrixOperand mb) {
  auto A = a.storage(), B = b.storage();  // read through the layout, never packed
  const int64_t M = a.size(0), K = a.size(1), N = b.size(1);
  Array out = uninitialized(std::vector<size_t>{size_t(M), size_t(N)});
  detail::sgemm(ma.trans, mb.trans, M, N, K, 1.f, A.storage_data() + ma.offset, ma.ld,
                B.storage_data() + mb.offset, mb.ld, 0.f, out.data(), N);
  const std::vector<size_t> a_shape{size_t(M), size_t(K)}, b_shape{size_t(K), size_t(N)};
  return make_output(std::move(out), "mm", {a, b}, [=](const Array& g, GradSink* sinks) {
    sinks[0].accumulate(a_shape, [&](float beta, float* da) {  // g · Bᵀ
      detail::sgemm(false, !mb.trans, M, K, N, 1.f, g.data(), N, B.storage_data() + mb.offset,
                    mb.ld, beta, da, K);
    });
    sinks[1].accumulate(b_shape, [&](float beta, float* db) {  // Aᵀ · g
      detail::sgemm(!ma.trans, false, K, N, M, 1.f, A.storage_data() + ma.offset, ma.ld, g.data(),
                    N, beta, db, N);
    });
  });
}

bool repeats(const std::vector<int64_t>& offsets) {
  std::vector<int64_t> sorted = offsets;
  std::sort(sorted.begin(), sorted.end());
  return std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end();
}

// [.., M, K] x [K, N]: the batch folds into the rows of one gemm.
Tensor matmul_folded(const Tensor& a, const Tensor& b) {
  Shape sa = a.shape();
  auto A = a.storage(), B = b.storage();
  const int64_t K = sa.back(), N = b.shape().back();
  std::vector<size_t> out_shape(sa.begin(), sa.end());
  out_shape.back() = static_cast<size_t>(N);
  Array out = uninitialized(out_shape);
  int64_t row_count = 1;
  for (size_t i = 0; i + 1 < sa.size(); ++i) row_count *= sa[i];
  gemm(false, false, row_count, N, K, A->data(), B->data(), 0.f, out.data());
  const auto a_shape = detail::to_xshape(sa), b_shape = detail::to_xshape(b.shape());
  return make_output(std::move(out), "mm", {a, b}, [=](const Array& g, GradSink* sinks) {
    sinks[0].accumulate(a_shape, [&](float beta, float* da) {  // g · Bᵀ
      gemm(false, true, row_count, K, N, g.data(), B->data(), beta, da);
    });
    sinks[1].accumulate(b_shape, [&](float beta, float* db) {  // Aᵀ · g
      gemm(true, false, K, N, row_count, A->data(), g.data(), beta, db);
    });
  });
}

// [.., M, K] x [.., K, N] with NumPy-broadcast batch dims: one gemm per batch entry, at pointer
// offsets; a broadcast operand's gradient sums over the entries that shared it (beta = 1).
Tensor matmul_batched(const Tensor& a, const Tensor& b, const char* name) {
  Shape sa = a.shape(), sb = b.shape();
  Shape batch_a(sa.begin(), sa.end() - 2), batch_b(sb.begin(), sb.end() - 2);
  Shape batch(std::max(batch_a.size(), batch_b.size()));
  for (size_t i = 0; i < batch.size(); ++i) {
    int64_t da =
        i < batch.size() - batch_a.size() ? 1 : batch_a[i - (batch.size() - batch_a.size())];
    int64_t db =
        i < batch.size() - batch_b.size() ? 1 : batch_b[i - (batch.size() - batch_b.size())];
    EMBER_CHECK_SHAPE(da == db || da == 1 || db == 1, name, ": batch dims ",
                      detail::shape_str(batch_a), " and ", detail::shape_str(batch_b),
                      " do not broadcast (shapes ", detail::shape_str(sa), " and ",
                      detail::shape_str(sb), ")");
    batch[i] = da == 1 ? db : da;
  }
  const int64_t M = sa[sa.size() - 2], K = sa.back(), N = sb.back();
  const std::vector<int64_t> a_at = batch_offsets(batch_a, batch, M * K);
  const std::vector<int64_t> b_at = batch_offsets(batch_b, batch, K * N);
  const int64_t count = static_cast<int64_t>(a_at.size());
  // A broadcast operand is read by several batch entries: its gradient sums them (beta = 1).
  // An empty batch reads it not at all: its gradient is zeros.
  const bool a_shared = count == 0 || repeats(a_at), b_shared = count == 0 || repeats(b_at);
  auto A = a.storage(), B = b.storage();
  bool need_a = a.requires_grad(), need_b = b.requires_grad();
  Shape out_shape = batch;
  out_shape.push_back(M);
  out_shape.push_back(N);
  Array out = uninitialized(detail::to_xshape(out_shape));
  for (int64_t i = 0; i < count; ++i)
    gemm(false, false, M, N, K, A->data() + a_at[i], B->data() + b_at[i], 0.f,
         out.data() + i * M * N);
  return make_output(std::move(out), name, {a, b}, [=](const Array& g) {
    Gradients grads(2);
    if (need_a) {
      Array da = a_shared ? Array(xt::zeros<float>(A->shape())) : uninitialized(A->shape());
      for (int64_t i = 0; i < count; ++i)
        gemm(false, true, M, K, N, g.data() + i * M * N, B->data() + b_at[i], a_shared ? 1.f : 0.f,
             da.data() + a_at[i]);
      grads[0] = std::move(da);
    }
    if (need_b) {
      Array db = b_shared ? Array(xt::zeros<float>(B->shape())) : uninitialized(B->shape());
      for (int64_t i = 0; i < count; ++i)
        gemm(true, false, K, N, M, A->data() + a_at[i], g.data() + i * M * N, b_shared ? 1.f : 0.f,
             db.data() + b_at[i]);
      grads[1] = std::move(db);
    }
    return grads;
  });
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  Shape sa = a.shape(), sb = b.shape();
  EMBER_CHECK_SHAPE(!sa.empty() && !sb.empty(), "matmul: both arguments need at least 1 dim, got ",
                    "shapes ", detail::shape_str(sa), " and ", detail::shape_str(sb));
  // 1-D operands as PyTorch: a vector on the left is a row, on the right a column, and that dim
  // is dropped from the result.
  if (sa.size() == 1 && sb.size() == 1) {
    EMBER_CHECK_SHAPE(sa[0] == sb[0], "matmul: 1-D tensors of sizes ", sa[0], " and ", sb[0],
                      " cannot be multiplied (dot needs equal sizes)");
    return matmul(a.unsqueeze(0), b.unsqueeze(1)).reshape({});
  }
  if (sa.size() == 1) return matmul(a.unsqueeze(0), b).squeeze(-2);
  if (sb.size() == 1) return matmul(a, b.unsqueeze(-1)).squeeze(-1);
  EMBER_CHECK_SHAPE(
      sa.back() == sb[sb.size() - 2], "matmul: shapes ", detail::shape_str(sa), " and ",
      detail::shape_str(sb), " cannot be multiplied (", sa.back(), " != ", sb[sb.size() - 2],
      ": the last dim of the first must equal the second-to-last ", "dim of the second)");
  if (sa.size() == 2 && sb.size() == 2 && (a.is_view() || b.is_view())) {
    const MatrixOperand ma = matrix_operand(a), mb = matrix_operand(b);
    if (ma.ok && mb.ok) return matmul_2d_strided(a, b, ma, mb);
  }
  if (sb.size() == 2) return matmul_folded(a, b);
  return matmul_batched(a, b, "matmul");
}

Tensor bmm(const Tensor& a, const Tensor& b) {
  Shape sa = a.shape(), sb = b.shape();
  EMBER_CHECK_SHAPE(sa.size() == 3 && sb.size() == 3, "bmm: expects two 3-D tensors, got shapes ",
                    detail::shape_str(sa), " and ", detail::shape_str(sb));
  EMBER_CHECK_SHAPE(sa[0] == sb[0], "bmm: batch sizes ", sa[0], " and ", sb[0], " differ (shapes ",
                    detail::shape_str(sa), " and ", detail::shape_str(sb), ")");
  EMBER_CHECK_SHAPE(sa[2] == sb[1], "bmm: shapes ", detail::shape_str(sa), " and ",
                    detail::shape_str(sb), " cannot be multiplied (", sa[2], " != ", sb[1], ")");
  return matmul_batched(a, b, "bmm");
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
  // A 2-D input that is a transposed or narrowed view is read as GEMM's flag and leading
  // dimension, in forward and for dW; any other view is packed once (SavedValues).
  MatrixOperand mx = sx.size() == 2 && x.is_view() ? matrix_operand(x) : MatrixOperand{};
  const bool strided = mx.ok;
  if (!strided) mx = MatrixOperand{0, in, false, true};
  auto x_at = [X, strided, offset = mx.offset] {
    return strided ? X.storage_data() + offset : X->data();
  };
  std::vector<size_t> out_shape(sx.begin(), sx.end());
  out_shape.back() = static_cast<size_t>(out_features);
  Array y = uninitialized(out_shape);
  float beta = 0.f;
  if (bias.defined()) {  // start from the bias rows, then accumulate X·Wᵀ on top (beta = 1)
    detail::Dense bias_values(bias);
    const float* b = bias_values->data();
    for (int64_t r = 0; r < rows; ++r) std::copy(b, b + out_features, y.data() + r * out_features);
    beta = 1.f;
  }
  detail::sgemm(mx.trans, true, rows, out_features, in, 1.f, x_at(), mx.ld, W->data(), in, beta,
                y.data(), out_features);
  const auto x_shape = detail::to_xshape(sx), w_shape = detail::to_xshape(sw);
  const std::vector<size_t> b_shape{static_cast<size_t>(out_features)};
  const bool has_bias = bias.defined();
  // Each gradient is one GEMM into its sink: with beta = 1 straight into a .grad (or a pending
  // sum) that already exists, so a training step's dW allocates nothing and adds in the GEMM.
  auto backward = [=](const Array& g, GradSink* sinks) {
    sinks[0].accumulate(x_shape, [&](float beta, float* dx) {  // dx = g · W
      gemm(false, false, rows, in, out_features, g.data(), W->data(), beta, dx);
    });
    sinks[1].accumulate(w_shape, [&](float beta, float* dw) {  // dW = gᵀ · x
      detail::sgemm(true, mx.trans, out_features, in, rows, 1.f, g.data(), out_features, x_at(),
                    mx.ld, beta, dw, in);
    });
    if (has_bias)
      sinks[2].accumulate(b_shape, [&](float beta, float* db) {  // db = the column sums of g
        if (beta == 0.f) std::fill(db, db + out_features, 0.f);
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t j = 0; j < out_features; ++j) db[j] += g.data()[r * out_features + j];
      });
  };
  if (bias.defined()) return make_output(std::move(y), "linear", {x, weight, bias}, backward);
  return make_output(std::move(y), "linear", {x, weight}, backward);
}

}  // namespace ember
