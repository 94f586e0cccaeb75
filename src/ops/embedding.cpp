// Embedding and EmbeddingBag: a gather forward, an index-add backward. The backward is
// deterministic whatever the thread count: each thread owns a block of table rows and walks
// the ids in order (no float atomics). With sparse=true it returns the touched rows only.
// Written once for float32 and float64 tables (T); a row-sparse gradient has the table's dtype.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <type_traits>

#include "../dense.hpp"
#include "ember/autograd.hpp"
#include "ember/nn/functional.hpp"
#include "ember/parallel.hpp"
#include "kernels.hpp"
#include "op_helpers.hpp"

namespace ember::nn::functional {

namespace {

struct TableShape {
  int64_t rows, width;
};

TableShape check_weight(const Tensor& weight, const char* op) {
  EMBER_CHECK_SHAPE(weight.dim() == 2, op,
                    ": weight must be 2-D [num_embeddings, embedding_dim], got shape ",
                    detail::shape_str(weight.shape()));
  return {weight.size(0), weight.size(1)};
}

// Token ids pick rows all over a table, so each row's cache lines are requested this many rows
// ahead: a gather that waits for every row in turn runs at memory latency, not bandwidth
// (2048 rows of 64 floats took 90 µs instead of 30).
constexpr int64_t kPrefetchRows = 8;

// Each lookup's table row (-1: none), kept by the backward. Through Ember's buffer cache: as a
// plain vector, 65,536 ids (512 KB) came fresh from the system each step, a page fault per 4 KB.
using Targets = std::vector<int64_t, CachingAllocator<int64_t>>;
template <class T>
void prefetch_row(const T* row, int64_t width) {
  for (int64_t k = 0; k < width; k += 64 / static_cast<int64_t>(sizeof(T)))  // a cache line
    __builtin_prefetch(row + k);
}

// y += alpha * x over n elements: float32's vectorised kernel, a plain loop in float64.
template <class T>
void axpy(T alpha, const T* x, T* y, int64_t n) {
  if constexpr (std::is_same_v<T, float>) {
    detail::kernels::axpy(alpha, x, y, n);
  } else {
    for (int64_t j = 0; j < n; ++j) y[j] += alpha * x[j];
  }
}

void check_ids(const IndexTensor& ids, int64_t num_embeddings, const char* op) {
  for (int64_t id : ids.to_vector())
    EMBER_CHECK_INDEX(id >= 0 && id < num_embeddings, op, ": index ", id,
                      " out of range for num_embeddings ", num_embeddings);
}

// -1 when there is no padding row.
int64_t resolve_padding(const std::optional<int64_t>& padding_idx, int64_t num_embeddings,
                        const char* op) {
  if (!padding_idx) return -1;
  int64_t p = *padding_idx;
  EMBER_CHECK_INDEX(p >= -num_embeddings && p < num_embeddings, op, ": padding_idx ", p,
                    " out of range for num_embeddings ", num_embeddings);
  return p < 0 ? p + num_embeddings : p;
}

// Per-entry gradient scale of scale_grad_by_freq: 1 / (occurrences of the entry's id).
template <class T>
std::vector<T> inverse_frequencies(const Targets& targets, int64_t rows) {
  std::vector<int32_t> counts(static_cast<size_t>(rows), 0);
  for (int64_t r : targets)
    if (r >= 0) ++counts[static_cast<size_t>(r)];
  std::vector<T> inv(targets.size(), T(0));
  for (size_t i = 0; i < targets.size(); ++i)
    if (targets[i] >= 0) inv[i] = T(1) / static_cast<T>(counts[static_cast<size_t>(targets[i])]);
  return inv;
}

// dW[targets[i]] += scale(i) * src(i), for every entry with a target >= 0.
template <class T, class Src, class Scale>
ArrayOf<T> index_add_dense(TableShape t, const Targets& targets, Src src, Scale scale) {
  ArrayOf<T> dw =
      ArrayOf<T>::from_shape({static_cast<size_t>(t.rows), static_cast<size_t>(t.width)});
  const int64_t n = static_cast<int64_t>(targets.size()), D = t.width;
  detail::parallel_rows(t.rows, n * D + t.rows * D, [&](int64_t lo, int64_t hi) {
    std::fill(dw.data() + lo * D, dw.data() + hi * D, T(0));  // each thread zeroes its own rows
    for (int64_t i = 0; i < n; ++i) {
      if (i + kPrefetchRows < n) {
        int64_t ahead = targets[static_cast<size_t>(i + kPrefetchRows)];
        if (ahead >= lo && ahead < hi) prefetch_row(dw.data() + ahead * D, D);
      }
      int64_t r = targets[static_cast<size_t>(i)];
      if (r < lo || r >= hi) continue;  // another thread's row, or padding (-1)
      axpy<T>(scale(i), src(i), dw.data() + r * D, D);
    }
  });
  return dw;
}

// The same sums, as a coalesced row-sparse gradient (rows sorted, each once).
template <class T, class Src, class Scale>
std::shared_ptr<RowSparseGrad> index_add_sparse(TableShape t, const Targets& targets, Src src,
                                                Scale scale) {
  std::vector<int64_t> order;
  for (size_t i = 0; i < targets.size(); ++i)
    if (targets[i] >= 0) order.push_back(static_cast<int64_t>(i));
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return targets[static_cast<size_t>(a)] < targets[static_cast<size_t>(b)];
  });
  auto grad = std::make_shared<RowSparseGrad>();
  grad->dense_shape = {t.rows, t.width};
  for (int64_t i : order) {
    int64_t r = targets[static_cast<size_t>(i)];
    if (grad->rows.empty() || grad->rows.back() != r) grad->rows.push_back(r);
  }
  const int64_t D = t.width;
  ArrayOf<T>& values = grad->allocate<T>(grad->rows.size());
  std::fill(values.begin(), values.end(), T(0));
  int64_t slot = -1, last = -1;
  for (int64_t i : order) {
    int64_t r = targets[static_cast<size_t>(i)];
    if (r != last) ++slot, last = r;
    axpy<T>(scale(i), src(i), values.data() + slot * D, D);
  }
  return grad;
}

