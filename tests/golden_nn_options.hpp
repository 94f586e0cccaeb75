// The options of nn.txt's Embedding and EmbeddingBag cases (make_golden_nn.py's EMBEDDING and
// BAGS), by case name: test_golden_nn.cpp builds the layers with them, test_golden_float64.cpp
// the functional calls.
#pragma once

#include "golden.hpp"

namespace golden::nn_cases {
using namespace ember;
namespace F = ember::nn::functional;

inline nn::EmbeddingOptions embedding_options(const std::string& name, const Tensor& table) {
  nn::EmbeddingOptions o(table.size(0), table.size(1));
  o._weight(table);
  if (name == "padding_idx") o.padding_idx(1);
  if (name == "padding_idx_negative") o.padding_idx(-2);
  if (name == "max_norm_l2") o.max_norm(1.0);
  if (name == "max_norm_l1") o.max_norm(1.5).norm_type(1.0);
  if (name == "scale_grad_by_freq") o.scale_grad_by_freq(true);
  if (name == "sparse") o.sparse(true);
  if (name == "sparse_padding_freq") o.sparse(true).padding_idx(3).scale_grad_by_freq(true);
  if (name == "max_norm_padding_freq") o.max_norm(1.2).padding_idx(1).scale_grad_by_freq(true);
  return o;
}

inline nn::EmbeddingBagOptions bag_options(const std::string& name, const Tensor& table) {
  using Mode = F::EmbeddingBagMode;
  nn::EmbeddingBagOptions o(table.size(0), table.size(1));
  o._weight(table);
  if (name.rfind("sum", 0) == 0) o.mode(Mode::Sum);
  if (name.rfind("mean", 0) == 0) o.mode(Mode::Mean);
  if (name.rfind("max", 0) == 0) o.mode(Mode::Max);
  if (name == "sum_last_offset") o.include_last_offset(true);
  if (name == "mean_padding") o.padding_idx(3);
  if (name == "max_padding_sparse") o.padding_idx(3).sparse(true);
  if (name == "sum_freq_sparse") o.scale_grad_by_freq(true).sparse(true);
  return o;
}

}  // namespace golden::nn_cases
