// Fused recurrent layer op: forward over all steps and its BPTT backward, side by side.
// Saved for backward: the activated gates of every row, the state each row started from and,
// for LSTM, tanh of the new cell (for GRU the hidden half of the n gate, which r scales).
// Written once for float32 and float64 (T): float keeps its SIMD gate loops and sgemm, double
// runs the same gate bodies on scalars and dgemm.
#include <algorithm>
#include <cstring>
#include <type_traits>
#include <xsimd/xsimd.hpp>
#include <xtensor-blas/xblas.hpp>

#include "../dense.hpp"
#include "../gemm.hpp"
#include "../simd_lanes.hpp"
#include "ember/autograd.hpp"
#include "ember/gemm.hpp"
#include "op_helpers.hpp"
#include "rnn_kernel.hpp"

namespace ember::nn::detail {

namespace {

using namespace ::ember::detail::simd;  // Batch, vload, vstore, vexp, vtanh, vsigmoid, lanes

// C[m,n] = op(A)[m,k] * op(B)[k,n] + beta * C, row-major with leading dimensions lda / ldc
// (0: contiguous), so that every step of a batch-major sequence is a strided block of rows.
// (sgemm or dgemm: ember::gemm)
template <class T>
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const T* A, const T* B,
          T beta, T* C, int64_t lda = 0, int64_t ldc = 0) {
  if (m == 0 || n == 0) return;
  if (lda == 0) lda = trans_a ? m : k;
  if (ldc == 0) ldc = n;
  ::ember::gemm(trans_a, trans_b, m, n, k, T(1), A, lda, B, trans_b ? k : n, beta, C, ldc);
}

// x [N, I] and W_ih [GH, I] as the input-side products read them: version-checked saved
// values, or for float32 under autocast bfloat16 copies multiplied by gemm_bf16
// (ember/autocast.hpp). float64 is never rounded, as in PyTorch (autocast casts float32 only).
template <class T>
class InputSide {
  static constexpr bool kFloat = std::is_same_v<T, float>;

 public:
  InputSide(const Tensor& x, const Tensor& w_ih)
      : rounded_(kFloat && ::ember::detail::bf16_products_on()) {
    if (rounded_) {
      x16_ = ::ember::detail::convert_storage(x, kBFloat16);
      w16_ = ::ember::detail::convert_storage(w_ih, kBFloat16);
    } else {
      x_ = ::ember::detail::saved<T>(x);
      w_ = ::ember::detail::saved<T>(w_ih);
    }
  }
  // gates += x · W_ihᵀ
  void project(int64_t N, int64_t GH, int64_t I, T* gates) const {
    if (!rounded_) return gemm(false, true, N, GH, I, x_->data(), w_->data(), T(1), gates);
    if constexpr (kFloat) gemm_bf16(false, true, N, GH, I, x16(), I, w16(), I, 1.f, gates, GH);
  }
  // dx = dgi · W_ih
  void input_grad(int64_t N, int64_t GH, int64_t I, const ArrayOf<T>& dgi, T* dx) const {
    if (!rounded_) return gemm(false, false, N, I, GH, dgi.data(), w_->data(), T(0), dx);
    if constexpr (kFloat) {
      const auto d = ::ember::detail::rounded(dgi.data(), static_cast<int64_t>(dgi.size()));
      gemm_bf16(false, false, N, I, GH, d->template data_as<BFloat16>(), GH, w16(), I, 0.f, dx, I);
    }
  }
  // dW_ih = dgiᵀ · x
  void weight_grad(int64_t N, int64_t GH, int64_t I, const ArrayOf<T>& dgi, T* dw) const {
    if (!rounded_) return gemm(true, false, GH, I, N, dgi.data(), x_->data(), T(0), dw);
    if constexpr (kFloat) {
      const auto d = ::ember::detail::rounded(dgi.data(), static_cast<int64_t>(dgi.size()));
      gemm_bf16(true, false, GH, I, N, d->template data_as<BFloat16>(), GH, x16(), I, 0.f, dw, I);
    }
  }

