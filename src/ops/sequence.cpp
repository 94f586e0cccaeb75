// Ops over padded sequences, composed from differentiable primitives.
#include <limits>

#include "ember/autograd.hpp"
#include "ember/nn/functional.hpp"

namespace ember::nn::functional {

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
  Tensor m = mask.detach().unsqueeze(-1);
  Tensor total = sum(x * m, {dim});
  // Fully padded rows divide by 1 and so give zeros, not NaN.
  Tensor count = clamp(sum(m, {dim}), 1.f, std::numeric_limits<float>::max());
  return total / count;
}

}  // namespace ember::nn::functional
