// Statistics over dims: var, std, logsumexp, norm (each as a [rows, n] loop in double), cumsum
// and topk along one dim.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "ember/autograd.hpp"
#include "ember/ops.hpp"
#include "op_helpers.hpp"

namespace ember {

namespace {

// One value per row from a per-row kernel; `backward_row(row, x, y, g, dx)` fills a row of
// the gradient. Both see the input in the [rows, n] layout of make_reduction, in T (float for
// float32, double for float64).
template <class T, class Forward, class Backward>
Tensor row_reduction(const Tensor& a, const Shape& dims, bool keepdim, const char* op,
                     Forward forward_row, Backward backward_row) {
  detail::Reduction r = detail::make_reduction(a.shape(), dims, keepdim, op);
  const detail::RowReaderOf<T> input(a, r);
  std::vector<T> row_buffer;
  auto y = std::make_shared<ArrayOf<T>>(ArrayOf<T>::from_shape({static_cast<size_t>(r.rows)}));
  for (int64_t row = 0; row < r.rows; ++row)
    y->data()[row] = forward_row(input.row(row, row_buffer), r.n);
  ArrayOf<T> out = *y;
  out.reshape(detail::to_xshape(r.out_shape));
  auto A = detail::saved<T>(a);
  return make_output(std::move(out), op, {a},
                     [A, layout = detail::layout_of(a), r, y, backward_row](const ArrayOf<T>& g) {
                       const detail::RowReaderOf<T> input(A.storage_data(), layout, r);
                       std::vector<T> row_buffer;
                       ArrayOf<T> dx = ArrayOf<T>::from_shape({static_cast<size_t>(r.rows * r.n)});
                       for (int64_t row = 0; row < r.rows; ++row)
                         backward_row(input.row(row, row_buffer), r.n, y->data()[row],
                                      g.data()[row], dx.data() + row * r.n);
                       return gradients(detail::from_rows(std::move(dx), r));
                     });
}

template <class T>
double row_mean(const T* x, int64_t n) {
  double total = 0;
  for (int64_t k = 0; k < n; ++k) total += x[k];
  return total / static_cast<double>(n);
}

// Sum of squared deviations / (n - correction); NaN when n <= correction, as PyTorch (0 / -1
// would give -0 for an empty row).
template <class T>
double row_var(const T* x, int64_t n, int64_t correction) {
  if (n <= correction || n == 0) return std::nan("");
  const double m = row_mean(x, n);
  double ss = 0;
  for (int64_t k = 0; k < n; ++k) ss += (x[k] - m) * (x[k] - m);
  return ss / static_cast<double>(n - correction);
}

template <class T>
Tensor var_of(const Tensor& a, const Shape& dims, bool unbiased, bool keepdim, bool root,
              const char* op) {
  const int64_t c = unbiased ? 1 : 0;
  return row_reduction<T>(
      a, dims, keepdim, op,
      [c, root](const T* x, int64_t n) {
        double v = row_var(x, n, c);
        return static_cast<T>(root ? std::sqrt(v) : v);
      },
      [c, root](const T* x, int64_t n, T y, T g, T* dx) {
        // d var / dx_k = 2 (x_k - mean) / (n - c); d std = d var / (2 std), 0 where std = 0.
        const double m = row_mean(x, n);
        double scale =
            root ? (y == T(0) ? 0.0 : g / (double(y) * double(n - c))) : 2.0 * g / double(n - c);
        for (int64_t k = 0; k < n; ++k) dx[k] = static_cast<T>(scale * (x[k] - m));
      });
}

Tensor var_impl(const Tensor& a, const Shape& dims, bool unbiased, bool keepdim, bool root,
                const char* op) {
  return detail::by_dtype(a, op, [&](auto real) {
    return var_of<decltype(real)>(a, dims, unbiased, keepdim, root, op);
  });
}

template <class T>
Tensor logsumexp_of(const Tensor& a, const Shape& dims, bool keepdim) {
  return row_reduction<T>(
      a, dims, keepdim, "logsumexp",
      [](const T* x, int64_t n) {
        T m = -std::numeric_limits<T>::infinity();
        for (int64_t k = 0; k < n; ++k) {
          if (std::isnan(x[k])) return x[k];  // max() would drop it next to inf or a larger x
          m = std::max(m, x[k]);
        }
        if (std::isinf(m)) return m;  // all -inf (or an inf): no shift to subtract
        double total = 0;
        for (int64_t k = 0; k < n; ++k) total += std::exp(double(x[k]) - m);
        return static_cast<T>(m + std::log(total));
      },
      [](const T* x, int64_t n, T y, T g, T* dx) {
        for (int64_t k = 0; k < n; ++k) dx[k] = g * std::exp(x[k] - y);  // g * softmax
      });
}

template <class T>
Tensor norm_of(const Tensor& a, T p, const Shape& dims, bool keepdim) {
  return row_reduction<T>(
      a, dims, keepdim, "norm",
      [p](const T* x, int64_t n) {
        double total = 0;
        for (int64_t k = 0; k < n; ++k) {
          double v = std::abs(double(x[k]));
          if (std::isnan(v)) return static_cast<T>(v);  // max() would drop it, as above
          if (std::isinf(p))
            total = std::max(total, v);
          else
            total += p == 2.f ? v * v : std::pow(v, double(p));
        }
        if (std::isinf(p) || p == 1.f) return static_cast<T>(total);
        return static_cast<T>(p == 2.f ? std::sqrt(total) : std::pow(total, 1.0 / p));
      },
      [p](const T* x, int64_t n, T y, T g, T* dx) {
        // As PyTorch: a zero norm has a zero gradient; the inf-norm shares it between ties.
        T ties = 0;
        if (std::isinf(p))
          for (int64_t k = 0; k < n; ++k) ties += std::abs(x[k]) == y ? T(1) : T(0);
        for (int64_t k = 0; k < n; ++k) {
          const T sign = x[k] > T(0) ? T(1) : (x[k] < T(0) ? T(-1) : T(0));
          if (y == T(0) || x[k] == T(0))
            dx[k] = 0;
          else if (std::isinf(p))
            dx[k] = std::abs(x[k]) == y ? sign * g / ties : T(0);
          else if (p == 1.f)
            dx[k] = sign * g;
          else
            dx[k] = static_cast<T>(sign * std::pow(std::abs(double(x[k])) / y, p - 1.0) * g);
        }
      });
}

}  // namespace

Tensor var(const Tensor& a, const Shape& dims, bool unbiased, bool keepdim) {
  return var_impl(a, dims, unbiased, keepdim, false, "var");
}
Tensor std(const Tensor& a, const Shape& dims, bool unbiased, bool keepdim) {
  return var_impl(a, dims, unbiased, keepdim, true, "std");
}

Tensor logsumexp(const Tensor& a, const Shape& dims, bool keepdim) {
  EMBER_CHECK_VALUE(!dims.empty(), "logsumexp: dims must not be empty");
  return detail::by_dtype(
      a, "logsumexp", [&](auto real) { return logsumexp_of<decltype(real)>(a, dims, keepdim); });
}

Tensor norm(const Tensor& a, double p) { return norm(a, p, {}, false); }

// p in the tensor's dtype, as PyTorch's wrapped scalar (a float32 norm raises to the float p).
Tensor norm(const Tensor& a, double p, const Shape& dims, bool keepdim) {
  EMBER_CHECK_VALUE(p > 0.0, "norm: p must be positive (or INFINITY), got ", p);
  return detail::by_dtype(a, "norm", [&](auto real) {
    using T = decltype(real);
    return norm_of<T>(a, static_cast<T>(p), dims, keepdim);
  });
}

namespace {

template <class T>
Tensor cumsum_of(const Tensor& a, int64_t dim) {
  const detail::DimSplit s = detail::split_at(a.shape(), dim);
  // Running sums along dim, in double; line `line` of [outer, inner] reads its element k with
  // at(line, k) and writes out[(o * n + k) * inner + i]. Reversed gives the backward's suffix
  // sums.
  auto scan = [s](auto at, T* out, bool reversed) {
    for (int64_t o = 0; o < s.outer; ++o)
      for (int64_t i = 0; i < s.inner; ++i) {
        double total = 0;
        for (int64_t j = 0; j < s.n; ++j) {
          const int64_t k = reversed ? s.n - 1 - j : j;
          total += at(o * s.inner + i, k);
          out[(o * s.n + k) * s.inner + i] = static_cast<T>(total);
        }
      }
  };
  ArrayOf<T> out = ArrayOf<T>::from_shape(detail::to_xshape(a.shape()));
  if (a.dim() == 0) {
    out.data()[0] = a.item<T>();
  } else {
    const detail::RowReaderOf<T> x(a, detail::make_reduction(a.shape(), {dim}, false, "cumsum"));
    scan([&x](int64_t line, int64_t k) { return x.at(line, k); }, out.data(), false);
  }
  return make_output(std::move(out), "cumsum", {a}, [scan, s](const ArrayOf<T>& g) {
    ArrayOf<T> dx = ArrayOf<T>::from_shape(g.shape());
    const T* gv = g.data();
    scan([&](int64_t line,
             int64_t k) { return gv[(line / s.inner * s.n + k) * s.inner + line % s.inner]; },
         dx.data(), true);
    return gradients(std::move(dx));
  });
}

template <class T>
std::tuple<Tensor, IndexTensor> topk_of(const Tensor& a, int64_t k, int64_t dim, bool largest) {
  Shape in = a.shape();
  const detail::DimSplit s = detail::split_at(in, dim);
  Shape out_shape = in;
  if (!in.empty()) out_shape[dim] = k;
  ArrayOf<T> values = ArrayOf<T>::from_shape(detail::to_xshape(out_shape));
  std::vector<int64_t> idx(static_cast<size_t>(s.outer * k * s.inner));
  std::vector<int64_t> order(static_cast<size_t>(s.n));
  // The input read where it sits, one line along dim at a time (a 0-d input is its one line).
  const detail::RowReaderOf<T> x(a, detail::make_reduction(in, {dim}, false, "topk"));
  for (int64_t o = 0; o < s.outer; ++o)
    for (int64_t i = 0; i < s.inner; ++i) {
      auto at = [&](int64_t j) { return x.at(o * s.inner + i, j); };
      // NaN ranks above everything when largest (below when not), as PyTorch; ties keep the
      // lower index first.
      auto before = [&](int64_t l, int64_t r) {
        T u = at(l), v = at(r);
        const bool nu = std::isnan(u), nv = std::isnan(v);
        if (nu != nv) return largest ? nu : nv;
        if (!nu && u != v) return largest ? u > v : u < v;
        return l < r;
      };
      std::iota(order.begin(), order.end(), 0);
      std::partial_sort(order.begin(), order.begin() + k, order.end(), before);
      for (int64_t j = 0; j < k; ++j) {
        int64_t to = (o * k + j) * s.inner + i;
        values.data()[to] = at(order[j]);
        idx[static_cast<size_t>(to)] = order[j];
      }
    }
  IndexTensor indices(idx, out_shape);
  Tensor out = make_output(std::move(values), "topk", {a}, [in, s, k, idx](const ArrayOf<T>& g) {
    ArrayOf<T> dx = xt::zeros<T>(detail::to_xshape(in));
    for (int64_t o = 0; o < s.outer; ++o)
      for (int64_t j = 0; j < k; ++j)
        for (int64_t i = 0; i < s.inner; ++i) {
          int64_t from = (o * k + j) * s.inner + i;
          dx.data()[(o * s.n + idx[static_cast<size_t>(from)]) * s.inner + i] += g.data()[from];
        }
    return gradients(std::move(dx));
  });
  return {std::move(out), std::move(indices)};
}

}  // namespace

Tensor cumsum(const Tensor& a, int64_t dim) {
  dim = detail::wrap_dim(dim, a.dim(), "cumsum");
  return detail::by_dtype(a, "cumsum",
                          [&](auto real) { return cumsum_of<decltype(real)>(a, dim); });
}

std::tuple<Tensor, IndexTensor> topk(const Tensor& a, int64_t k, int64_t dim, bool largest) {
  dim = detail::wrap_dim(dim, a.dim(), "topk");
  const Shape in = a.shape();
  const int64_t n = detail::split_at(in, dim).n;
  EMBER_CHECK_VALUE(k >= 0 && k <= n, "topk: k ", k, " must be in [0, ", n, "], the size of dim ",
                    dim, " of shape ", detail::shape_str(in));
  return detail::by_dtype(a, "topk",
                          [&](auto real) { return topk_of<decltype(real)>(a, k, dim, largest); });
}

}  // namespace ember
