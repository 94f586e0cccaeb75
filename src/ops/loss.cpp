// Losses. cross_entropy is one fused pass: stable log-softmax, NLL and label smoothing.
#include <cmath>
#include <type_traits>
#include <xtensor/xmath.hpp>
#include <xtensor/xreducer.hpp>

#include "ember/autograd.hpp"
#include "ember/nn/functional.hpp"
#include "ember/parallel.hpp"
#include "kernels.hpp"
#include "op_helpers.hpp"

namespace ember::nn::functional {

namespace {

void check_targets(const char* op, const Shape& input, const IndexTensor& targets,
                   int64_t ignore_index) {
  EMBER_CHECK_SHAPE(input.size() == 2, op, ": expected input of shape [N, C], got ",
                    detail::shape_str(input));
  EMBER_CHECK_SHAPE(targets.shape() == Shape{input[0]}, op, ": target shape ",
                    detail::shape_str(targets.shape()), " does not match input batch size ",
                    input[0], " (input shape ", detail::shape_str(input), ")");
  for (int64_t t : targets.to_vector())
    EMBER_CHECK_INDEX(t == ignore_index || (t >= 0 && t < input[1]), op, ": target ", t,
                      " out of range for ", input[1], " classes");
}

// Per-row losses `rows` reduced as asked; `count` is what Mean divides by. T is the dtype the
// loss computes in (float or double), as everywhere in this file.
template <class T>
ArrayOf<T> reduce_rows(const ArrayOf<T>& rows, Reduction reduction, T count) {
  if (reduction == Reduction::None) return rows;
  T total = xt::sum(rows)();
  return ArrayOf<T>(reduction == Reduction::Mean ? total / count : total);
}

// The weight of row i's loss in the result's gradient g.
template <class T>
T row_weight(Reduction reduction, T count, const ArrayOf<T>& g, int64_t i) {
  if (reduction == Reduction::None) return g.data()[i];
  T w = g.data()[0];
  return reduction == Reduction::Mean ? w / count : w;
}

// Shared by cross_entropy (from logits) and nll_loss (from log-probabilities). Backward reads
// `kept`: the log-probabilities themselves, or for cross_entropy under autocast the logits in
// bfloat16 (half the bytes, as PyTorch's autocast linear hands them over), whose softmax it
// recomputes (rounded log-probabilities of -10 would be 3% off; rounded logits are not).
// Autocast keeps float32 logits only: kept_logits is false for T = double.
template <class T>
Tensor nll_from_log_probs(const Tensor& input, const SavedValuesOf<T>& log_probs,
                          SavedValuesOf<T> kept, bool kept_logits, const IndexTensor& targets,
                          const CrossEntropyOptions& o, bool input_is_logits, const char* op) {
  const int64_t N = log_probs->shape()[0], C = log_probs->shape()[1];
  const T eps = static_cast<T>(o.label_smoothing());
  std::vector<int64_t> t = targets.to_vector();
  ArrayOf<T> rows = xt::zeros<T>({static_cast<size_t>(N)});
  T count = 0;
  for (int64_t i = 0; i < N; ++i) {
    if (t[i] == o.ignore_index()) continue;
    const T* lp = log_probs->data() + i * C;
    T smooth = 0;
    if (eps > T(0))
      for (int64_t c = 0; c < C; ++c) smooth -= lp[c];
    rows.data()[i] = -(T(1) - eps) * lp[t[i]] + eps / static_cast<T>(C) * smooth;
    count += T(1);
  }
  Reduction reduction = o.reduction();
  int64_t ignore = o.ignore_index();
  return make_output(reduce_rows(rows, reduction, count), op, {input}, [=](const ArrayOf<T>& g) {
    ArrayOf<T> dx = ArrayOf<T>::from_shape(kept->shape());
    // Rows are independent: split between threads, bit-identical for any count.
    detail::parallel_rows(N, N * C * 8, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        T* d = dx.data() + i * C;
        if (t[i] == ignore) {
          std::fill_n(d, C, T(0));
          continue;
        }
        const T w = row_weight(reduction, count, g, i);
        const T* row = kept->data() + i * C;
        const T smooth = eps / static_cast<T>(C);
        // d(loss)/d(log p_c) = -((1-eps) [c == t] + eps / C); through the softmax for logits.
        if (input_is_logits) {
          // p = exp(log p), or for logits exp(row - max) / sum: one pass of exp either way.
          T inv = 1;
          if constexpr (std::is_same_v<T, float>) {
            if (kept_logits)
              inv = 1.f / detail::kernels::exp_shifted(row, d, C, detail::kernels::max_of(row, C));
            else
              detail::kernels::exp_shifted(row, d, C, 0.f);
          } else {
            for (int64_t c = 0; c < C; ++c) d[c] = std::exp(row[c]);
          }
          for (int64_t c = 0; c < C; ++c) d[c] = w * (d[c] * inv - smooth);
        } else {
          std::fill_n(d, C, -w * smooth);
        }
        d[t[i]] -= w * (T(1) - eps);
      }
    });
    return gradients(std::move(dx));
  });
}

// [N, C, d...] logits with [N, d...] targets (PyTorch's K-dimensional form, a tagger's loss):
// the classes moved last, every position is a row of the [N, C] form, so ignore_index,
// label_smoothing and the mean over counted positions are that form's; Reduction::None gives
// the losses back as [N, d...].
template <class Loss>
Tensor per_position(const Tensor& input, const IndexTensor& targets, const CrossEntropyOptions& o,
                    const char* op, Loss loss) {
  const Shape s = input.shape();
  Shape want = s;
  want.erase(want.begin() + 1);
  EMBER_CHECK_SHAPE(targets.shape() == want, op, ": target shape ",
                    detail::shape_str(targets.shape()), " does not match input shape ",
                    detail::shape_str(s), " (expected ", detail::shape_str(want), ")");
  Shape classes_last{0};
  for (int64_t d = 2; d < static_cast<int64_t>(s.size()); ++d) classes_last.push_back(d);
  classes_last.push_back(1);
  Tensor out = loss(input.permute(classes_last).reshape({-1, s[1]}), targets.flatten(), o);
  return o.reduction() == Reduction::None ? out.reshape(want) : out;
}

}  // namespace

