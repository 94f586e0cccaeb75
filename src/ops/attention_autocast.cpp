// The fused attention op under autocast (ember/autocast.hpp): the same per-head steps as
// attention.cpp. q, k and v are kept for backward as bfloat16 copies, the weights as bfloat16:
// half of float32's bytes, the activation memory autocast saves. On the bfloat16 path every
// product runs on bfloat16 operands summed in float32 (gemm_bf16) and the softmax in float32. On
// the float32 path forward is float32's own (its products on the inputs as they are, the same
// bits) and backward multiplies the kept copies, widened a head at a time, with float32
// gradients.
#include <algorithm>

#include "../dense.hpp"
#include "../gemm.hpp"
#include "attention_kernel.hpp"
#include "ember/gemm.hpp"
#include "ember/parallel.hpp"
#include "kernels.hpp"
#include "op_helpers.hpp"

namespace ember::detail {

namespace {
const BFloat16* bf16_of(const std::shared_ptr<const Storage>& s) { return s->data_as<BFloat16>(); }
uint16_t* bits_of(BFloat16* p) { return reinterpret_cast<uint16_t*>(p); }

// A head's rows x cols block of a kept bfloat16 copy (rows `ld` apart), widened into `to`.
const float* widen_head(const BFloat16* head, int64_t rows, int64_t cols, int64_t ld,
                        std::vector<float>& to) {
  to.resize(static_cast<size_t>(rows * cols));
  widen_rows(head, rows, cols, ld, to.data());
  return to.data();
}
}  // namespace

AttentionResult attention_autocast(const std::vector<Tensor>& inputs, const AttentionSpec& spec) {
  const bool bf16 = bf16_products_on();  // else the float32 path
  const AttentionSpec f = spec;          // where the float32 path's forward reads each input
  AttentionSpec s = spec;
  const int64_t BH = s.batch * s.heads, L = s.L, S = s.S;
  // Each input as a row-major bfloat16 copy: its heads then sit where its gradient's do.
  for (HeadLayout* l : {&s.q, &s.k, &s.v}) l->read = l->grad;
  std::vector<std::shared_ptr<const Storage>> data;
  std::vector<const float*> f32;  // the float32 path's forward operands, read where they sit
  std::vector<Shape> shapes;
  std::vector<bool> needs;
  for (const Tensor& t : inputs) {
    data.push_back(convert_storage(t, kBFloat16));
    f32.push_back(bf16 || !t.numel() ? nullptr : t.impl()->storage->data());
    shapes.push_back(t.shape());
    needs.push_back(t.requires_grad());
  }
  auto probs = std::make_shared<Storage>(BH * L * S, kBFloat16);
  std::shared_ptr<Array> drop = dropout_scales(s);
  Array out = Array::from_shape(to_xshape(s.out_shape));
  const int64_t work = BH * L * S * (s.dk + s.dv) * 2;
  parallel_rows(BH, work, [&](int64_t lo, int64_t hi) {
    std::vector<float> scores(static_cast<size_t>(L * S));
    std::vector<BFloat16> dropped(drop ? static_cast<size_t>(L * S) : 0);
    std::vector<float> dropped_f32(drop && !bf16 ? static_cast<size_t>(L * S) : 0);
    for (int64_t b = lo; b < hi; ++b) {
      const int64_t n = b / s.heads, h = b % s.heads;
      float* P = scores.data();
      float* y = out.data() + s.out.at(n, h);
      const float* d = drop ? drop->data() + b * L * S : nullptr;
      BFloat16* kept = probs->data_as<BFloat16>() + b * L * S;
      if (!bf16) {  // float32's forward, then its weights kept in bfloat16
        const float* Q = f32[f.q.input] + f.q.read.at(n, h);
        const float* K = f32[f.k.input] + f.k.read.at(n, h);
        const float* V = f32[f.v.input] + f.v.read.at(n, h);
        ember::gemm(false, true, L, S, s.dk, s.scale, Q, f.q.read.row_stride, K,
                    f.k.read.row_stride, 0.f, P, S);
        for (int64_t i = 0; i < L; ++i) softmax_row(P + i * S, i, n, b, s);
        kernels::to_bf16(P, bits_of(kept), L * S);
        const float* weights = P;
        if (d) {
          for (int64_t j = 0; j < L * S; ++j) dropped_f32[j] = P[j] * d[j];
          weights = dropped_f32.data();
        }
        ember::gemm(false, false, L, s.dv, S, 1.f, weights, S, V, f.v.read.row_stride, 0.f, y,
                    s.out.row_stride);
        continue;
      }
      const BFloat16* Q = bf16_of(data[s.q.input]) + s.q.read.at(n, h);
      const BFloat16* K = bf16_of(data[s.k.input]) + s.k.read.at(n, h);
      const BFloat16* V = bf16_of(data[s.v.input]) + s.v.read.at(n, h);
      gemm_bf16(false, true, L, S, s.dk, Q, s.q.read.row_stride, K, s.k.read.row_stride, 0.f, P, S);
      for (int64_t i = 0; i < L; ++i) {
        float* row = P + i * S;
        for (int64_t j = 0; j < S; ++j) row[j] *= s.scale;
        softmax_row(row, i, n, b, s);
      }
      kernels::to_bf16(P, bits_of(kept), L * S);
      const BFloat16* weights = kept;
      if (d) {
        for (int64_t j = 0; j < L * S; ++j) dropped[j] = BFloat16(P[j] * d[j]);
        weights = dropped.data();
      }
      gemm_bf16(false, false, L, s.dv, S, weights, S, V, s.v.read.row_stride, 0.f, y,
                s.out.row_stride);
    }
  });

  Tensor result = make_output(std::move(out), s.op, inputs, [=](const Array& g) {
    std::vector<Array> grads = zeroed_grads<float>(shapes, needs);
    const bool dq = needs[s.q.input], dk = needs[s.k.input], dv = needs[s.v.input];
    parallel_rows(BH, work * 2, [&](int64_t lo, int64_t hi) {
      std::vector<float> P(static_cast<size_t>(L * S)), dP(static_cast<size_t>(L * S));
      std::vector<float> Kf, Qf, Vf;  // the float32 path's heads of k, q and v, widened
      std::vector<BFloat16> G(static_cast<size_t>(L * s.dv)), dS(static_cast<size_t>(L * S)),
          dropped(drop ? static_cast<size_t>(L * S) : 0);
      for (int64_t b = lo; b < hi; ++b) {
        const int64_t n = b / s.heads, h = b % s.heads;
        const BFloat16* Q = bf16_of(data[s.q.input]) + s.q.read.at(n, h);
        const BFloat16* K = bf16_of(data[s.k.input]) + s.k.read.at(n, h);
        const BFloat16* V = bf16_of(data[s.v.input]) + s.v.read.at(n, h);
        const BFloat16* kept = probs->data_as<BFloat16>() + b * L * S;
        kernels::from_bf16(reinterpret_cast<const uint16_t*>(kept), P.data(), L * S);
        const float* d = drop ? drop->data() + b * L * S : nullptr;
        if (!bf16) {  // the float32 path: float32 gradients times the kept copies, widened
          const float* Gf = g.data() + s.out.at(n, h);
          const int64_t ldg = s.out.row_stride;
          const float* weights = P.data();
          if (d) {
            for (int64_t j = 0; j < L * S; ++j) dP[j] = P[j] * d[j];  // dP as scratch first
            weights = dP.data();
          }
          if (dv)  // dV += weightsᵀ · G
            ember::gemm(true, false, S, s.dv, L, 1.f, weights, S, Gf, ldg, 1.f,
                        grads[s.v.input].data() + s.v.grad.at(n, h), s.v.grad.row_stride);
          if (!dq && !dk) continue;
          // dP = G · Vᵀ, through the dropout scale and the softmax; dS = scale · dP. Each kept
          // copy widened only for the product that reads it.
          const float* Vw = widen_head(V, S, s.dv, s.v.read.row_stride, Vf);
          ember::gemm(false, true, L, S, s.dv, 1.f, Gf, ldg, Vw, s.dv, 0.f, dP.data(), S);
          softmax_backward(s, dP.data(), P.data(), d);
          if (dq) {  // dQ += dS · K
            const float* Kw = widen_head(K, S, s.dk, s.k.read.row_stride, Kf);
            ember::gemm(false, false, L, s.dk, S, s.scale, dP.data(), S, Kw, s.dk, 1.f,
                        grads[s.q.input].data() + s.q.grad.at(n, h), s.q.grad.row_stride);
          }
          if (dk) {  // dK += dSᵀ · Q
            const float* Qw = widen_head(Q, L, s.dk, s.q.read.row_stride, Qf);
            ember::gemm(true, false, S, s.dk, L, s.scale, dP.data(), S, Qw, s.dk, 1.f,
                        grads[s.k.input].data() + s.k.grad.at(n, h), s.k.grad.row_stride);
          }
          continue;
        }
        for (int64_t i = 0; i < L; ++i)  // this head's rows of g, rounded and packed
          kernels::to_bf16(g.data() + s.out.at(n, h) + i * s.out.row_stride,
                           bits_of(G.data() + i * s.dv), s.dv);
        const BFloat16* weights = kept;
        if (d) {
          for (int64_t j = 0; j < L * S; ++j) dropped[j] = BFloat16(P[j] * d[j]);
          weights = dropped.data();
        }
        if (dv)  // dV += weightsᵀ · G
          gemm_bf16(true, false, S, s.dv, L, weights, S, G.data(), s.dv, 1.f,
                    grads[s.v.input].data() + s.v.grad.at(n, h), s.v.grad.row_stride);
        if (!dq && !dk) continue;
        // dP = G · Vᵀ, through the dropout scale and the softmax; dS = scale · dP, rounded.
        gemm_bf16(false, true, L, S, s.dv, G.data(), s.dv, V, s.v.read.row_stride, 0.f, dP.data(),
                  S);
        softmax_backward(s, dP.data(), P.data(), d);
        for (int64_t j = 0; j < L * S; ++j) dS[j] = BFloat16(dP[j] * s.scale);
        if (dq)  // dQ += dS · K
          gemm_bf16(false, false, L, s.dk, S, dS.data(), S, K, s.k.read.row_stride, 1.f,
                    grads[s.q.input].data() + s.q.grad.at(n, h), s.q.grad.row_stride);
        if (dk)  // dK += dSᵀ · Q
          gemm_bf16(true, false, S, s.dk, L, dS.data(), S, Q, s.q.read.row_stride, 1.f,
                    grads[s.k.input].data() + s.k.grad.at(n, h), s.k.grad.row_stride);
      }
    });
    return handed_over(grads, needs);
  });
  return {result, nullptr, drop};
}

}  // namespace ember::detail
