// The fused recurrent kernels behind RNN/LSTM/GRU and their cells (private to modules/).
// One op runs one direction of one layer over all time steps: the input projection of every
// step is one GEMM, each step is one GEMM on the hidden state followed by one fused loop over
// the gates, and the backward (BPTT) is written beside the forward in rnn_kernel.cpp.
#pragma once

#include <vector>

#include "ember/tensor.hpp"

namespace ember::nn::detail {

enum class RnnMode { kTanh, kReLU, kLSTM, kGRU };

int64_t gate_count(RnnMode mode);  // 1, 4 (i,f,g,o) or 3 (r,z,n): PyTorch's row blocks

// x holds packed rows [N, I]: step t owns rows offset(t) .. offset(t) + batch_sizes[t], and
// batch_sizes never increase (a padded batch is T steps of B rows). Rows of the state past
// batch_sizes[t] are left as they are: a finished sequence keeps its state.
// h0, c0 [B, H] (c0 only for LSTM); biases may be undefined.
// batch_major: x holds a padded batch as [B, T] rows (batch_first without a transpose).
// Returns [N + B, H] (outputs, then h_n) or, for LSTM, [N + 2B, H] (outputs, h_n, c_n).
Tensor rnn_layer(RnnMode mode, const Tensor& x, const std::vector<int64_t>& batch_sizes,
                 const Tensor& h0, const Tensor& c0, const Tensor& w_ih, const Tensor& w_hh,
                 const Tensor& b_ih, const Tensor& b_hh, bool reverse, bool batch_major = false);

// Rows [start, start + length) of a 2-D tensor, differentiable (a copy until views land).
Tensor narrow_rows(const Tensor& t, int64_t start, int64_t length);

}  // namespace ember::nn::detail