Tensor cross_entropy(const Tensor& logits, const IndexTensor& targets,
                     const CrossEntropyOptions& options) {
  if (logits.dim() > 2)
    return per_position(logits, targets, options, "cross_entropy", cross_entropy);
  check_targets("cross_entropy", logits.shape(), targets, options.ignore_index());
  EMBER_CHECK_VALUE(options.label_smoothing() >= 0.0 && options.label_smoothing() <= 1.0,
                    "cross_entropy: label_smoothing must be in [0, 1], got ",
                    options.label_smoothing());
  return detail::by_dtype(logits, "cross_entropy", [&](auto real) {
    using T = decltype(real);
    // Log-softmax over classes, row by row, without recording it as a separate op.
    Tensor log_probs = [&] {
      NoGradGuard no_grad;
      return log_softmax(logits, 1);
    }();
    auto kept = detail::saved<T>(log_probs);
    bool bf16 = false;
    if constexpr (std::is_same_v<T, float>) {
      bf16 = detail::keeps_bf16(logits);
      if (bf16) kept = SavedValues::rounded_to_bfloat16(logits);
    }
    return nll_from_log_probs<T>(logits, detail::saved<T>(log_probs), kept, bf16, targets, options,
                                 true, "cross_entropy");
  });
}

Tensor nll_loss(const Tensor& log_probs, const IndexTensor& targets,
                const NLLLossOptions& options) {
  if (log_probs.dim() > 2) return per_position(log_probs, targets, options, "nll_loss", nll_loss);
  check_targets("nll_loss", log_probs.shape(), targets, options.ignore_index());
  EMBER_CHECK_VALUE(options.label_smoothing() == 0.0, "nll_loss: label_smoothing is not an ",
                    "option of nll_loss (got ", options.label_smoothing(), "); use cross_entropy");
  return detail::by_dtype(log_probs, "nll_loss", [&](auto real) {
    using T = decltype(real);
    return nll_from_log_probs<T>(log_probs, detail::saved<T>(log_probs),
                                 detail::saved<T>(log_probs), false, targets, options, false,
                                 "nll_loss");
  });
}

// mse_loss and binary_cross_entropy_with_logits take an input and a target of one dtype: mixed
// float dtypes are promoted (float64 wins), as PyTorch's mse_loss does.
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  EMBER_CHECK_SHAPE(input.shape() == target.shape(), "mse_loss: input shape ",
                    detail::shape_str(input.shape()), " and target shape ",
                    detail::shape_str(target.shape()), " differ");
  if (input.dtype() != target.dtype()) {
    const auto [x, y] = detail::promoted(input, target);
    return mse_loss(x, y, reduction);
  }
  return detail::by_dtype(input, "mse_loss", [&](auto real) {
    using T = decltype(real);
    auto diff = std::make_shared<ArrayOf<T>>(detail::elementwise<T>(  // strided reads
        input, target, input.shape(), [](const auto& x, const auto& y) { return x - y; }));
    T count = static_cast<T>(input.numel());
    ArrayOf<T> out = reduce_rows(ArrayOf<T>(*diff * *diff), reduction, count);
    return make_output(std::move(out), "mse_loss", {input, target}, [=](const ArrayOf<T>& g) {
      ArrayOf<T> d = reduction == Reduction::None
                         ? ArrayOf<T>(T(2) * g * *diff)
                         : ArrayOf<T>(T(2) * row_weight(reduction, count, g, 0) * *diff);
      return gradients(d, ArrayOf<T>(-d));
    });
  });
}

Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& targets,
                                        Reduction reduction) {
  EMBER_CHECK_SHAPE(logits.shape() == targets.shape(),
                    "binary_cross_entropy_with_logits: ", "input shape ",
                    detail::shape_str(logits.shape()), " and target shape ",
                    detail::shape_str(targets.shape()), " differ");
  if (logits.dtype() != targets.dtype()) {
    const auto [x, y] = detail::promoted(logits, targets);
    return binary_cross_entropy_with_logits(x, y, reduction);
  }
  return detail::by_dtype(logits, "binary_cross_entropy_with_logits", [&](auto real) {
    using T = decltype(real);
    auto X = detail::saved<T>(logits), Y = detail::saved<T>(targets);
    // max(x, 0) - x*y + log(1 + exp(-|x|)): stable for large |x|.
    ArrayOf<T> rows = xt::maximum(*X, T(0)) - *X * *Y + xt::log1p(xt::exp(-xt::abs(*X)));
    T count = static_cast<T>(logits.numel());
    return make_output(reduce_rows(rows, reduction, count), "binary_cross_entropy_with_logits",
                       {logits, targets}, [=](const ArrayOf<T>& g) {
                         ArrayOf<T> w =
                             reduction == Reduction::None
                                 ? g
                                 : ArrayOf<T>(X->shape(), row_weight(reduction, count, g, 0));
                         ArrayOf<T> sig = T(1) / (T(1) + xt::exp(-*X));
                         return gradients(ArrayOf<T>(w * (sig - *Y)), ArrayOf<T>(-w * *X));
                       });
  });
}

}  // namespace ember::nn::functional