// The table's gradient: row-sparse when sparse=true; otherwise dense, sent as its rows when a
// batch touches few of them (a [50257, 768] table is 154 MB to zero and add for 256 tokens).
template <class T, class Src, class Scale>
Gradient index_add(bool sparse, TableShape t, const Targets& targets, Src src, Scale scale) {
  if (sparse) return Gradient(index_add_sparse<T>(t, targets, src, scale));
  if (static_cast<int64_t>(targets.size()) * 4 <= t.rows)
    return Gradient::dense_from_rows(index_add_sparse<T>(t, targets, src, scale));
  return Gradient(index_add_dense<T>(t, targets, src, scale));
}

// A dense table gradient's rows that `targets` name, as a row-sparse gradient.
template <class T>
std::shared_ptr<RowSparseGrad> touched_rows(const ArrayOf<T>& dw, const Targets& targets) {
  const int64_t D = static_cast<int64_t>(dw.shape()[1]);
  auto s = std::make_shared<RowSparseGrad>();
  s->dense_shape = {static_cast<int64_t>(dw.shape()[0]), D};
  std::vector<int64_t> rows;
  for (int64_t r : targets)
    if (r >= 0) rows.push_back(r);
  std::sort(rows.begin(), rows.end());
  rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
  ArrayOf<T>& values = s->allocate<T>(rows.size());
  for (size_t k = 0; k < rows.size(); ++k)
    std::copy_n(dw.data() + rows[k] * D, D, values.data() + static_cast<int64_t>(k) * D);
  s->rows = std::move(rows);
  return s;
}
// dw as the gradient sparse asks for.
template <class T>
Gradient table_gradient(bool sparse, ArrayOf<T>&& dw, const Targets& targets) {
  if (sparse) return Gradient(touched_rows(dw, targets));
  return Gradient(std::move(dw));
}

// The factor of entry i's row in the sum of its bag (of `bag_size` entries): its per-sample
// weight, divided by the bag's size for mode mean.
template <class T>
T bag_factor(const SavedValuesOf<T>& psw, EmbeddingBagMode mode, int64_t bag_size, int64_t i) {
  T c = psw ? psw->data()[i] : T(1);
  if (mode == EmbeddingBagMode::Mean) c /= static_cast<T>(bag_size);
  return c;
}

Shape append_dim(Shape s, int64_t d) {
  s.push_back(d);
  return s;
}

}  // namespace

