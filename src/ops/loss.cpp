// Losses. cross_entropy is one fused pass: stable log-softmax, NLL and label smoothing.
#include <cmath>
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

// Per-row losses `rows` reduced as asked; `scale` maps a row's loss to its weight in the result.
Array reduce_rows(const Array& rows, Reduction reduction, float count) {
  if (reduction == Reduction::None) return rows;
  float total = xt::sum(rows)();
  return Array(reduction == Reduction::Mean ? total / count : total);
}

float row_weight(Reduction reduction, float count, const Array& g, int64_t i) {
  if (reduction == Reduction::None) return g.data()[i];
  float w = g.data()[0];
  return reduction == Reduction::Mean ? w / count : w;
}

// Shared by cross_entropy (from logits) and nll_loss (from log-probabilities). Backward reads
// `kept`: the log-probabilities themselves, or for cross_entropy under autocast the logits in
// bfloat16 (half the bytes, as PyTorch's autocast linear hands them over), whose softmax it
// recomputes (rounded log-probabilities of -10 would be 3% off; rounded logits are not).
Tensor nll_from_log_probs(const Tensor& input, const SavedValues& log_probs, SavedValues kept,
                          bool kept_logits, const IndexTensor& targets,
                          const CrossEntropyOptions& o, bool input_is_logits, const char* op) {
  const int64_t N = log_probs->shape()[0], C = log_probs->shape()[1];
  const float eps = static_cast<float>(o.label_smoothing());
  std::vector<int64_t> t = targets.to_vector();
  Array rows = xt::zeros<float>({static_cast<size_t>(N)});
  float count = 0.f;
  for (int64_t i = 0; i < N; ++i) {
    if (t[i] == o.ignore_index()) continue;
    const float* lp = log_probs->data() + i * C;
    float smooth = 0.f;
    if (eps > 0.f)
      for (int64_t c = 0; c < C; ++c) smooth -= lp[c];
    rows.data()[i] = -(1.f - eps) * lp[t[i]] + eps / static_cast<float>(C) * smooth;
    count += 1.f;
  }
  Reduction reduction = o.reduction();
  int64_t ignore = o.ignore_index();
  return make_output(reduce_rows(rows, reduction, count), op, {input}, [=](const Array& g) {
    Array dx = Array::from_shape(kept->shape());
    // Rows are independent: split between threads, bit-identical for any count.
    detail::parallel_rows(N, N * C * 8, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        float* d = dx.data() + i * C;
        if (t[i] == ignore) {
          std::fill_n(d, C, 0.f);
          continue;
        }
        const float w = row_weight(reduction, count, g, i);
        const float* row = kept->data() + i * C;
        const float smooth = eps / static_cast<float>(C);
        // d(loss)/d(log p_c) = -((1-eps) [c == t] + eps / C); through the softmax for logits.
        if (input_is_logits) {
          // p = exp(log p), or for logits exp(row - max) / sum: one pass of exp either way.
          float inv = 1.f;
          if (kept_logits)
            inv = 1.f / detail::kernels::exp_shifted(row, d, C, detail::kernels::max_of(row, C));
          else
            detail::kernels::exp_shifted(row, d, C, 0.f);
          for (int64_t c = 0; c < C; ++c) d[c] = w * (d[c] * inv - smooth);
        } else {
          std::fill_n(d, C, -w * smooth);
        }
        d[t[i]] -= w * (1.f - eps);
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
  // Log-softmax over classes, row by row, without recording it as a separate op.
  Tensor log_probs = [&] {
    NoGradGuard no_grad;
    return log_softmax(logits, 1);
  }();
  const bool bf16 = detail::keeps_bf16(logits);
  return nll_from_log_probs(logits, log_probs.storage(),
                            bf16 ? SavedValues::rounded_to_bfloat16(logits) : log_probs.storage(),
                            bf16, targets, options, true, "cross_entropy");
}

Tensor nll_loss(const Tensor& log_probs, const IndexTensor& targets,
                const NLLLossOptions& options) {
  if (log_probs.dim() > 2) return per_position(log_probs, targets, options, "nll_loss", nll_loss);
  check_targets("nll_loss", log_probs.shape(), targets, options.ignore_index());
  EMBER_CHECK_VALUE(options.label_smoothing() == 0.0, "nll_loss: label_smoothing is not an ",
                    "option of nll_loss (got ", options.label_smoothing(), "); use cross_entropy");
  return nll_from_log_probs(log_probs, log_probs.storage(), log_probs.storage(), false, targets,
                            options, false, "nll_loss");
}

Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  EMBER_CHECK_SHAPE(input.shape() == target.shape(), "mse_loss: input shape ",
                    detail::shape_str(input.shape()), " and target shape ",
                    detail::shape_str(target.shape()), " differ");
  auto diff = std::make_shared<Array>(input.data() - target.data());  // strided reads
  float count = static_cast<float>(input.numel());
  Array out = reduce_rows(Array(*diff * *diff), reduction, count);
  return make_output(std::move(out), "mse_loss", {input, target}, [=](const Array& g) {
    Array d = reduction == Reduction::None
                  ? Array(2.f * g * *diff)
                  : Array(2.f * row_weight(reduction, count, g, 0) * *diff);
    return gradients(d, Array(-d));
  });
}

Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& targets,
                                        Reduction reduction) {
  EMBER_CHECK_SHAPE(logits.shape() == targets.shape(),
                    "binary_cross_entropy_with_logits: ", "input shape ",
                    detail::shape_str(logits.shape()), " and target shape ",
                    detail::shape_str(targets.shape()), " differ");
  auto X = logits.storage(), Y = targets.storage();
  // max(x, 0) - x*y + log(1 + exp(-|x|)): stable for large |x|.
  Array rows = xt::maximum(*X, 0.f) - *X * *Y + xt::log1p(xt::exp(-xt::abs(*X)));
  float count = static_cast<float>(logits.numel());
  return make_output(reduce_rows(rows, reduction, count), "binary_cross_entropy_with_logits",
                     {logits, targets}, [=](const Array& g) {
                       Array w = reduction == Reduction::None
                                     ? g
                                     : Array(X->shape(), row_weight(reduction, count, g, 0));
                       Array sig = 1.f / (1.f + xt::exp(-*X));
                       return gradients(Array(w * (sig - *Y)), Array(-w * *X));
                     });
}

}  // namespace ember::nn::functional
