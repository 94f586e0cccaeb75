// One direction of one LSTM layer on int8 weights: the input projection (one int8 product over
// the whole sequence), then per step the hidden product (h quantized per step,
// over the batch) and one fused SIMD loop over the gates, as src/ops/rnn.cpp's float forward.
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <xsimd/xsimd.hpp>

#include "ember/error.hpp"
#include "ember/quantized.hpp"
#include "quantized_kernel.hpp"
#include "simd_lanes.hpp"

namespace ember::quantized {

namespace {

using namespace ::ember::detail::simd;  // Batch, vload, vstore, vtanh, vsigmoid, lanes

// gx, gh [4H] pre-activations of one row (i, f, g, o); c, h [H] updated; out [H].
void cell(const float* gx, const float* gh, int64_t H, float* c, float* h, float* out) {
  auto step = [&](int64_t j, auto tag) {
    using V = decltype(tag);
    V i = vsigmoid(vload<V>(gx + j) + vload<V>(gh + j));
    V f = vsigmoid(vload<V>(gx + H + j) + vload<V>(gh + H + j));
    V g = vtanh(vload<V>(gx + 2 * H + j) + vload<V>(gh + 2 * H + j));
    V o = vsigmoid(vload<V>(gx + 3 * H + j) + vload<V>(gh + 3 * H + j));
    V c_new = f * vload<V>(c + j) + i * g;
    V h_new = o * vtanh(c_new);
    vstore(c + j, c_new);
    vstore(h + j, h_new);
    vstore(out + j, h_new);
  };
  lanes(H, step);
}

}  // namespace

void lstm_layer_dynamic(const float* x, const std::vector<int64_t>& batch_sizes,
                        const PackedLinearWeight& w_ih, const PackedLinearWeight& w_hh,
                        bool reverse, bool reduce_range, float* h, float* c, float* out,
                        int64_t out_stride) {
  const int64_t H = w_hh.in_features, G = 4 * H, I = w_ih.in_features;
  EMBER_CHECK_SHAPE(w_ih.out_features == G && w_hh.out_features == G,
                    "lstm_layer_dynamic: ", "expected weights [", G, ", *], got [",
                    w_ih.out_features, ", ", I, "] and [", w_hh.out_features, ", ", H, "]");
  const int64_t steps = static_cast<int64_t>(batch_sizes.size());
  std::vector<int64_t> offset(steps + 1, 0);
  for (int64_t t = 0; t < steps; ++t) offset[t + 1] = offset[t] + batch_sizes[t];
  const int64_t rows = offset[steps], B = steps ? batch_sizes[0] : 0;

  // Reused between calls: a fresh buffer of the whole sequence's gates costs page faults.
  thread_local std::vector<float> gx, gh;
  if (gx.size() < static_cast<size_t>(rows * G)) gx.resize(static_cast<size_t>(rows * G));
  if (gh.size() < static_cast<size_t>(B * G)) gh.resize(static_cast<size_t>(B * G));
  linear_dynamic(x, rows, w_ih, reduce_range, gx.data());
  const bool avx512 = detail::vnni_kernel_available();
  for (int64_t s = 0; s < steps; ++s) {
    const int64_t t = reverse ? steps - 1 - s : s, b = batch_sizes[t];
    const float* step_gx = gx.data() + offset[t] * G;
    // A reversed packed sequence starts from the short end: rows that join keep their state,
    // which is h0 until then (PyTorch's ReversedPackedLayer).
    linear_dynamic(h, b, w_hh, reduce_range, gh.data());
    if (avx512) {
      detail::lstm_cells_avx512(b, H, step_gx, gh.data(), c, h, out + offset[t] * out_stride,
                                out_stride);
      continue;
    }
    for (int64_t r = 0; r < b; ++r)
      cell(step_gx + r * G, gh.data() + r * G, H, c + r * H, h + r * H,
           out + (offset[t] + r) * out_stride);
  }
}

}  // namespace ember::quantized
