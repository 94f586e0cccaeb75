// Ops over padded sequences. masked_mean is one fused op: the classifier's pooling runs on
// every step, and as mul + sum + div it made three passes and two broadcast temporaries.
#include <type_traits>

#include "../bool_values.hpp"
#include "ember/autograd.hpp"
#include "ember/nn/functional.hpp"
#include "kernels.hpp"
#include "op_helpers.hpp"

namespace ember::nn::functional {

namespace {

// masked_mean in T (float for float32, double for float64) over x seen as [outer, L, R, D]: L
// the reduced dim, R the dims between it and the features.
template <class T>
Tensor masked_mean_of(const Tensor& x, const bool* kept, int64_t dim) {
  const Shape sx = x.shape();
  const detail::DimSplit s = detail::split_at(sx, dim);
  const int64_t D = sx.back(), L = s.n, R = s.inner / D, outer = s.outer;
  auto m = [kept](int64_t k) { return kept[k] ? T(1) : T(0); };
  // weight[o, l, r] = mask / (number of unmasked positions in that row); fully padded rows
  // keep weight 0 and so give zeros, not NaN.
  auto weight = std::make_shared<std::vector<T>>(static_cast<size_t>(outer * L * R), T(0));
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t r = 0; r < R; ++r) {
      T count = 0;
      for (int64_t l = 0; l < L; ++l) count += m((o * L + l) * R + r) != T(0) ? T(1) : T(0);
      if (count == T(0)) continue;
      for (int64_t l = 0; l < L; ++l) {
        size_t k = static_cast<size_t>((o * L + l) * R + r);
        (*weight)[k] = m(static_cast<int64_t>(k)) != T(0) ? T(1) / count : T(0);
      }
    }
  Shape out_shape = sx;
  out_shape.erase(out_shape.begin() + dim);
  ArrayOf<T> out = xt::zeros<T>(detail::to_xshape(out_shape));
  // x read where it sits: its rows of D features, each straight from the storage when the
  // features are adjacent there, else gathered one row at a time.
  const detail::RowReaderOf<T> x_rows(x, static_cast<int64_t>(sx.size()) - 1);
  std::vector<T> row_buffer;
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t l = 0; l < L; ++l)
      for (int64_t r = 0; r < R; ++r) {
        const T w = (*weight)[static_cast<size_t>((o * L + l) * R + r)];
        if (w == T(0)) continue;
        const T* src = x_rows.row((o * L + l) * R + r, row_buffer);
        T* dst = out.data() + (o * R + r) * D;
        if constexpr (std::is_same_v<T, float>)
          detail::kernels::axpy(w, src, dst, D);  // dst += w * src, vectorised for the CPU
        else
          for (int64_t d = 0; d < D; ++d) dst[d] += w * src[d];
      }
  auto in_shape = detail::to_xshape(sx);
  return make_output(std::move(out), "masked_mean", {x}, [=](const ArrayOf<T>& g) {
    ArrayOf<T> dx = ArrayOf<T>::from_shape(in_shape);
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t l = 0; l < L; ++l)
        for (int64_t r = 0; r < R; ++r) {
          const T w = (*weight)[static_cast<size_t>((o * L + l) * R + r)];
          const T* from = g.data() + (o * R + r) * D;
          T* to = dx.data() + ((o * L + l) * R + r) * D;
          for (int64_t d = 0; d < D; ++d) to[d] = w * from[d];
        }
    return gradients(std::move(dx));
  });
}

}  // namespace

Tensor masked_mean(const Tensor& x, const Tensor& mask, int64_t dim) {
  Shape sx = x.shape();
  EMBER_CHECK_SHAPE(sx.size() >= 2, "masked_mean: input must have at least 2 dims, got ",
                    detail::shape_str(sx));
  Shape expected(sx.begin(), sx.end() - 1);
  EMBER_CHECK_SHAPE(mask.shape() == expected, "masked_mean: mask shape ",
                    detail::shape_str(mask.shape()), " must be the input shape ",
                    detail::shape_str(sx), " without its last dim");
  dim = detail::wrap_dim(dim, static_cast<int64_t>(sx.size()), "masked_mean");
  EMBER_CHECK_INDEX(dim != static_cast<int64_t>(sx.size()) - 1,
                    "masked_mean: dim must not be the feature (last) dim");
  detail::mask_bytes(mask, "masked_mean", "mask");  // checks the dtype
  // The mask's elements in row-major order: where they sit, or a strided view's packed.
  const auto packed = mask.is_contiguous() ? nullptr : detail::convert_storage(mask, kBool);
  const bool* kept = packed ? packed->data_as<bool>() : mask.data_ptr<bool>();
  return detail::by_dtype(x, "masked_mean",
                          [&](auto real) { return masked_mean_of<decltype(real)>(x, kept, dim); });
}

}  // namespace ember::nn::functional
