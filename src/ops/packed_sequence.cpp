// nn::utils::rnn: pack_padded_sequence and pad_packed_sequence as differentiable gathers (the
// sort of an unsorted batch is folded into the same gather), so padded steps get no gradient.
#include <algorithm>
#include <cstring>
#include <numeric>

#include "../dense.hpp"
#include "ember/autograd.hpp"
#include "ember/nn/rnn.hpp"
#include "op_helpers.hpp"
#include "rnn_kernel.hpp"

namespace ember::nn::detail {

std::vector<int64_t> checked_batch_sizes(const utils::rnn::PackedSequence& sequence,
                                         const char* op) {
  const std::vector<int64_t>& sizes = sequence.batch_sizes.to_vector();
  const int64_t rows = sequence.data.dim() >= 1 ? sequence.data.size(0) : 0;
  int64_t total = 0;
  for (size_t t = 0; t < sizes.size(); ++t) {
    const int64_t bs = sizes[t], before = t == 0 ? bs : sizes[t - 1];
    EMBER_CHECK_VALUE(bs > 0 && bs <= before, op, ": batch_sizes ", ember::detail::shape_str(sizes),
                      " must be positive and non-increasing ",
                      "(as pack_padded_sequence makes them), got ", bs, " at step ", t);
    // Compared before adding, so that no sum of hand-made sizes overflows.
    EMBER_CHECK_SHAPE(bs <= rows - total, op, ": batch_sizes ", ember::detail::shape_str(sizes),
                      " need more rows than data's ", rows, " (shape ",
                      ember::detail::shape_str(sequence.data.shape()), ")");
    total += bs;
  }
  EMBER_CHECK_SHAPE(total == rows, op, ": data has ", rows, " rows but batch_sizes ",
                    ember::detail::shape_str(sizes), " sum to ", total);
  const std::vector<int64_t>& sorted = sequence.sorted_indices.to_vector();
  const std::vector<int64_t>& unsorted = sequence.unsorted_indices.to_vector();
  if (sorted.empty() && unsorted.empty()) return sizes;
  const int64_t B = sizes.empty() ? 0 : sizes[0];
  bool ok = static_cast<int64_t>(sorted.size()) == B && unsorted.size() == sorted.size();
  for (size_t i = 0; ok && i < sorted.size(); ++i) {
    const int64_t j = sorted[i];
    ok = j >= 0 && j < B && unsorted[static_cast<size_t>(j)] == static_cast<int64_t>(i);
  }
  EMBER_CHECK_INDEX(ok, op, ": sorted_indices ", ember::detail::shape_str(sorted),
                    " and unsorted_indices ", ember::detail::shape_str(unsorted),
                    " must be inverse permutations of 0 .. ", B - 1,
                    " (the batch size, batch_sizes[0] = ", B, ")");
  return sizes;
}

}  // namespace ember::nn::detail

