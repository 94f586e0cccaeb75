// The core ops of golden/ops.txt (make_golden.py's OPS): one Ember call per PyTorch case, and
// the loop that checks a file of them. test_golden_ops.cpp runs it on ops.txt in float32,
// test_golden_float64.cpp on float64_ops.txt in float64.
#pragma once

#include <functional>

#include "golden.hpp"

namespace golden::core {
using namespace ember;
namespace F = ember::nn::functional;
using Fn = std::function<Tensor(const std::vector<Tensor>&, const std::vector<IndexTensor>&)>;
using X = std::vector<Tensor>;
using I = std::vector<IndexTensor>;

inline const std::map<std::string, Fn>& ops() {
  static const std::map<std::string, Fn> table = {
      {"add", [](const X& x, const I&) { return x[0] + x[1]; }},
      {"sub", [](const X& x, const I&) { return x[0] - x[1]; }},
      {"mul", [](const X& x, const I&) { return x[0] * x[1]; }},
      {"div", [](const X& x, const I&) { return x[0] / x[1]; }},
      {"add_scalar", [](const X& x, const I&) { return x[0] + 2.5f; }},
      {"mul_scalar", [](const X& x, const I&) { return x[0] * -1.5f; }},
      {"rsub_scalar", [](const X& x, const I&) { return 2.f - x[0]; }},
      {"rdiv_scalar", [](const X& x, const I&) { return 2.f / x[0]; }},
      {"neg", [](const X& x, const I&) { return -x[0]; }},
      {"pow", [](const X& x, const I&) { return pow(x[0], 3.f); }},
      {"exp", [](const X& x, const I&) { return exp(x[0]); }},
      {"log", [](const X& x, const I&) { return log(x[0]); }},
      {"sqrt", [](const X& x, const I&) { return sqrt(x[0]); }},
      {"abs", [](const X& x, const I&) { return abs(x[0]); }},
      {"clamp", [](const X& x, const I&) { return clamp(x[0], -0.5f, 0.5f); }},
      {"relu", [](const X& x, const I&) { return relu(x[0]); }},
      {"leaky_relu", [](const X& x, const I&) { return leaky_relu(x[0], 0.1); }},
      {"sigmoid", [](const X& x, const I&) { return sigmoid(x[0]); }},
      {"tanh", [](const X& x, const I&) { return tanh(x[0]); }},
      {"gelu", [](const X& x, const I&) { return gelu(x[0]); }},
      {"gelu_tanh", [](const X& x, const I&) { return gelu(x[0], "tanh"); }},
      {"softmax_dim1", [](const X& x, const I&) { return softmax(x[0], 1); }},
      {"softmax_dim0", [](const X& x, const I&) { return softmax(x[0], 0); }},
      {"log_softmax_dim2", [](const X& x, const I&) { return log_softmax(x[0], 2); }},
      {"log_softmax_dim1", [](const X& x, const I&) { return log_softmax(x[0], 1); }},
      {"matmul_2d", [](const X& x, const I&) { return matmul(x[0], x[1]); }},
      {"matmul_3d_2d", [](const X& x, const I&) { return matmul(x[0], x[1]); }},
      {"matmul_3d_3d", [](const X& x, const I&) { return matmul(x[0], x[1]); }},
      {"linear", [](const X& x, const I&) { return linear(x[0], x[1], x[2]); }},
      {"sum_all", [](const X& x, const I&) { return sum(x[0]); }},
      {"sum_dims_0_2",
       [](const X& x, const I&) {
         return sum(x[0], {0, 2});
       }},
      {"sum_keepdim", [](const X& x, const I&) { return sum(x[0], {-1}, true); }},
      {"mean_all", [](const X& x, const I&) { return mean(x[0]); }},
      {"mean_dim1", [](const X& x, const I&) { return mean(x[0], {1}); }},
      {"max_all", [](const X& x, const I&) { return max(x[0]); }},
      {"max_dim1", [](const X& x, const I&) { return std::get<0>(max(x[0], 1)); }},
      {"transpose", [](const X& x, const I&) { return x[0].transpose(0, 2); }},
      {"permute",
       [](const X& x, const I&) {
         return x[0].permute({1, 2, 0});
       }},
      {"reshape",
       [](const X& x, const I&) {
         return x[0].reshape({4, -1});
       }},
      {"cat_dim1",
       [](const X& x, const I&) {
         return cat({x[0], x[1]}, 1);
       }},
      {"stack_dim1",
       [](const X& x, const I&) {
         return stack({x[0], x[1]}, 1);
       }},
      {"index_select", [](const X& x, const I& i) { return index_select(x[0], 0, i[0]); }},
      {"gather", [](const X& x, const I& i) { return gather(x[0], 1, i[0]); }},
      {"where", [](const X& x, const I& i) { return where(i[0] != 0, x[0], x[1]); }},
      {"masked_fill", [](const X& x, const I& i) { return masked_fill(x[0], i[0] != 0, -2.f); }},
      {"cross_entropy", [](const X& x, const I& i) { return F::cross_entropy(x[0], i[0]); }},
      {"cross_entropy_smooth_ignore",
       [](const X& x, const I& i) {
         return F::cross_entropy(x[0], i[0],
                                 F::CrossEntropyOptions().ignore_index(2).label_smoothing(0.1));
       }},
      {"cross_entropy_sum",
       [](const X& x, const I& i) {
         return F::cross_entropy(x[0], i[0], F::CrossEntropyOptions().reduction(F::Reduction::Sum));
       }},
      {"cross_entropy_none",
       [](const X& x, const I& i) {
         return F::cross_entropy(x[0], i[0],
                                 F::CrossEntropyOptions().reduction(F::Reduction::None));
       }},
      {"nll_loss", [](const X& x, const I& i) { return F::nll_loss(x[0], i[0]); }},
      {"mse_loss", [](const X& x, const I&) { return F::mse_loss(x[0], x[1]); }},
      {"bce_with_logits",
       [](const X& x, const I&) { return F::binary_cross_entropy_with_logits(x[0], x[1]); }},
  };
  return table;
}

// Every case of `file_name`: the output and each input's gradient, at `dtype`'s tolerance.
inline void check_file(const std::string& file_name, Dtype dtype) {
  auto check = [&](const std::string& name, const golden::Case& c) {
    REQUIRE_MESSAGE(ops().count(name), "no Ember op for golden case ", name);
    X x = golden::float_inputs(c, dtype);
    Tensor out = ops().at(name)(x, golden::index_inputs(c));
    golden::check_close(out, c.at("out"), name + " output", dtype);
    golden::check_input_grads(out, x, c, name, dtype);
  };
  golden::for_each_case(file_name, ops().size(), check);
}

}  // namespace golden::core
