// Matrix products through ember::gemm (float32: sgemm, the fastest engine on this CPU; float64:
// OpenBLAS's dgemm), on raw pointers so that transposes are flags, batches are pointer offsets
// and gradients accumulate with beta = 1 — no transposed or sliced copies. Each product is
// written once for both dtypes (T = float or double); operands must share a dtype, as in
// PyTorch, and a float64 operand is never autocast.
#include <algorithm>

#include "../gemm.hpp"
#include "ember/autocast.hpp"
#include "ember/autograd.hpp"
#include "ember/ops.hpp"
#include "op_helpers.hpp"

namespace ember {

void detail::check_same_dtype(const char* op, const Tensor& a, const Tensor& b, const char* what) {
  EMBER_CHECK_DTYPE(a.dtype() == b.dtype(), op, ": expected ", what,
                    " to have the same dtype, got ", dtype_name(a.dtype()), " and ",
                    dtype_name(b.dtype()), " (convert one with .to(dtype))");
}

namespace {

template <class T, class S>
ArrayOf<T> uninitialized(const S& shape) {
  return ArrayOf<T>::from_shape(shape);
}

// Where each batch entry of a broadcast batch product finds its operand's matrix: the batch
// dims of `from` (shorter, or with 1s) broadcast to `to`, dim d of `from` stepping by
// strides[d] elements.
std::vector<int64_t> batch_offsets(const Shape& from, const Shape& strides, const Shape& to) {
  int64_t total = 1;
  for (int64_t d : to) total *= d;
  std::vector<int64_t> offsets(static_cast<size_t>(total));
  const size_t lead = to.size() - from.size();
  for (int64_t i = 0; i < total; ++i) {
    int64_t rest = i, offset = 0;
    for (size_t d = to.size(); d-- > lead;) {
      const int64_t coord = rest % to[d];
      rest /= to[d];
      if (from[d - lead] != 1) offset += coord * strides[d - lead];
    }
    offsets[static_cast<size_t>(i)] = offset;
  }
  return offsets;
}

// The same for a contiguous operand of batch shape `from` whose matrices hold matrix_size
// elements (a gradient's layout).
std::vector<int64_t> batch_offsets(const Shape& from, const Shape& to, int64_t matrix_size) {
  Shape strides(from.size());
  int64_t stride = matrix_size;
  for (size_t d = from.size(); d-- > 0;) {
    strides[d] = stride;
    stride *= from[d];
  }
  return batch_offsets(from, strides, to);
}

// A 2-D operand as GEMM reads it, straight from its storage: element (r, c) of the matrix is
// storage[offset + (trans ? c * ld + r : r * ld + c)]. Row-major matrices, their transposes
// and narrowed rows or columns of either qualify; `ok` is false for any other layout.
struct MatrixOperand {
  int64_t offset = 0, ld = 1;
  bool trans = false, ok = false;
};
// The last two dims of a tensor with shape `shape` and strides `strides` (rank >= 2).
MatrixOperand matrix_operand(const Shape& shape, const Shape& strides, int64_t offset) {
  MatrixOperand m;
  m.offset = offset;
  const size_t r = shape.size();
  const int64_t rows = shape[r - 2], cols = shape[r - 1];
  const int64_t row_stride = strides[r - 2], col_stride = strides[r - 1];
  if (rows == 0 || cols == 0) {  // no element is read: any leading dimension BLAS accepts
    m.ld = std::max<int64_t>(cols, 1);
    m.ok = true;
    return m;
  }
  if ((col_stride == 1 || cols == 1) && row_stride >= std::max<int64_t>(cols, 1)) {
    m.ld = row_stride;
    m.ok = true;
  } else if ((row_stride == 1 || rows == 1) && col_stride >= std::max<int64_t>(rows, 1)) {
    m.ld = col_stride;
    m.trans = m.ok = true;
  }
  return m;
}
MatrixOperand matrix_operand(const Tensor& t) {
  return matrix_operand(t.shape(), t.strides(), t.storage_offset());
}

// A tensor seen as the matrix [rows, last dim], its leading dims merged into the rows: ok
// when they merge (each steps by the next one's whole extent), as for any contiguous tensor,
// a narrow along dim 0 or the rows of a transposed [B, T, E] view that keep E adjacent.
MatrixOperand rows_operand(const Tensor& t) {
  const Shape shape = t.shape(), strides = t.strides();
  const size_t r = shape.size();
  if (r == 1) return {t.storage_offset(), std::max<int64_t>(shape[0], 1), false, strides[0] == 1};
  for (size_t d = 0; d + 2 < r; ++d)
    if (shape[d] != 1 && strides[d] != strides[d + 1] * shape[d + 1]) return {};
  int64_t rows = 1;
  for (size_t d = 0; d + 1 < r; ++d) rows *= shape[d];
  MatrixOperand m =
      matrix_operand({rows, shape[r - 1]}, {strides[r - 2], strides[r - 1]}, t.storage_offset());
  if (r > 2) m.ok = m.ok && !m.trans;  // rows merged from several dims are not one matrix's columns
  return m;
}

bool repeats(const std::vector<int64_t>& offsets) {
  std::vector<int64_t> sorted = offsets;
  std::sort(sorted.begin(), sorted.end());
  return std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end();
}

// [.., M, K] x [K, N]: the batch folds into the rows of one gemm. `ma` reads a as [rows, K]
// (rows_operand), `mb` reads b (matrix_operand): a transposed or narrowed view becomes GEMM's
// transpose flag and leading dimension, so neither operand is copied, in forward or backward.
template <class T>
Tensor matmul_folded(const Tensor& a, const Tensor& b, MatrixOperand ma, MatrixOperand mb) {
  Shape sa = a.shape();
  auto A = detail::saved<T>(a), B = detail::saved<T>(b);  // read through the layout, never packed
  const int64_t K = sa.back(), N = b.shape().back();
  std::vector<size_t> out_shape(sa.begin(), sa.end());
  out_shape.back() = static_cast<size_t>(N);
  ArrayOf<T> out = uninitialized<T>(out_shape);
  int64_t row_count = 1;
  for (size_t i = 0; i + 1 < sa.size(); ++i) row_count *= sa[i];
  gemm(ma.trans, mb.trans, row_count, N, K, T(1), A.storage_data() + ma.offset, ma.ld,
       B.storage_data() + mb.offset, mb.ld, T(0), out.data(), N);
  const auto a_shape = detail::to_xshape(sa), b_shape = detail::to_xshape(b.shape());
  return make_output(std::move(out), "mm", {a, b}, [=](const ArrayOf<T>& g, GradSink* sinks) {
    sinks[0].accumulate<T>(a_shape, [&](T beta, T* da) {  // g · Bᵀ
      gemm(false, !mb.trans, row_count, K, N, T(1), g.data(), N, B.storage_data() + mb.offset,
           mb.ld, beta, da, K);
    });
    sinks[1].accumulate<T>(b_shape, [&](T beta, T* db) {  // Aᵀ · g
      gemm(!ma.trans, false, K, N, row_count, T(1), A.storage_data() + ma.offset, ma.ld, g.data(),
           N, beta, db, N);
    });
  });
}

// [.., M, K] x [.., K, N] with NumPy-broadcast batch dims: one gemm per batch entry, at pointer
// offsets; a broadcast operand's gradient sums over the entries that shared it (beta = 1).
// Each operand is read where it sits when its matrices are row-major or transposed (flags
// and a leading dimension, batch entries at their strides); any other layout is packed once.
Tensor matmul_batched(const Tensor& a_in, const Tensor& b_in, const char* name) {
  Shape sa = a_in.shape(), sb = b_in.shape();
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
  Shape out_shape = batch;
  out_shape.push_back(M);
  out_shape.push_back(N);
  if (detail::autocasts({a_in, b_in}))  // bfloat16 copies of both: nothing to pack first
    return detail::matmul_batched_autocast(a_in, b_in, name, out_shape, {a_at, a_shared},
                                           {b_at, b_shared});
  detail::check_same_dtype(name, a_in, b_in);
  return detail::by_dtype(a_in, name, [&](auto real) {
    using T = decltype(real);
    auto readable = [](const Tensor& t) {
      return matrix_operand(t).ok ? t : t.contiguous();  // packed once, inside the op
    };
    const Tensor a = readable(a_in), b = readable(b_in);
    const MatrixOperand ma = matrix_operand(a), mb = matrix_operand(b);
    const Shape a_strides = a.strides(), b_strides = b.strides();
    const std::vector<int64_t> a_read =
        batch_offsets(batch_a, Shape(a_strides.begin(), a_strides.end() - 2), batch);
    const std::vector<int64_t> b_read =
        batch_offsets(batch_b, Shape(b_strides.begin(), b_strides.end() - 2), batch);
    auto A = detail::saved<T>(a), B = detail::saved<T>(b);
    bool need_a = a_in.requires_grad(), need_b = b_in.requires_grad();
    ArrayOf<T> out = uninitialized<T>(detail::to_xshape(out_shape));
    for (int64_t i = 0; i < count; ++i)
      gemm(ma.trans, mb.trans, M, N, K, T(1), A.storage_data() + ma.offset + a_read[i], ma.ld,
           B.storage_data() + mb.offset + b_read[i], mb.ld, T(0), out.data() + i * M * N, N);
    const auto a_shape = detail::to_xshape(sa), b_shape = detail::to_xshape(sb);
    return make_output(std::move(out), name, {a_in, b_in}, [=](const ArrayOf<T>& g) {
      Gradients grads(2);
      if (need_a) {  // dA = g · op(B)ᵀ
        ArrayOf<T> da = a_shared ? ArrayOf<T>(xt::zeros<T>(a_shape)) : uninitialized<T>(a_shape);
        for (int64_t i = 0; i < count; ++i)
          gemm(false, !mb.trans, M, K, N, T(1), g.data() + i * M * N, N,
               B.storage_data() + mb.offset + b_read[i], mb.ld, T(a_shared ? 1 : 0),
               da.data() + a_at[i], K);
        grads[0] = std::move(da);
      }
      if (need_b) {  // dB = op(A)ᵀ · g
        ArrayOf<T> db = b_shared ? ArrayOf<T>(xt::zeros<T>(b_shape)) : uninitialized<T>(b_shape);
        for (int64_t i = 0; i < count; ++i)
          gemm(!ma.trans, false, K, N, M, T(1), A.storage_data() + ma.offset + a_read[i], ma.ld,
               g.data() + i * M * N, N, T(b_shared ? 1 : 0), db.data() + b_at[i], N);
        grads[1] = std::move(db);
      }
      return grads;
    });
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
  if (sb.size() == 2) {
    // Under autocast, a product with a matrix is linear's, with the weight given as [in, out].
    if (detail::autocasts({a, b})) return detail::linear_autocast(a, b, Tensor(), true);
    detail::check_same_dtype("matmul", a, b);
    const MatrixOperand ma = rows_operand(a), mb = matrix_operand(b);
    if (ma.ok && mb.ok)
      return detail::by_dtype(
          a, "matmul", [&](auto real) { return matmul_folded<decltype(real)>(a, b, ma, mb); });
  }
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

namespace {
// linear's product in its dtype: y = x · Wᵀ + bias with W [out, in], or (weight_in_out, addmm's
// and Conv1D's form) y = x · W + bias with W [in, out]. Shapes are checked by the callers.
Tensor linear_product(const Tensor& x, const Tensor& weight, const Tensor& bias, bool weight_in_out,
                      const char* name) {
  if (detail::autocasts({x, weight, bias}))
    return detail::linear_autocast(x, weight, bias, weight_in_out);
  detail::check_same_dtype(name, x, weight, "input and weight");
  if (bias.defined()) detail::check_same_dtype(name, weight, bias, "weight and bias");
  const Shape sx = x.shape(), sw = weight.shape();
  const int64_t in = sw[weight_in_out ? 0 : 1], out_features = sw[weight_in_out ? 1 : 0];
  return detail::by_dtype(x, name, [&](auto real) {
    using T = decltype(real);
    int64_t rows = 1;
    for (size_t i = 0; i + 1 < sx.size(); ++i) rows *= sx[i];
    // x as the matrix [rows, in] and the weight as a matrix, read where they sit: a transposed
    // or narrowed view becomes GEMM's transpose flag and leading dimension, in forward, for dx
    // and for dW. A view whose rows do not merge that way is packed once, here.
    const Tensor x_read = rows_operand(x).ok ? x : x.contiguous();
    const Tensor w_read = matrix_operand(weight).ok ? weight : weight.contiguous();
    const MatrixOperand mx = rows_operand(x_read), mw = matrix_operand(w_read);
    auto X = detail::saved<T>(x_read), W = detail::saved<T>(w_read);
    std::vector<size_t> out_shape(sx.begin(), sx.end());
    out_shape.back() = static_cast<size_t>(out_features);
    ArrayOf<T> y = uninitialized<T>(out_shape);
    T beta = 0;
    if (bias.defined()) {  // start from the bias rows, then accumulate the product on top
      detail::fill_bias_rows(bias.data_ptr<T>(), bias.strides()[0], rows, out_features, y.data());
      beta = 1;
    }
    // W as the product's right operand [in, out]: Wᵀ for linear's [out, in], W itself for
    // [in, out]. `w_flip` is the transpose flag that reads it so; dx reads its transpose.
    const bool w_flip = weight_in_out ? mw.trans : !mw.trans;
    gemm(mx.trans, w_flip, rows, out_features, in, T(1), X.storage_data() + mx.offset, mx.ld,
         W.storage_data() + mw.offset, mw.ld, beta, y.data(), out_features);
    const auto x_shape = detail::to_xshape(sx), w_shape = detail::to_xshape(sw);
    const std::vector<size_t> b_shape{static_cast<size_t>(out_features)};
    const bool has_bias = bias.defined();
    // Each gradient is one GEMM into its sink: with beta = 1 straight into a .grad (or a pending
    // sum) that already exists, so a training step's dW allocates nothing and adds in the GEMM.
    auto backward = [=](const ArrayOf<T>& g, GradSink* sinks) {
      sinks[0].accumulate<T>(x_shape, [&](T beta, T* dx) {  // dx = g · (the right operand)ᵀ
        gemm(false, !w_flip, rows, in, out_features, T(1), g.data(), out_features,
             W.storage_data() + mw.offset, mw.ld, beta, dx, in);
      });
      sinks[1].accumulate<T>(w_shape, [&](T beta, T* dw) {
        if (weight_in_out)  // dW = xᵀ · g, [in, out]
          gemm(!mx.trans, false, in, out_features, rows, T(1), X.storage_data() + mx.offset, mx.ld,
               g.data(), out_features, beta, dw, out_features);
        else  // dW = gᵀ · x, [out, in]
          gemm(true, mx.trans, out_features, in, rows, T(1), g.data(), out_features,
               X.storage_data() + mx.offset, mx.ld, beta, dw, in);
      });
      if (has_bias)
        sinks[2].accumulate<T>(b_shape, [&](T beta, T* db) {
          detail::add_column_sums(g.data(), rows, out_features, beta, db);
        });
    };
    if (bias.defined())
      return make_output(std::move(y), name, {x, weight, bias}, SinkBackwardFnOf<T>(backward));
    return make_output(std::move(y), name, {x, weight}, SinkBackwardFnOf<T>(backward));
  });
}
}  // namespace

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  Shape sx = x.shape(), sw = weight.shape();
  EMBER_CHECK_SHAPE(sw.size() == 2, "linear: weight must be 2-D [out, in], got ",
                    detail::shape_str(sw));
  EMBER_CHECK_SHAPE(!sx.empty() && sx.back() == sw[1], "linear: input shape ",
                    detail::shape_str(sx), " does not match weight shape ", detail::shape_str(sw),
                    " (expected last dim ", sw[1], ")");
  if (bias.defined()) {
    EMBER_CHECK_SHAPE(bias.shape() == Shape{sw[0]}, "linear: bias shape ",
                      detail::shape_str(bias.shape()), " does not match out_features ", sw[0]);
  }
  return linear_product(x, weight, bias, false, "linear");
}

Tensor addmm(const Tensor& input, const Tensor& mat1, const Tensor& mat2) {
  const Shape s1 = mat1.shape(), s2 = mat2.shape();
  EMBER_CHECK_SHAPE(s1.size() == 2 && s2.size() == 2, "addmm: mat1 and mat2 must be 2-D, got ",
                    detail::shape_str(s1), " and ", detail::shape_str(s2));
  EMBER_CHECK_SHAPE(s1[1] == s2[0], "addmm: shapes ", detail::shape_str(s1), " and ",
                    detail::shape_str(s2), " cannot be multiplied (", s1[1], " != ", s2[0], ")");
  // As PyTorch, input's dtype must be the product's, whichever form follows (outside autocast,
  // which multiplies in bfloat16 whatever the operands).
  if (!detail::autocasts({input, mat1, mat2}))
    detail::check_same_dtype("addmm", input, mat2, "input and mat2");
  // A bias row ([p]): added by the product itself. Any other input broadcasts as input + mm.
  if (input.shape() == Shape{s2[1]}) return linear_product(mat1, mat2, input, true, "addmm");
  const Tensor product = matmul(mat1, mat2);
  EMBER_CHECK_SHAPE(
      detail::broadcast_shapes(input.shape(), product.shape(), "addmm") == product.shape(),
      "addmm: input of shape ", detail::shape_str(input.shape()),
      " does not broadcast to the product's ", detail::shape_str(product.shape()));
  return input + product;
}

}  // namespace ember