namespace ember::nn::utils::rnn {

namespace {

std::string list_str(const std::vector<int64_t>& v) { return ember::detail::shape_str(v); }

// For packed row r, the [T, B] slot (t * B + column) it comes from.
std::vector<int64_t> packed_slots(const std::vector<int64_t>& batch_sizes,
                                  const std::vector<int64_t>& order, int64_t batch) {
  std::vector<int64_t> slots;
  for (size_t t = 0; t < batch_sizes.size(); ++t)
    for (int64_t i = 0; i < batch_sizes[t]; ++i)
      slots.push_back(static_cast<int64_t>(t) * batch + order[static_cast<size_t>(i)]);
  return slots;
}

// Packed row r is x's row slots[r] (x [steps, B, *] seen as rows of `features` elements); padded
// rows get no gradient. T is the element type (float or double).
template <class T>
Tensor packed_rows(const Tensor& x, const std::vector<int64_t>& slots, const Shape& trailing,
                   int64_t features) {
  const size_t row_bytes = sizeof(T) * static_cast<size_t>(features);
  Shape shape{static_cast<int64_t>(slots.size())};
  shape.insert(shape.end(), trailing.begin(), trailing.end());
  ArrayOf<T> data = ArrayOf<T>::from_shape(ember::detail::to_xshape(shape));
  const ember::detail::DenseOf<T> x_values(x);  // [steps, B, *] of batch_first: packed here
  const T* src = x_values->data();
  for (size_t r = 0; r < slots.size(); ++r)
    std::memcpy(data.data() + r * static_cast<size_t>(features), src + slots[r] * features,
                row_bytes);
  const auto x_shape = x_values->shape();
  return make_output(std::move(data), "pack_padded_sequence", {x}, [=](const ArrayOf<T>& g) {
    ArrayOf<T> dx(x_shape, T(0));
    for (size_t r = 0; r < slots.size(); ++r)
      std::memcpy(dx.data() + slots[r] * features, g.data() + r * static_cast<size_t>(features),
                  row_bytes);
    return gradients(std::move(dx));
  });
}

// The inverse: a [steps, B, *] tensor of padding_value with packed row r at slot slots[r].
template <class T>
Tensor padded_rows(const Tensor& data, const std::vector<int64_t>& slots, const Shape& out_shape,
                   int64_t features, T padding_value) {
  const size_t row_bytes = sizeof(T) * static_cast<size_t>(features);
  ArrayOf<T> out(ember::detail::to_xshape(out_shape), padding_value);
  const ember::detail::DenseOf<T> rows(data);
  for (size_t r = 0; r < slots.size(); ++r)
    std::memcpy(out.data() + slots[r] * features, rows->data() + r * static_cast<size_t>(features),
                row_bytes);
  const auto data_shape = rows->shape();
  return make_output(std::move(out), "pad_packed_sequence", {data}, [=](const ArrayOf<T>& g) {
    ArrayOf<T> d = ArrayOf<T>::from_shape(data_shape);
    for (size_t r = 0; r < slots.size(); ++r)
      std::memcpy(d.data() + r * static_cast<size_t>(features), g.data() + slots[r] * features,
                  row_bytes);
    return gradients(std::move(d));
  });
}

}  // namespace

PackedSequence pack_padded_sequence(const Tensor& input, const IndexTensor& lengths,
                                    bool batch_first, bool enforce_sorted) {
  return pack_padded_sequence(input, lengths.to_vector(), batch_first, enforce_sorted);
}

PackedSequence pack_padded_sequence(const Tensor& input, const std::vector<int64_t>& lengths,
                                    bool batch_first, bool enforce_sorted) {
  EMBER_CHECK_SHAPE(input.dim() >= 2, "pack_padded_sequence: expected input of at least 2 ",
                    "dims, got shape ", ember::detail::shape_str(input.shape()));
  // PyTorch's message; a batch of 0 has no longest sequence to start from.
  EMBER_CHECK_SHAPE(input.numel() > 0, "pack_padded_sequence: Cannot pack empty tensors (input ",
                    "shape ", ember::detail::shape_str(input.shape()), ")");
  const int64_t T = input.size(batch_first ? 1 : 0), B = input.size(batch_first ? 0 : 1);
  EMBER_CHECK_SHAPE(static_cast<int64_t>(lengths.size()) == B, "pack_padded_sequence: expected ", B,
                    " lengths (the batch size), got ", lengths.size());
  for (size_t b = 0; b < lengths.size(); ++b) {
    EMBER_CHECK_VALUE(lengths[b] > 0, "pack_padded_sequence: lengths must be positive, ",
                      "sequence ", b, " has length ", lengths[b]);
    EMBER_CHECK_VALUE(lengths[b] <= T, "pack_padded_sequence: length ", lengths[b], " of sequence ",
                      b, " is longer than the input's ", T, " steps");
  }
  std::vector<int64_t> order(static_cast<size_t>(B));
  std::iota(order.begin(), order.end(), 0);
  if (enforce_sorted) {
    for (size_t b = 1; b < lengths.size(); ++b)
      EMBER_CHECK_VALUE(lengths[b] <= lengths[b - 1], "pack_padded_sequence: lengths ",
                        list_str(lengths), " are not sorted in decreasing order (sequence ", b,
                        " has length ", lengths[b], " after ", lengths[b - 1],
                        "); sort the batch or pass enforce_sorted=false");
  } else {
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
      return lengths[static_cast<size_t>(a)] > lengths[static_cast<size_t>(b)];
    });
  }
  const int64_t longest = lengths[static_cast<size_t>(order[0])];
  std::vector<int64_t> batch_sizes(static_cast<size_t>(longest), 0);
  for (int64_t len : lengths)
    for (int64_t t = 0; t < len; ++t) ++batch_sizes[static_cast<size_t>(t)];

  Tensor x = batch_first ? input.transpose(0, 1) : input;  // [T, B, *]
  const Shape x_dims = x.shape();
  const Shape trailing(x_dims.begin() + 2, x_dims.end());
  int64_t features = 1;
  for (int64_t d : trailing) features *= d;
  const std::vector<int64_t> slots = packed_slots(batch_sizes, order, B);
  Tensor packed = ember::detail::by_dtype(x, "pack_padded_sequence", [&](auto real) {
    return packed_rows<decltype(real)>(x, slots, trailing, features);
  });
  PackedSequence out{packed, IndexTensor(batch_sizes), {}, {}};
  if (!enforce_sorted) {
    std::vector<int64_t> unsorted(static_cast<size_t>(B));
    for (int64_t i = 0; i < B; ++i)
      unsorted[static_cast<size_t>(order[static_cast<size_t>(i)])] = i;
    out.sorted_indices = IndexTensor(order);
    out.unsorted_indices = IndexTensor(unsorted);
  }
  return out;
}

