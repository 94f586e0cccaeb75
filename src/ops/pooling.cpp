// Max, average and adaptive pooling over the last dim of [N, C, L] (or [C, L]). Every row is
// independent: forward records, per output, which inputs it read (max: the winner's index;
// average: its window and divisor), and backward scatters the gradient back there. Written once
// for float32 and float64 (T).
#include <cmath>
#include <limits>

#include "ember/autograd.hpp"
#include "ember/nn/conv.hpp"
#include "op_helpers.hpp"

namespace ember::nn::functional {

namespace {

struct Rows {
  int64_t rows, L;
};

Rows pool_rows(const char* op, const Tensor& x) {
  EMBER_CHECK_SHAPE(x.dim() == 2 || x.dim() == 3, op, ": input must be [N, C, L] or [C, L], got ",
                    detail::shape_str(x.shape()));
  const int64_t L = x.size(-1);
  return {L == 0 ? 0 : x.numel() / L, L};
}

Shape with_length(const Tensor& x, int64_t T) {
  Shape s = x.shape();
  s.back() = T;
  return s;
}

int64_t pooled_length(const char* op, int64_t L, int64_t k, int64_t s, int64_t p, int64_t d,
                      bool ceil_mode) {
  EMBER_CHECK_VALUE(k > 0 && s > 0 && d > 0 && p >= 0, op,
                    ": kernel_size, stride and dilation must be positive and padding >= 0, got ", k,
                    ", ", s, ", ", d, " and ", p);
  EMBER_CHECK_VALUE(p <= k / 2, op, ": padding ", p, " should be at most half of kernel_size ", k);
  const int64_t span = d * (k - 1) + 1;
  EMBER_CHECK_SHAPE(L + 2 * p >= span, op, ": kernel size ", k, " (spanning ", span,
                    ") is larger than the padded input length ", L + 2 * p);
  const int64_t num = L + 2 * p - span;
  int64_t T = (ceil_mode ? (num + s - 1) / s : num / s) + 1;
  if (ceil_mode && (T - 1) * s >= L + p) --T;  // the last window must start inside the input
  return T;
}

// out[r, t] = x[r, idx[r, t]]; backward adds g back at idx.
template <class T>
Tensor gather_rows(const char* op, const Tensor& x, Rows r, int64_t T_out,
                   std::vector<int64_t> idx) {
  ArrayOf<T> y = ArrayOf<T>::from_shape(detail::to_xshape(with_length(x, T_out)));
  const detail::RowReaderOf<T> x_rows(x, x.dim() - 1);  // x where it sits, through its strides
  for (int64_t i = 0; i < r.rows; ++i)
    for (int64_t t = 0; t < T_out; ++t) {
      const int64_t j = idx[static_cast<size_t>(i * T_out + t)];
      y.data()[i * T_out + t] = j < 0 ? T(-INFINITY) : x_rows.at(i, j);
    }
  auto shape = detail::to_xshape(x.shape());
  auto saved = std::make_shared<std::vector<int64_t>>(std::move(idx));
  return make_output(std::move(y), op, {x}, [=](const ArrayOf<T>& g) {
    ArrayOf<T> dx = xt::zeros<T>(shape);
    for (int64_t i = 0; i < r.rows; ++i)
      for (int64_t t = 0; t < T_out; ++t) {
        const int64_t j = (*saved)[static_cast<size_t>(i * T_out + t)];
        if (j >= 0) dx.data()[i * r.L + j] += g.data()[i * T_out + t];
      }
    return gradients(std::move(dx));
  });
}

// The argmax of x[r, begin(t) : end(t) : step] per output; NaN wins, as in PyTorch.
template <class T, class Window>
std::vector<int64_t> argmax_windows(const Tensor& x, Rows r, int64_t T_out, Window window) {
  std::vector<int64_t> idx(static_cast<size_t>(r.rows * T_out), -1);
  const detail::RowReaderOf<T> x_rows(x, x.dim() - 1);  // x where it sits, through its strides
  for (int64_t i = 0; i < r.rows; ++i)
    for (int64_t t = 0; t < T_out; ++t) {
      auto [begin, end, step] = window(t);
      T best = -INFINITY;
      int64_t& at = idx[static_cast<size_t>(i * T_out + t)];
      for (int64_t j = begin; j < end; j += step) {
        const T v = x_rows.at(i, j);
        if (at < 0 || v > best || std::isnan(v)) {
          best = v;
          at = j;
          if (std::isnan(v)) break;
        }
      }
    }
  return idx;
}

// A max pool: the winners' indices, then the gather, in x's dtype.
template <class Window>
Tensor max_rows(const char* op, const Tensor& x, Rows r, int64_t T_out, Window window) {
  return detail::by_dtype(x, op, [&](auto real) {
    using T = decltype(real);
    return gather_rows<T>(op, x, r, T_out, argmax_windows<T>(x, r, T_out, window));
  });
}

struct Span {
  int64_t begin, end, divisor;
};

// out[r, t] = sum(x[r, begin(t) : end(t)]) / divisor(t); backward spreads g / divisor.
template <class T>
Tensor average_rows_of(const char* op, const Tensor& x, Rows r, int64_t T_out,
                       std::vector<Span> spans) {
  ArrayOf<T> y = ArrayOf<T>::from_shape(detail::to_xshape(with_length(x, T_out)));
  const detail::RowReaderOf<T> x_rows(x, x.dim() - 1);  // x where it sits, one row at a time
  std::vector<T> row_buffer;
  for (int64_t i = 0; i < r.rows; ++i) {
    const T* xd = x_rows.row(i, row_buffer);
    for (int64_t t = 0; t < T_out; ++t) {
      const Span& s = spans[static_cast<size_t>(t)];
      T total = 0;
      for (int64_t j = s.begin; j < s.end; ++j) total += xd[j];
      y.data()[i * T_out + t] = total / static_cast<T>(s.divisor);
    }
  }
  auto shape = detail::to_xshape(x.shape());
  return make_output(std::move(y), op, {x}, [=, spans = std::move(spans)](const ArrayOf<T>& g) {
    ArrayOf<T> dx = xt::zeros<T>(shape);
    for (int64_t i = 0; i < r.rows; ++i)
      for (int64_t t = 0; t < T_out; ++t) {
        const Span& s = spans[static_cast<size_t>(t)];
        const T v = g.data()[i * T_out + t] / static_cast<T>(s.divisor);
        for (int64_t j = s.begin; j < s.end; ++j) dx.data()[i * r.L + j] += v;
      }
    return gradients(std::move(dx));
  });
}
Tensor average_rows(const char* op, const Tensor& x, Rows r, int64_t T_out,
                    std::vector<Span> spans) {
  return detail::by_dtype(x, op, [&](auto real) {
    return average_rows_of<decltype(real)>(op, x, r, T_out, std::move(spans));
  });
}

void check_output_size(const char* op, int64_t output_size) {
  EMBER_CHECK_VALUE(output_size > 0, op, ": output_size must be positive, got ", output_size);
}

}  // namespace

Tensor max_pool1d(const Tensor& input, const MaxPool1dFuncOptions& o) {
  const char* op = "max_pool1d";
  Rows r = pool_rows(op, input);
  const int64_t k = o.kernel_size(), s = o.stride() > 0 ? o.stride() : k, p = o.padding(),
                d = o.dilation();
  const int64_t T = pooled_length(op, r.L, k, s, p, d, o.ceil_mode());
  auto window = [&](int64_t t) {
    // Positions start - p + j d for j < k, clipped to the input (padding never wins).
    const int64_t start = t * s - p;
    int64_t begin = start, end = start + (k - 1) * d + 1;
    while (begin < 0) begin += d;
    end = std::min(end, r.L);
    return std::make_tuple(begin, std::max(begin, end), d);
  };
  return max_rows(op, input, r, T, window);
}

Tensor avg_pool1d(const Tensor& input, const AvgPool1dFuncOptions& o) {
  const char* op = "avg_pool1d";
  Rows r = pool_rows(op, input);
  const int64_t k = o.kernel_size(), s = o.stride() > 0 ? o.stride() : k, p = o.padding();
  const int64_t T = pooled_length(op, r.L, k, s, p, 1, o.ceil_mode());
  std::vector<Span> spans;
  for (int64_t t = 0; t < T; ++t) {
    int64_t begin = t * s - p, end = std::min(begin + k, r.L + p);
    const int64_t padded_size = end - begin;
    begin = std::max<int64_t>(begin, 0);
    end = std::min(end, r.L);
    const int64_t divisor = o.count_include_pad() ? padded_size : end - begin;
    spans.push_back({begin, end, std::max<int64_t>(divisor, 1)});
  }
  return average_rows(op, input, r, T, std::move(spans));
}

Tensor adaptive_max_pool1d(const Tensor& input, int64_t output_size) {
  const char* op = "adaptive_max_pool1d";
  check_output_size(op, output_size);
  Rows r = pool_rows(op, input);
  auto window = [&](int64_t t) {
    return std::make_tuple(t * r.L / output_size, ((t + 1) * r.L + output_size - 1) / output_size,
                           int64_t{1});
  };
  return max_rows(op, input, r, output_size, window);
}

Tensor adaptive_avg_pool1d(const Tensor& input, int64_t output_size) {
  const char* op = "adaptive_avg_pool1d";
  check_output_size(op, output_size);
  Rows r = pool_rows(op, input);
  std::vector<Span> spans;
  for (int64_t t = 0; t < output_size; ++t) {
    const int64_t begin = t * r.L / output_size;
    const int64_t end = ((t + 1) * r.L + output_size - 1) / output_size;
    spans.push_back({begin, end, std::max<int64_t>(end - begin, 1)});
  }
  return average_rows(op, input, r, output_size, std::move(spans));
}

}  // namespace ember::nn::functional
