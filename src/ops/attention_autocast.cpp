// The fused attention op under autocast (ember/autocast.hpp): the same per-head steps as
// attention.cpp, with every product on bfloat16 operands summed in float32 (gemm_bf16) and the
// softmax in float32. q, k and v are kept for backward as bfloat16 copies, the weights as
// bfloat16: half of float32's bytes, the activation memory autocast saves.
#include <algorithm>

#include "../dense.hpp"
#include "attention_kernel.hpp"
#include "ember/gemm.hpp"
#include "ember/parallel.hpp"
#include "kernels.hpp"

namespace ember::detail {

namespace {
const BFloat16* bf16_of(const std::shared_ptr<const Storage>& s) { return s->data_as<BFloat16>(); }
uint16_t* bits_of(BFloat16* p) { return reinterpret_cast<uint16_t*>(p); }
}  // namespace

AttentionResult attention_autocast(const std::vector<Tensor>& inputs, const AttentionSpec& spec) {
  AttentionSpec s = spec;
  const int64_t BH = s.batch * s.heads, L = s.L, S = s.S;
  // Each input as a row-major bfloat16 copy: its heads then sit where its gradient's do.
  for (HeadLayout* l : {&s.q, &s.k, &s.v}) l->read = l->grad;
  std::vector<std::shared_ptr<const Storage>> data;
  std::vector<Shape> shapes;
  std::vector<bool> needs;
  for (const Tensor& t : inputs) {
    data.push_back(convert_storage(t, kBFloat16));
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
    for (int64_t b = lo; b < hi; ++b) {
      const int64_t n = b / s.heads, h = b % s.heads;
      const BFloat16* Q = bf16_of(data[s.q.input]) + s.q.read.at(n, h);
      const BFloat16* K = bf16_of(data[s.k.input]) + s.k.read.at(n, h);
      const BFloat16* V = bf16_of(data[s.v.input]) + s.v.read.at(n, h);
      float* P = scores.data();
      gemm_bf16(false, true, L, S, s.dk, Q, s.q.read.row_stride, K, s.k.read.row_stride, 0.f, P, S);
      for (int64_t i = 0; i < L; ++i) {
        float* row = P + i * S;
        for (int64_t j = 0; j < S; ++j) row[j] *= s.scale;
        softmax_row(row, i, n, b, s);
      }
      BFloat16* kept = probs->data_as<BFloat16>() + b * L * S;
      kernels::to_bf16(P, bits_of(kept), L * S);
      const BFloat16* weights = kept;
      if (drop) {
        const float* d = drop->data() + b * L * S;
        for (int64_t j = 0; j < L * S; ++j) dropped[j] = BFloat16(P[j] * d[j]);
        weights = dropped.data();
      }
      gemm_bf16(false, false, L, s.dv, S, weights, S, V, s.v.read.row_stride, 0.f,
                out.data() + s.out.at(n, h), s.out.row_stride);
    }
  });

  Tensor result = make_output(std::move(out), s.op, inputs, [=](const Array& g) {
    std::vector<Array> grads = zeroed_grads<float>(shapes, needs);
    const bool dq = needs[s.q.input], dk = needs[s.k.input], dv = needs[s.v.input];
    parallel_rows(BH, work * 2, [&](int64_t lo, int64_t hi) {
      std::vector<float> P(static_cast<size_t>(L * S)), dP(static_cast<size_t>(L * S));
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
