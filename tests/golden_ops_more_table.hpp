// The ops of "Core 2" in golden/ops_more.txt (make_golden_ops_more.py): one Ember call per
// PyTorch case, and the loop that checks values, returned indices and input gradients.
// test_golden_ops_more.cpp runs it on ops_more.txt in float32, test_golden_float64.cpp on
// float64_ops_more.txt in float64.
#pragma once

#include <functional>

#include "golden.hpp"

namespace golden::core_more {
using namespace ember;
using X = std::vector<Tensor>;
using I = std::vector<IndexTensor>;

// What an op gives back: values, indices, or both.
struct Result {
  Tensor out;
  IndexTensor idx;
  bool has_idx = false;
  Result(Tensor t) : out(std::move(t)) {}                      // NOLINT: implicit on purpose
  Result(IndexTensor i) : idx(std::move(i)), has_idx(true) {}  // NOLINT
  Result(std::tuple<Tensor, IndexTensor> both)                 // NOLINT
      : out(std::get<0>(both)), idx(std::get<1>(both)), has_idx(true) {}
};
using Fn = std::function<Result(const X&, const I&)>;
inline constexpr float kInf = INFINITY;

inline const std::map<std::string, Fn>& ops() {
  static const std::map<std::string, Fn> table = {
      {"min_all", [](const X& x, const I&) { return min(x[0]); }},
      {"max_all_ties", [](const X& x, const I&) { return max(x[0]); }},
      {"max_dim1_indices", [](const X& x, const I&) { return max(x[0], 1); }},
      {"min_dim0_keepdim", [](const X& x, const I&) { return min(x[0], 0, true); }},
      {"argmin_dim2", [](const X& x, const I&) { return argmin(x[0], 2); }},
      {"argmax_flat", [](const X& x, const I&) { return argmax(x[0]); }},
      {"amax_dims",
       [](const X& x, const I&) {
         return amax(x[0], {0, 2});
       }},
      {"amin_keepdim", [](const X& x, const I&) { return amin(x[0], {-1}, true); }},
      {"var_all", [](const X& x, const I&) { return var(x[0]); }},
      {"var_dims_biased",
       [](const X& x, const I&) {
         return var(x[0], {0, 2}, false);
       }},
      {"var_dim_keepdim", [](const X& x, const I&) { return var(x[0], {1}, true, true); }},
      {"std_all", [](const X& x, const I&) { return ember::std(x[0]); }},
      {"std_dim0_biased", [](const X& x, const I&) { return ember::std(x[0], {0}, false); }},
      {"logsumexp_dim1", [](const X& x, const I&) { return logsumexp(x[0], {1}); }},
      {"logsumexp_dims_keepdim",
       [](const X& x, const I&) {
         return logsumexp(x[0], {0, 2}, true);
       }},
      {"norm_2", [](const X& x, const I&) { return norm(x[0]); }},
      {"norm_1_dim", [](const X& x, const I&) { return norm(x[0], 1.f, {1}); }},
      {"norm_3_dims",
       [](const X& x, const I&) {
         return norm(x[0], 3.f, {0, 2});
       }},
      {"norm_half_keepdim", [](const X& x, const I&) { return norm(x[0], 0.5f, {0}, true); }},
      {"norm_inf_dim", [](const X& x, const I&) { return norm(x[0], kInf, {-1}); }},
      {"cumsum_dim0", [](const X& x, const I&) { return cumsum(x[0], 0); }},
      {"cumsum_dim_last", [](const X& x, const I&) { return cumsum(x[0], -1); }},
      {"topk_largest", [](const X& x, const I&) { return topk(x[0], 2); }},
      {"topk_smallest_dim0", [](const X& x, const I&) { return topk(x[0], 2, 0, false); }},
      {"maximum", [](const X& x, const I&) { return maximum(x[0], x[1]); }},
      {"minimum", [](const X& x, const I&) { return minimum(x[0], x[1]); }},
      {"sin", [](const X& x, const I&) { return sin(x[0]); }},
      {"cos", [](const X& x, const I&) { return cos(x[0]); }},
      {"log1p", [](const X& x, const I&) { return log1p(x[0]); }},
      {"silu", [](const X& x, const I&) { return silu(x[0]); }},
      {"softplus", [](const X& x, const I&) { return softplus(x[0]); }},
      {"softplus_beta", [](const X& x, const I&) { return softplus(x[0], 2.f, 3.f); }},
      {"triu", [](const X& x, const I&) { return triu(x[0]); }},
      {"tril_diag_neg", [](const X& x, const I&) { return tril(x[0], -1); }},
      {"triu_diag_pos", [](const X& x, const I&) { return triu(x[0], 2); }},
      {"eq", [](const X& x, const I&) { return eq(x[0], x[1]); }},
      {"ne", [](const X& x, const I&) { return x[0] != x[1]; }},
      {"lt", [](const X& x, const I&) { return x[0] < x[1]; }},
      {"le", [](const X& x, const I&) { return le(x[0], x[1]); }},
      {"gt", [](const X& x, const I&) { return x[0] > x[1]; }},
      {"ge", [](const X& x, const I&) { return x[0] >= x[1]; }},
      {"eq_scalar", [](const X& x, const I&) { return x[0] == 1.f; }},
      {"ne_scalar", [](const X& x, const I&) { return ne(x[0], 1.f); }},
      {"lt_scalar", [](const X& x, const I&) { return lt(x[0], 0.5f); }},
      {"le_scalar", [](const X& x, const I&) { return x[0] <= 0.f; }},
      {"gt_scalar", [](const X& x, const I&) { return gt(x[0], -1.f); }},
      {"ge_scalar", [](const X& x, const I&) { return ge(x[0], 1.f); }},
      {"one_hot", [](const X&, const I& i) { return one_hot(i[0], 5); }},
      {"one_hot_infer", [](const X&, const I& i) { return one_hot(i[0]); }},
      {"index_add_dim1",
       [](const X& x, const I& i) { return index_add(x[0], 1, i[0], x[1], 0.5f); }},
      {"scatter_add_dim0", [](const X& x, const I& i) { return scatter_add(x[0], 0, i[0], x[1]); }},
      {"scatter_add_dim1", [](const X& x, const I& i) { return scatter_add(x[0], 1, i[0], x[1]); }},
      {"zero_d_sum", [](const X& x, const I&) { return sum(x[0], {0}); }},
      {"zero_d_sum_keepdim", [](const X& x, const I&) { return sum(x[0], {-1}, true); }},
      {"zero_d_mean", [](const X& x, const I&) { return mean(x[0], {0}); }},
      {"zero_d_max", [](const X& x, const I&) { return max(x[0], 0); }},
      {"zero_d_min", [](const X& x, const I&) { return min(x[0], -1); }},
      {"zero_d_argmax", [](const X& x, const I&) { return argmax(x[0], 0); }},
      {"zero_d_amax", [](const X& x, const I&) { return amax(x[0], {0}); }},
      {"zero_d_var_biased", [](const X& x, const I&) { return var(x[0], {0}, false); }},
      {"zero_d_logsumexp", [](const X& x, const I&) { return logsumexp(x[0], {0}); }},
      {"zero_d_norm", [](const X& x, const I&) { return norm(x[0], 2.f, {0}); }},
      {"zero_d_cumsum", [](const X& x, const I&) { return cumsum(x[0], 0); }},
      {"zero_d_topk", [](const X& x, const I&) { return topk(x[0], 1, 0); }},
      {"zero_d_softmax", [](const X& x, const I&) { return softmax(x[0], 0); }},
      {"zero_d_log_softmax", [](const X& x, const I&) { return log_softmax(x[0], -1); }},
      {"zero_d_index_select", [](const X& x, const I& i) { return index_select(x[0], 0, i[0]); }},
      {"zero_d_gather", [](const X& x, const I& i) { return gather(x[0], 0, i[0]); }},
      {"zero_d_index_add", [](const X& x, const I& i) { return index_add(x[0], 0, i[0], x[1]); }},
      {"zero_d_scatter_add",
       [](const X& x, const I& i) { return scatter_add(x[0], 0, i[0], x[1]); }},
      {"zero_d_stack", [](const X& x, const I&) { return stack({x[0], x[1]}, 0); }},
      {"zero_d_unsqueeze", [](const X& x, const I&) { return x[0].unsqueeze(0) * 2.f; }},
      {"zero_d_squeeze", [](const X& x, const I&) { return x[0].squeeze(0) * 2.f; }},
      {"zero_d_flatten", [](const X& x, const I&) { return x[0].flatten() * 2.f; }},
  };
  return table;
}

// Every case of `file_name`, the float outputs and gradients at `dtype`'s tolerance.
inline void check_file(const std::string& file_name, Dtype dtype) {
  auto check = [&](const std::string& name, const golden::Case& c) {
    REQUIRE_MESSAGE(ops().count(name), "no Ember op for golden case ", name);
    X x = golden::float_inputs(c, dtype);
    Result r = ops().at(name)(x, golden::index_inputs(c));
    // A comparison's bool result is 0/1 in either file: checked as it is in float32.
    if (c.count("out") && c.count("gout"))
      golden::check_close(r.out, c.at("out"), name + " output", dtype);
    else if (c.count("out"))
      golden::check_close(r.out, c.at("out"), name + " output");
    if (c.count("idxout")) {
      const golden::Value& want = c.at("idxout");
      if (r.has_idx) {
        CHECK(detail::shape_str(r.idx.shape()) == detail::shape_str(want.shape));
        CHECK(r.idx.to_vector() == std::vector<int64_t>(want.values.begin(), want.values.end()));
      } else {  // one_hot: PyTorch's int64 result, Ember's float one
        golden::check_close(r.out, want, name + " output");
      }
    }
    if (!c.count("gout")) {
      if (r.out.defined()) CHECK_FALSE(r.out.requires_grad());  // masks are not differentiated
      return;
    }
    r.out.backward(c.at("gout").tensor(false, dtype));
    for (size_t k = 0; k < x.size(); ++k)
      golden::check_close(x[k].grad(), c.at("grad" + std::to_string(k)),
                          name + " grad" + std::to_string(k), dtype);
  };
  golden::for_each_case(file_name, ops().size(), check);
}

}  // namespace golden::core_more