std::tuple<Tensor, IndexTensor> pad_packed_sequence(const PackedSequence& sequence,
                                                    bool batch_first, double padding_value,
                                                    int64_t total_length) {
  const Tensor& data = sequence.data;
  EMBER_CHECK_SHAPE(sequence.batch_sizes.numel() > 0 && data.dim() >= 1,
                    "pad_packed_sequence: empty packed sequence");
  const std::vector<int64_t> batch_sizes =
      ember::nn::detail::checked_batch_sizes(sequence, "pad_packed_sequence");
  const int64_t T = static_cast<int64_t>(batch_sizes.size()), B = batch_sizes[0];
  EMBER_CHECK_VALUE(total_length < 0 || total_length >= T, "pad_packed_sequence: total_length ",
                    total_length, " is shorter than the longest sequence (", T, " steps)");
  const int64_t steps = std::max(T, total_length);
  std::vector<int64_t> order(static_cast<size_t>(B));
  std::iota(order.begin(), order.end(), 0);
  if (sequence.sorted_indices.numel() > 0) order = sequence.sorted_indices.to_vector();
  std::vector<int64_t> lengths(static_cast<size_t>(B), 0);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t i = 0; i < batch_sizes[static_cast<size_t>(t)]; ++i)
      ++lengths[static_cast<size_t>(order[static_cast<size_t>(i)])];

  const Shape data_dims = data.shape();
  const Shape trailing(data_dims.begin() + 1, data_dims.end());
  int64_t features = 1;
  for (int64_t d : trailing) features *= d;
  const std::vector<int64_t> slots = packed_slots(batch_sizes, order, B);
  Shape out_shape{steps, B};
  out_shape.insert(out_shape.end(), trailing.begin(), trailing.end());
  Tensor padded = ember::detail::by_dtype(data, "pad_packed_sequence", [&](auto real) {
    using T = decltype(real);
    return padded_rows<T>(data, slots, out_shape, features, static_cast<T>(padding_value));
  });
  if (batch_first) padded = padded.transpose(0, 1);
  return {padded, IndexTensor(lengths)};
}

}  // namespace ember::nn::utils::rnn
