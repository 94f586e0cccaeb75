// The fused recurrent kernel behind functional::rnn and the cells (private to src/ops/).
// One op runs one direction of one layer over all time steps: the input projection of every
// step is one GEMM, each step is one GEMM on the hidden state followed by one fused loop over
// the gates, and the backward (BPTT) is written beside the forward in rnn.cpp.
#pragma once

#include <vector>

#include "ember/nn/rnn.hpp"
#include "ember/tensor.hpp"

namespace ember::nn::detail {

using functional::RnnMode;

inline int64_t gate_count(RnnMode mode) { return functional::rnn_gate_count(mode); }

// x holds packed rows [N, I]: step t owns rows offset(t) .. offset(t) + batch_sizes[t], and
// batch_sizes never increase (a padded batch is T steps of B rows). Rows of the state past
// batch_sizes[t] are left as they are: a finished sequence keeps its state.
// h0, c0 [B, H] (c0 only for LSTM); biases may be undefined.
// batch_major: x holds a padded batch as [B, T] rows (batch_first without a transpose).
// Returns [N + B, H] (outputs, then h_n) or, for LSTM, [N + 2B, H] (outputs, h_n, c_n).
// The caller has checked that batch_sizes fit x and h0 (checked_batch_sizes) and that every
// tensor has x's dtype, float32 or float64 (the op computes in it).
Tensor rnn_layer(RnnMode mode, const Tensor& x, const std::vector<int64_t>& batch_sizes,
                 const Tensor& h0, const Tensor& c0, const Tensor& w_ih, const Tensor& w_hh,
                 const Tensor& b_ih, const Tensor& b_hh, bool reverse, bool batch_major = false);

// A PackedSequence's batch_sizes (non-empty: the caller checks, with its own message) after
// checking what every reader indexes with: each size positive and at most the one before,
// summing to data's rows, and sorted_indices / unsorted_indices either both empty or
// inverse permutations of 0 .. batch_sizes[0] - 1. Throws naming `op`.
std::vector<int64_t> checked_batch_sizes(const utils::rnn::PackedSequence& sequence,
                                         const char* op);

}  // namespace ember::nn::detail