void embedding_renorm_(Tensor& weight, const IndexTensor& ids, double max_norm, double norm_type) {
  TableShape t = check_weight(weight, "embedding_renorm_");
  check_ids(ids, t.rows, "embedding_renorm_");
  EMBER_CHECK_VALUE(max_norm > 0, "embedding: max_norm must be positive, got ", max_norm);
  EMBER_CHECK_VALUE(norm_type > 0, "embedding: norm_type must be positive, got ", norm_type);
  EMBER_CHECK(ValuesForWrite::writable(weight), "embedding_renorm_: the weight (shape ",
              detail::shape_str(weight.shape()), ", strides ", detail::shape_str(weight.strides()),
              ") is an expanded view whose rows share memory; clone it first");
  std::vector<int64_t> unique = ids.to_vector();
  std::sort(unique.begin(), unique.end());
  unique.erase(std::unique(unique.begin(), unique.end()), unique.end());
  detail::by_dtype(weight, "embedding_renorm_", [&](auto real) {
    using T = decltype(real);
    // Through the layout: a table that is a view is renormed in place too.
    T* w = weight.impl()->storage->template data_as<T>() + weight.storage_offset();
    const int64_t row_stride = weight.strides()[0], column_stride = weight.strides()[1];
    for (int64_t r : unique) {
      T* row = w + r * row_stride;
      double norm = 0;
      for (int64_t j = 0; j < t.width; ++j)
        norm += std::pow(std::abs(double(row[j * column_stride])), norm_type);
      norm = std::pow(norm, 1.0 / norm_type);
      if (norm > max_norm) {
        // As PyTorch: the 1e-7 keeps the scale finite for tiny max_norm.
        const T scale = static_cast<T>(max_norm / (norm + 1e-7));
        for (int64_t j = 0; j < t.width; ++j) row[j * column_stride] *= scale;
      }
    }
  });
  weight.bump_version();  // a saved copy of these values is stale from now on
}

Tensor embedding(const IndexTensor& ids, const Tensor& weight, const EmbeddingFuncOptions& o) {
  TableShape t = check_weight(weight, "embedding");
  check_ids(ids, t.rows, "embedding");
  const int64_t pad = resolve_padding(o.padding_idx(), t.rows, "embedding");
  if (o.max_norm()) {
    Tensor w = weight;
    embedding_renorm_(w, ids, *o.max_norm(), o.norm_type());
  }
  return detail::by_dtype(weight, "embedding", [&](auto real) {
    using T = decltype(real);
    const int64_t n = ids.numel(), D = t.width;
    ArrayOf<T> out = ArrayOf<T>::from_shape(detail::to_xshape(append_dim(ids.shape(), D)));
    // Rows are read where they sit, through the table's strides: a table that is a view (rows
    // of a larger parameter, a transposed matrix) is never copied.
    const T* w = weight.data_ptr<T>();
    const int64_t row_stride = weight.strides()[0], column_stride = weight.strides()[1];
    const int64_t* id = ids.data();
    detail::parallel_rows(n, n * D, [&](int64_t lo, int64_t hi) {  // output rows are independent
      for (int64_t i = lo; i < hi; ++i) {
        const T* row = w + id[i] * row_stride;
        T* to = out.data() + i * D;
        if (column_stride != 1) {
          for (int64_t j = 0; j < D; ++j) to[j] = row[j * column_stride];
          continue;
        }
        if (i + kPrefetchRows < hi) prefetch_row(w + id[i + kPrefetchRows] * row_stride, D);
        std::copy_n(row, D, to);
      }
    });

    // The row each output row's gradient goes to; -1 for the padding row, which never learns.
    Targets targets(ids.data(), ids.data() + ids.numel());
    for (int64_t& r : targets)
      if (r == pad) r = -1;
    bool sparse = o.sparse(), by_freq = o.scale_grad_by_freq();
    return make_output(
        std::move(out), "embedding", {weight},
        [=, targets = std::move(targets)](const ArrayOf<T>& g) {
          auto src = [&](int64_t i) { return g.data() + i * D; };
          if (!by_freq)
            return gradients(index_add<T>(sparse, t, targets, src, [](int64_t) { return T(1); }));
          std::vector<T> inv = inverse_frequencies<T>(targets, t.rows);
          return gradients(index_add<T>(sparse, t, targets, src,
                                        [&](int64_t i) { return inv[static_cast<size_t>(i)]; }));
        });
  });
}