 private:
  const BFloat16* x16() const { return x16_->data_as<BFloat16>(); }
  const BFloat16* w16() const { return w16_->data_as<BFloat16>(); }
  bool rounded_;
  SavedValuesOf<T> x_, w_;
  std::shared_ptr<const Storage> x16_, w16_;
};

template <class T>
ArrayOf<T> uninitialized(int64_t rows, int64_t cols) {
  return ArrayOf<T>::from_shape({static_cast<size_t>(rows), static_cast<size_t>(cols)});
}

// A bias's values (read where they sit, a view through its stride); empty when undefined.
template <class T>
std::vector<T> bias_values(const Tensor& b) {
  std::vector<T> v(b.defined() ? static_cast<size_t>(b.numel()) : 0);
  if (b.defined()) ember::detail::read_into(b, v.data());
  return v;
}

// RNN's ReLU gate and its derivative (LSTM and GRU share the rest: src/simd_lanes.hpp), on a
// scalar S (float or double) or a float Batch.
template <class S>
S vrelu(S x) {
  return x > S(0) ? x : S(0);
}
inline Batch vrelu(const Batch& x) { return xsimd::max(x, Batch(0.f)); }
template <class S>
S vstep(S y, S g) {  // relu' given its output
  return y > S(0) ? g : S(0);
}
inline Batch vstep(const Batch& y, const Batch& g) {
  return xsimd::select(y > Batch(0.f), g, Batch(0.f));
}

template <class T>
void column_sums(const ArrayOf<T>& rows, int64_t n, int64_t cols, T* out) {
  std::fill(out, out + cols, T(0));
  const T* p = rows.data();
  for (int64_t r = 0; r < n; ++r)
    for (int64_t k = 0; k < cols; ++k) out[k] += p[r * cols + k];
}

template <class T>
Tensor rnn_layer_of(RnnMode mode, const Tensor& x, const std::vector<int64_t>& batch_sizes,
                    const Tensor& h0, const Tensor& c0, const Tensor& w_ih, const Tensor& w_hh,
                    const Tensor& b_ih, const Tensor& b_hh, bool reverse, bool batch_major) {
  const bool lstm = mode == RnnMode::kLSTM, gru = mode == RnnMode::kGRU;
  const int64_t N = x.size(0), I = x.size(1), B = h0.size(0), H = h0.size(1);
  const int64_t GH = gate_count(mode) * H, steps = static_cast<int64_t>(batch_sizes.size());
  // Row of (step t, sequence b): offsets[t] + b * stride.
  const int64_t stride = batch_major ? steps : 1;
  std::vector<int64_t> offsets(static_cast<size_t>(steps));
  for (int64_t t = 0, r = 0; t < steps; r += batch_sizes[static_cast<size_t>(t)], ++t)
    offsets[static_cast<size_t>(t)] = batch_major ? t : r;
  auto Whh = ember::detail::saved<T>(w_hh);
  // The input-side products (the projection of every step, dx and dW_ih) under autocast run on
  // bfloat16 copies of x and W_ih, x kept at half the bytes; the recurrence stays float32
  // (float32 only).
  const InputSide<T> in(x, w_ih);
  // The biases, h0 and c0 are read where they sit (a view through its strides).
  const std::vector<T> bih = bias_values<T>(b_ih), bhh = bias_values<T>(b_hh);
  const bool has_bih = !bih.empty(), has_bhh = !bhh.empty();

  // Input projection of every step at once; LSTM and RNN fold both biases in here.
  auto gates = std::make_shared<ArrayOf<T>>(uninitialized<T>(N, GH));
  T* gp = gates->data();
  for (int64_t k = 0; k < GH; ++k)
    gp[k] = (has_bih ? bih[k] : T(0)) + (!gru && has_bhh ? bhh[k] : T(0));
  for (int64_t r = 1; r < N; ++r) std::memcpy(gp + r * GH, gp, sizeof(T) * static_cast<size_t>(GH));
  in.project(N, GH, I, gp);

  // The output rows are followed by the state rows (h, then c), updated in place each step.
  ArrayOf<T> out = uninitialized<T>(N + (lstm ? 2 : 1) * B, H);
  T* yp = out.data();
  T* hs = yp + N * H;
  T* cs = hs + B * H;
  ember::detail::read_into(h0, hs);
  if (lstm) ember::detail::read_into(c0, cs);
  auto h_prev = std::make_shared<ArrayOf<T>>(uninitialized<T>(N, H));
  // LSTM: c_prev and tanh(c) per row; GRU: W_hn h + b_hn per row.
  auto saved_a = std::make_shared<ArrayOf<T>>(uninitialized<T>(lstm || gru ? N : 0, H));
  auto saved_b = std::make_shared<ArrayOf<T>>(uninitialized<T>(lstm ? N : 0, H));
  ArrayOf<T> gh = uninitialized<T>(gru ? B : 0, GH);  // GRU: the hidden projection of one step

  for (int64_t s = 0; s < steps; ++s) {
    const int64_t t = reverse ? steps - 1 - s : s;
    const int64_t bs = batch_sizes[static_cast<size_t>(t)], r0 = offsets[static_cast<size_t>(t)];
    for (int64_t b = 0; b < bs; ++b)
      std::memcpy(h_prev->data() + (r0 + b * stride) * H, hs + b * H,
                  sizeof(T) * static_cast<size_t>(H));
    if (!gru) {
      gemm(false, true, bs, GH, H, hs, Whh->data(), T(1), gp + r0 * GH, 0, stride * GH);
    } else {
      for (int64_t b = 0; b < bs; ++b)
        for (int64_t k = 0; k < GH; ++k) gh.data()[b * GH + k] = has_bhh ? bhh[k] : T(0);
      gemm(false, true, bs, GH, H, hs, Whh->data(), T(1), gh.data());
    }
    for (int64_t b = 0; b < bs; ++b) {
      T* g = gp + (r0 + b * stride) * GH;
      T* h = hs + b * H;
      T* y = yp + (r0 + b * stride) * H;
      if (lstm) {
        T* c = cs + b * H;
        T* cp = saved_a->data() + (r0 + b * stride) * H;
        T* tc = saved_b->data() + (r0 + b * stride) * H;
        lanes_of<T>(H, [&](int64_t j, auto tag) {
          using V = decltype(tag);
          V i = vsigmoid(vload<V>(g + j)), f = vsigmoid(vload<V>(g + H + j));
          V gg = vtanh(vload<V>(g + 2 * H + j)), o = vsigmoid(vload<V>(g + 3 * H + j));
          V c_old = vload<V>(c + j);
          V c_new = f * c_old + i * gg;
          V t_new = vtanh(c_new);
          vstore(g + j, i), vstore(g + H + j, f), vstore(g + 2 * H + j, gg);
          vstore(g + 3 * H + j, o), vstore(cp + j, c_old), vstore(c + j, c_new),
              vstore(tc + j, t_new);
          V h_new = o * t_new;
          vstore(h + j, h_new), vstore(y + j, h_new);
        });
      } else if (gru) {
        const T* q = gh.data() + b * GH;
        T* hn_part = saved_a->data() + (r0 + b * stride) * H;
        lanes_of<T>(H, [&](int64_t j, auto tag) {
          using V = decltype(tag);
          V r = vsigmoid(vload<V>(g + j) + vload<V>(q + j));
          V z = vsigmoid(vload<V>(g + H + j) + vload<V>(q + H + j));
          V hn = vload<V>(q + 2 * H + j);
          V n = vtanh(vload<V>(g + 2 * H + j) + r * hn);
          V h_new = n + z * (vload<V>(h + j) - n);
          vstore(g + j, r), vstore(g + H + j, z), vstore(g + 2 * H + j, n), vstore(hn_part + j, hn);
          vstore(h + j, h_new), vstore(y + j, h_new);
        });
      } else {
        const bool relu = mode == RnnMode::kReLU;
        lanes_of<T>(H, [&](int64_t j, auto tag) {
          using V = decltype(tag);
          V v = vload<V>(g + j);
          V h_new = relu ? vrelu(v) : vtanh(v);
          vstore(g + j, h_new), vstore(h + j, h_new), vstore(y + j, h_new);
        });
      }
    }
  }

  const bool need_x = x.requires_grad(), need_h0 = h0.requires_grad();
  const bool need_c0 = lstm && c0.requires_grad();
  const bool need_w = w_ih.requires_grad() || w_hh.requires_grad() ||
                      (b_ih.defined() && b_ih.requires_grad()) ||
                      (b_hh.defined() && b_hh.requires_grad());
  std::vector<int64_t> sizes = batch_sizes;
  return make_output(
      std::move(out),
      lstm  ? "lstm"
      : gru ? "gru"
            : "rnn",
      {x, h0, c0, w_ih, w_hh, b_ih, b_hh}, [=](const ArrayOf<T>& grad) {
        const T* gy = grad.data();
        ArrayOf<T> dgi = uninitialized<T>(N, GH);
        ArrayOf<T> dgh_own = uninitialized<T>(gru ? N : 0, GH);  // GRU: r scales the hidden n
        ArrayOf<T>& dgh = gru ? dgh_own : dgi;
        ArrayOf<T> dh = uninitialized<T>(B, H), dc = uninitialized<T>(lstm ? B : 0, H);
        std::memcpy(dh.data(), gy + N * H, sizeof(T) * static_cast<size_t>(B * H));
        if (lstm) std::memcpy(dc.data(), gy + (N + B) * H, sizeof(T) * static_cast<size_t>(B * H));
        const T* gs = gates->data();
        for (int64_t s = 0; s < steps; ++s) {
          const int64_t t = reverse ? s : steps - 1 - s;
          const int64_t bs = sizes[static_cast<size_t>(t)], r0 = offsets[static_cast<size_t>(t)];
          for (int64_t b = 0; b < bs; ++b) {
            const int64_t row = r0 + b * stride;
            const T* g = gs + row * GH;
            const T* go = gy + row * H;
            T* dhb = dh.data() + b * H;
            T* di = dgi.data() + row * GH;
            if (lstm) {
              T* dcb = dc.data() + b * H;
              const T* cp = saved_a->data() + row * H;
              const T* tc = saved_b->data() + row * H;
              lanes_of<T>(H, [&](int64_t j, auto tag) {
                using V = decltype(tag);
                V i = vload<V>(g + j), f = vload<V>(g + H + j), gg = vload<V>(g + 2 * H + j);
                V o = vload<V>(g + 3 * H + j), tcj = vload<V>(tc + j);
                V dhj = vload<V>(dhb + j) + vload<V>(go + j);
                V dcj = vload<V>(dcb + j) + dhj * o * (V(1.f) - tcj * tcj);
                vstore(di + j, dcj * gg * i * (V(1.f) - i));
                vstore(di + H + j, dcj * vload<V>(cp + j) * f * (V(1.f) - f));
                vstore(di + 2 * H + j, dcj * i * (V(1.f) - gg * gg));
                vstore(di + 3 * H + j, dhj * tcj * o * (V(1.f) - o));
                vstore(dcb + j, dcj * f);
              });
            } else if (gru) {
              T* dq = dgh.data() + row * GH;
              const T* hp = h_prev->data() + row * H;
              const T* hn_part = saved_a->data() + row * H;
              lanes_of<T>(H, [&](int64_t j, auto tag) {
                using V = decltype(tag);
                V r = vload<V>(g + j), z = vload<V>(g + H + j), n = vload<V>(g + 2 * H + j);
                V dhj = vload<V>(dhb + j) + vload<V>(go + j);
                V dn = dhj * (V(1.f) - z) * (V(1.f) - n * n);
                V dr = dn * vload<V>(hn_part + j) * r * (V(1.f) - r);
                V dz = dhj * (vload<V>(hp + j) - n) * z * (V(1.f) - z);
                vstore(di + j, dr), vstore(di + H + j, dz), vstore(di + 2 * H + j, dn);
                vstore(dq + j, dr), vstore(dq + H + j, dz), vstore(dq + 2 * H + j, dn * r);
                vstore(dhb + j, dhj * z);  // the direct path; the GEMM below adds W_hh's
              });
            } else {
              const bool relu = mode == RnnMode::kReLU;
              lanes_of<T>(H, [&](int64_t j, auto tag) {
                using V = decltype(tag);
                V y = vload<V>(g + j), dhj = vload<V>(dhb + j) + vload<V>(go + j);
                vstore(di + j, relu ? vstep(y, dhj) : dhj * (V(1.f) - y * y));
              });
            }
          }
          gemm(false, false, bs, H, GH, dgh.data() + r0 * GH, Whh->data(), T(gru ? 1 : 0),
               dh.data(), stride * GH);
        }
        Gradients grads(7);
        if (need_x) {
          ArrayOf<T> dx = uninitialized<T>(N, I);
          in.input_grad(N, GH, I, dgi, dx.data());
          grads[0] = std::move(dx);
        }
        if (need_h0) grads[1] = std::move(dh);
        if (need_c0) grads[2] = std::move(dc);
        if (need_w) {
          ArrayOf<T> dwih = uninitialized<T>(GH, I), dwhh = uninitialized<T>(GH, H);
          in.weight_grad(N, GH, I, dgi, dwih.data());
          gemm(true, false, GH, H, N, dgh.data(), h_prev->data(), T(0), dwhh.data());
          grads[3] = std::move(dwih);
          grads[4] = std::move(dwhh);
          if (has_bih) {
            ArrayOf<T> db = ArrayOf<T>::from_shape({static_cast<size_t>(GH)});
            column_sums(dgi, N, GH, db.data());
            grads[5] = std::move(db);
          }
          if (has_bhh) {
            ArrayOf<T> db = ArrayOf<T>::from_shape({static_cast<size_t>(GH)});
            column_sums(dgh, N, GH, db.data());
            grads[6] = std::move(db);
          }
        }
        return grads;
      });
}

}  // namespace

Tensor rnn_layer(RnnMode mode, const Tensor& x, const std::vector<int64_t>& batch_sizes,
                 const Tensor& h0, const Tensor& c0, const Tensor& w_ih, const Tensor& w_hh,
                 const Tensor& b_ih, const Tensor& b_hh, bool reverse, bool batch_major) {
  const char* op = mode == RnnMode::kLSTM ? "lstm" : mode == RnnMode::kGRU ? "gru" : "rnn";
  return ember::detail::by_dtype(x, op, [&](auto real) {
    return rnn_layer_of<decltype(real)>(mode, x, batch_sizes, h0, c0, w_ih, w_hh, b_ih, b_hh,
                                        reverse, batch_major);
  });
}

}  // namespace ember::nn::detail

namespace ember::nn::functional {

int64_t rnn_gate_count(RnnMode mode) {
  return mode == RnnMode::kLSTM ? 4 : mode == RnnMode::kGRU ? 3 : 1;
}

}  // namespace ember::nn::functional
