// Losses. cross_entropy is fused: a stable log-softmax row by row, never written, NLL and label
// smoothing.
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

// Row i's loss from its log-probabilities log_prob(c): -(1 - eps) log p[target] - eps / C *
// sum_c log p[c] (label smoothing), as PyTorch's. Rows of ignore_index add 0 and no count.
template <class T, class LogProb>
T nll_row(int64_t C, int64_t target, T eps, LogProb log_prob) {
  T smooth = 0;
  if (eps > T(0))
    for (int64_t c = 0; c < C; ++c) smooth -= log_prob(c);
  return -(T(1) - eps) * log_prob(target) + eps / static_cast<T>(C) * smooth;
}

// Row i's gradient, given d = w * the row's probabilities (cross_entropy) or d = 0 (nll_loss,
// whose input is the log-probabilities): d(loss)/d(log p_c) = -w ((1-eps) [c == t] + eps / C).
template <class T>
void finish_row_gradient(T* d, int64_t C, int64_t target, T w, T eps) {
  if (eps > T(0)) {
    const T smooth = w * eps / static_cast<T>(C);
    for (int64_t c = 0; c < C; ++c) d[c] -= smooth;
  }
  d[target] -= w * (T(1) - eps);
}

template <class T>
Tensor nll_of(const Tensor& log_probs, const IndexTensor& targets, const NLLLossOptions& o) {
  const SavedValuesOf<T> lp = detail::saved<T>(log_probs);
  const int64_t N = lp->shape()[0], C = lp->shape()[1];
  const T eps = static_cast<T>(o.label_smoothing());
  std::vector<int64_t> t = targets.to_vector();
  ArrayOf<T> rows = xt::zeros<T>({static_cast<size_t>(N)});
  T count = 0;
  for (int64_t i = 0; i < N; ++i) {
    if (t[i] == o.ignore_index()) continue;
    const T* row = lp->data() + i * C;
    rows.data()[i] = nll_row<T>(C, t[i], eps, [&](int64_t c) { return row[c]; });
    count += T(1);
  }
  const Reduction reduction = o.reduction();
  const int64_t ignore = o.ignore_index();
  return make_output(
      reduce_rows(rows, reduction, count), "nll_loss", {log_probs}, [=](const ArrayOf<T>& g) {
        ArrayOf<T> dx = xt::zeros<T>({static_cast<size_t>(N), static_cast<size_t>(C)});
        for (int64_t i = 0; i < N; ++i)
          if (t[i] != ignore)
            finish_row_gradient(dx.data() + i * C, C, t[i], row_weight(reduction, count, g, i),
                                eps);
        return gradients(std::move(dx));
      });
}

// One row's max and log(sum exp(x - max)): log_softmax's row is (x - max) - log_total, and these
// are its bits (the same kernels, no row written).
template <class T>
struct LogNormalizer {
  T max = 0, log_total = 0;
  T log_prob(T x) const { return (x - max) - log_total; }
};

template <class T>
LogNormalizer<T> log_normalizer(const T* row, int64_t C) {
  if constexpr (std::is_same_v<T, float>) {
    thread_local std::vector<float> exps;  // exp_shifted writes its exps: a scratch row
    exps.resize(static_cast<size_t>(C));
    const float m = detail::kernels::max_of(row, C);
    return {m, std::log(detail::kernels::exp_shifted(row, exps.data(), C, m))};
  } else {
    T m = -std::numeric_limits<T>::infinity();
    for (int64_t k = 0; k < C; ++k) m = std::max(m, row[k]);
    T total = 0;
    for (int64_t k = 0; k < C; ++k) total += std::exp(row[k] - m);
    return {m, std::log(total)};
  }
}

// d = w * softmax(row), recomputed from the kept logits.
template <class T>
void softmax_row(const T* row, T* d, int64_t C, T w) {
  if constexpr (std::is_same_v<T, float>) {
    const float inv = w / detail::kernels::exp_shifted(row, d, C, detail::kernels::max_of(row, C));
    for (int64_t c = 0; c < C; ++c) d[c] *= inv;
  } else {
    const LogNormalizer<T> z = log_normalizer(row, C);
    for (int64_t c = 0; c < C; ++c) d[c] = w * std::exp(z.log_prob(row[c]));
  }
}