namespace {
// Bag b holds entries [starts[b], starts[b + 1]).
std::vector<int64_t> bag_starts(const IndexTensor& input, const EmbeddingBagFuncOptions& o) {
  const int64_t n = input.numel();
  if (input.dim() == 2) {
    EMBER_CHECK_VALUE(!o.offsets(), "embedding_bag: offsets must not be given with 2-D input ",
                      detail::shape_str(input.shape()));
    std::vector<int64_t> starts;
    for (int64_t b = 0; b <= input.size(0); ++b) starts.push_back(b * input.size(1));
    return starts;
  }
  EMBER_CHECK_SHAPE(input.dim() == 1, "embedding_bag: input must be 1-D or 2-D, got shape ",
                    detail::shape_str(input.shape()));
  EMBER_CHECK_VALUE(o.offsets().has_value(), "embedding_bag: 1-D input needs offsets");
  const IndexTensor& offsets = *o.offsets();
  EMBER_CHECK_SHAPE(offsets.dim() == 1, "embedding_bag: offsets must be 1-D, got shape ",
                    detail::shape_str(offsets.shape()));
  std::vector<int64_t> starts = offsets.to_vector();
  EMBER_CHECK_VALUE(!o.include_last_offset() || !starts.empty(),
                    "embedding_bag: include_last_offset needs at least one offset");
  if (!starts.empty()) {
    EMBER_CHECK_INDEX(starts[0] == 0, "embedding_bag: offsets[0] must be 0, got ", starts[0]);
  }
  for (size_t i = 0; i < starts.size(); ++i) {
    EMBER_CHECK_INDEX(i == 0 || starts[i] >= starts[i - 1], "embedding_bag: offsets must be ",
                      "non-decreasing, but offsets[", i, "] = ", starts[i], " < offsets[", i - 1,
                      "] = ", starts[i - 1]);
    EMBER_CHECK_INDEX(starts[i] <= n, "embedding_bag: offsets[", i, "] = ", starts[i],
                      " is past the end of input of size ", n);
  }
  if (!o.include_last_offset()) starts.push_back(n);
  return starts;
}

}  // namespace

const char* mode_name(EmbeddingBagMode m) {
  return m == EmbeddingBagMode::Sum ? "sum" : m == EmbeddingBagMode::Mean ? "mean" : "max";
}

Tensor embedding_bag(const IndexTensor& input, const Tensor& weight,
                     const EmbeddingBagFuncOptions& o) {
  TableShape t = check_weight(weight, "embedding_bag");
  check_ids(input, t.rows, "embedding_bag");
  const int64_t pad = resolve_padding(o.padding_idx(), t.rows, "embedding_bag");
  const EmbeddingBagMode mode = o.mode();
  const Tensor& psw = o.per_sample_weights();
  if (psw.defined()) {
    EMBER_CHECK_VALUE(mode == EmbeddingBagMode::Sum, "embedding_bag: per_sample_weights is only ",
                      "supported for mode='sum', got mode='", mode_name(mode), "'");
    EMBER_CHECK_SHAPE(psw.shape() == input.shape(), "embedding_bag: per_sample_weights shape ",
                      detail::shape_str(psw.shape()), " does not match input shape ",
                      detail::shape_str(input.shape()));
    detail::check_same_dtype("embedding_bag", weight, psw, "weight and per_sample_weights");
  }
  EMBER_CHECK_VALUE(!(o.scale_grad_by_freq() && mode == EmbeddingBagMode::Max),
                    "embedding_bag: scale_grad_by_freq is not supported with mode='max'");
  std::vector<int64_t> starts = bag_starts(input, o);
  if (o.max_norm()) {
    Tensor w = weight;
    embedding_renorm_(w, input, *o.max_norm(), o.norm_type());
  }
  const int64_t B = static_cast<int64_t>(starts.size()) - 1, D = t.width, n = input.numel();
  Targets targets(input.data(), input.data() + n);
  Targets bag_of(static_cast<size_t>(n), -1);
  std::vector<int64_t> count(static_cast<size_t>(B), 0);  // the entries each bag averages
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = starts[b]; i < starts[b + 1]; ++i) {
      bag_of[static_cast<size_t>(i)] = b;
      if (targets[static_cast<size_t>(i)] == pad) targets[static_cast<size_t>(i)] = -1;
      if (targets[static_cast<size_t>(i)] >= 0) ++count[static_cast<size_t>(b)];
    }
  // Entries past the last offset (include_last_offset) belong to no bag.
  for (size_t i = 0; i < targets.size(); ++i)
    if (bag_of[i] < 0) targets[i] = -1;

  return detail::by_dtype(weight, "embedding_bag", [&](auto real) {
    using T = decltype(real);
    auto W = detail::saved<T>(weight);
    auto PSW = psw.defined() ? detail::saved<T>(psw) : SavedValuesOf<T>();
    auto factor = [&, mode](int64_t i) {
      return bag_factor(PSW, mode, count[static_cast<size_t>(bag_of[static_cast<size_t>(i)])], i);
    };
    ArrayOf<T> out = xt::zeros<T>({static_cast<size_t>(B), static_cast<size_t>(D)});
    std::vector<int64_t> argmax;  // mode max: the entry that won each output element, or -1
    if (mode == EmbeddingBagMode::Max) argmax.assign(static_cast<size_t>(B * D), -1);
    for (int64_t i = 0; i < n; ++i) {
      int64_t r = targets[static_cast<size_t>(i)], b = bag_of[static_cast<size_t>(i)];
      if (r < 0) continue;
      const T* row = W->data() + r * D;
      T* dst = out.data() + b * D;
      if (mode == EmbeddingBagMode::Max) {
        for (int64_t j = 0; j < D; ++j) {
          int64_t& winner = argmax[static_cast<size_t>(b * D + j)];
          if (winner < 0 || row[j] > dst[j]) dst[j] = row[j], winner = i;
        }
      } else {
        const T c = factor(i);
        for (int64_t j = 0; j < D; ++j) dst[j] += c * row[j];
      }
    }

    std::vector<Tensor> inputs{weight};
    if (psw.defined()) inputs.push_back(psw);
    bool sparse = o.sparse(), by_freq = o.scale_grad_by_freq(), need_w = weight.requires_grad();
    Shape psw_shape = input.shape();
    size_t num_inputs = inputs.size();
    return make_output(
        std::move(out), "embedding_bag", inputs,
        [=, targets = std::move(targets), bag_of = std::move(bag_of),
         argmax = std::move(argmax)](const ArrayOf<T>& g) {
          Gradients grads(num_inputs);
          if (need_w && mode == EmbeddingBagMode::Max) {
            // Each output element's gradient goes to the entry that won it: one (row, column).
            ArrayOf<T> dw = xt::zeros<T>({static_cast<size_t>(t.rows), static_cast<size_t>(D)});
            for (int64_t k = 0; k < B * D; ++k) {
              int64_t e = argmax[static_cast<size_t>(k)];
              if (e >= 0) dw.data()[targets[static_cast<size_t>(e)] * D + k % D] += g.data()[k];
            }
            grads[0] = table_gradient<T>(sparse, std::move(dw), targets);
          } else if (need_w) {
            std::vector<T> inv =
                by_freq ? inverse_frequencies<T>(targets, t.rows) : std::vector<T>();
            auto src = [&](int64_t i) { return g.data() + bag_of[static_cast<size_t>(i)] * D; };
            auto scale = [&](int64_t i) {
              const size_t k = static_cast<size_t>(i);
              const T c = bag_factor(PSW, mode, count[static_cast<size_t>(bag_of[k])], i);
              return by_freq ? c * inv[k] : c;
            };
            grads[0] = index_add<T>(sparse, t, targets, src, scale);
          }
          if (PSW) {  // d(out[b]) / d(psw[i]) = weight[id_i]
            ArrayOf<T> dpsw = xt::zeros<T>(detail::to_xshape(psw_shape));
            for (int64_t i = 0; i < n; ++i) {
              int64_t r = targets[static_cast<size_t>(i)];
              if (r < 0) continue;
              const T* gb = g.data() + bag_of[static_cast<size_t>(i)] * D;
              const T* row = W->data() + r * D;
              T dot = 0;
              for (int64_t j = 0; j < D; ++j) dot += gb[j] * row[j];
              dpsw.data()[i] = dot;
            }
            grads[1] = std::move(dpsw);
          }
          return grads;
        });
  });
}

}  // namespace ember::nn::functional