// Fused: the forward reads each row of logits twice (max, then the sum of exps) and writes no
// [N, C] log-probabilities; backward recomputes the softmax from the logits it keeps: the
// input itself, or under autocast a bfloat16 copy (half the bytes, as PyTorch's autocast linear
// hands them over; rounded log-probabilities of -10 would be 3% off, rounded logits are not),
// widened a row at a time.
template <class T>
Tensor cross_entropy_of(const Tensor& input, const IndexTensor& targets,
                        const CrossEntropyOptions& o) {
  const Tensor logits = input.is_contiguous() ? input : input.contiguous();
  const int64_t N = logits.size(0), C = logits.size(1);
  const T eps = static_cast<T>(o.label_smoothing());
  std::vector<int64_t> t = targets.to_vector();
  const T* x = N * C > 0 ? logits.data_ptr<T>() : nullptr;
  std::vector<LogNormalizer<T>> z(static_cast<size_t>(N));
  detail::parallel_rows(N, N * C * 4, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i)
      if (t[i] != o.ignore_index()) z[i] = log_normalizer(x + i * C, C);
  });
  ArrayOf<T> rows = xt::zeros<T>({static_cast<size_t>(N)});
  T count = 0;
  for (int64_t i = 0; i < N; ++i) {
    if (t[i] == o.ignore_index()) continue;
    const T* row = x + i * C;
    rows.data()[i] = nll_row<T>(C, t[i], eps, [&](int64_t c) { return z[i].log_prob(row[c]); });
    count += T(1);
  }
  // What backward reads: the logits themselves (version-checked), or their bfloat16 copy.
  std::shared_ptr<const Storage> rounded;
  if constexpr (std::is_same_v<T, float>)
    if (detail::keeps_bf16(input)) rounded = detail::convert_storage(logits, kBFloat16);
  const SavedValuesOf<T> kept = rounded ? SavedValuesOf<T>() : detail::saved<T>(logits);
  const int64_t offset = logits.storage_offset();
  const Reduction reduction = o.reduction();
  const int64_t ignore = o.ignore_index();
  return make_output(
      reduce_rows(rows, reduction, count), "cross_entropy", {input}, [=](const ArrayOf<T>& g) {
        const T* base = rounded ? nullptr : kept.storage_data() + offset;
        ArrayOf<T> dx = ArrayOf<T>::from_shape({static_cast<size_t>(N), static_cast<size_t>(C)});
        // Rows are independent: split between threads, bit-identical for any count.
        detail::parallel_rows(N, N * C * 8, [&](int64_t lo, int64_t hi) {
          for (int64_t i = lo; i < hi; ++i) {
            T* d = dx.data() + i * C;
            if (t[i] == ignore) {
              std::fill_n(d, C, T(0));
              continue;
            }
            const T* row = base ? base + i * C : nullptr;
            if constexpr (std::is_same_v<T, float>) {
              thread_local std::vector<float> widened;
              if (rounded) {
                widened.resize(static_cast<size_t>(C));
                detail::kernels::from_bf16(static_cast<const uint16_t*>(rounded->bytes()) + i * C,
                                           widened.data(), C);
                row = widened.data();
              }
            }
            const T w = row_weight(reduction, count, g, i);
            softmax_row(row, d, C, w);
            finish_row_gradient(d, C, t[i], w, eps);
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
    return cross_entropy_of<decltype(real)>(logits, targets, options);
  });
}

Tensor nll_loss(const Tensor& log_probs, const IndexTensor& targets,
                const NLLLossOptions& options) {
  if (log_probs.dim() > 2) return per_position(log_probs, targets, options, "nll_loss", nll_loss);
  check_targets("nll_loss", log_probs.shape(), targets, options.ignore_index());
  EMBER_CHECK_VALUE(options.label_smoothing() == 0.0, "nll_loss: label_smoothing is not an ",
                    "option of nll_loss (got ", options.label_smoothing(), "); use cross_entropy");
  return detail::by_dtype(log_probs, "nll_loss", [&](auto real) {
    return nll_of<decltype(real)>(log_probs, targets, options);
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
