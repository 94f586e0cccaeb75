// Every core op fed a non-contiguous input (golden/noncontiguous.txt, made by
// make_golden_noncontiguous.py): the views, one Ember call per op, and the loop that checks the
// output and the leaf's gradient through the view's backward. test_golden_noncontiguous.cpp
// runs it on noncontiguous.txt in float32, test_golden_float64.cpp on
// float64_noncontiguous.txt in float64.
#pragma once

#include <functional>

#include "golden.hpp"

namespace golden::noncontiguous {
using namespace ember;
namespace F = ember::nn::functional;

using OpFn = std::function<Tensor(const Tensor& view, const Tensor& other)>;
using ViewFn = std::function<Tensor(const Tensor& leaf)>;

inline const std::map<std::string, ViewFn>& views() {
  static const std::map<std::string, ViewFn> table = {
      {"t", [](const Tensor& x) { return x.t(); }},
      {"narrow", [](const Tensor& x) { return x.narrow(1, 1, 4); }},
      {"expand",
       [](const Tensor& x) {
         return x.expand({3, 4});
       }},
  };
  return table;
}

inline const std::map<std::string, OpFn>& ops() {
  using T = const Tensor&;
  static const IndexTensor cols{3, 0, 3}, rows{2, 0};
  static const IndexTensor picks({0, 3, 1, 1, 2, 0}, {3, 2});
  static const std::map<std::string, OpFn> table = {
      {"add", [](T v, T o) { return v + o; }},
      {"sub_broadcast", [](T v, T o) { return v - o.select(0, 0); }},
      {"mul", [](T v, T o) { return v * o; }},
      {"div", [](T v, T o) { return o / v; }},
      {"neg", [](T v, T) { return -v; }},
      {"pow", [](T v, T) { return pow(v, 3.f); }},
      {"exp", [](T v, T) { return exp(v); }},
      {"log", [](T v, T) { return log(v); }},
      {"sqrt", [](T v, T) { return sqrt(v); }},
      {"abs", [](T v, T) { return abs(v); }},
      {"clamp", [](T v, T) { return clamp(v, -0.5f, 0.5f); }},
      {"sin", [](T v, T) { return sin(v); }},
      {"log1p", [](T v, T) { return log1p(v); }},
      {"relu", [](T v, T) { return relu(v); }},
      {"sigmoid", [](T v, T) { return sigmoid(v); }},
      {"tanh", [](T v, T) { return tanh(v); }},
      {"gelu", [](T v, T) { return gelu(v); }},
      {"silu", [](T v, T) { return silu(v); }},
      {"softplus", [](T v, T) { return softplus(v); }},
      {"maximum", [](T v, T o) { return maximum(v, o); }},
      {"softmax", [](T v, T) { return softmax(v, 1); }},
      {"log_softmax", [](T v, T) { return log_softmax(v, 0); }},
      {"matmul", [](T v, T o) { return matmul(v, o.t()); }},
      {"linear", [](T v, T o) { return linear(v, o); }},
      {"sum", [](T v, T) { return sum(v); }},
      {"sum_dim0", [](T v, T) { return sum(v, {0}); }},
      {"mean_dim1", [](T v, T) { return mean(v, {1}); }},
      {"max_dim1", [](T v, T) { return std::get<0>(max(v, 1)); }},
      {"amin", [](T v, T) { return amin(v, {0}); }},
      {"var", [](T v, T) { return var(v, {1}); }},
      {"logsumexp", [](T v, T) { return logsumexp(v, {1}); }},
      {"norm", [](T v, T) { return norm(v, 2.f, {0}); }},
      {"cumsum", [](T v, T) { return cumsum(v, 1); }},
      {"topk", [](T v, T) { return std::get<0>(topk(v, 2, 1)); }},
      {"triu", [](T v, T) { return triu(v); }},
      {"cat",
       [](T v, T o) {
         return cat({v, o}, 0);
       }},
      {"stack",
       [](T v, T o) {
         return stack({v, o}, 1);
       }},
      {"index_select", [](T v, T) { return index_select(v, 1, cols); }},
      {"gather", [](T v, T) { return gather(v, 1, picks); }},
      {"masked_fill", [](T v, T o) { return masked_fill(v, o > 0.f, -2.f); }},
      {"where", [](T v, T o) { return where(o > 0.f, v, o); }},
      {"index_add", [](T v, T o) { return index_add(v, 0, rows, o.narrow(0, 0, 2)); }},
      {"scatter_add", [](T v, T o) { return scatter_add(o, 1, picks, v.narrow(1, 0, 2)); }},
      {"reshape",
       [](T v, T) {
         return v.reshape({4, 3}) * 2.f;
       }},
      {"cross_entropy",
       [](T v, T) {
         return F::cross_entropy(v, IndexTensor{1, 0, 3});
       }},
      {"mse_loss", [](T v, T o) { return F::mse_loss(v, o); }},
      {"layer_norm",
       [](T v, T) {
         return F::layer_norm(v, {3, 4});
       }},
  };
  return table;
}

// Every case "<op>.<view>" of `file_name`, at `dtype`'s tolerance.
inline void check_file(const std::string& file_name, Dtype dtype) {
  auto check = [&](const std::string& name, const golden::Case& c) {
    const size_t dot = name.find('.');
    const std::string op = name.substr(0, dot), view = name.substr(dot + 1);
    REQUIRE_MESSAGE(ops().count(op), "no Ember op for golden case ", name);
    Tensor leaf = c.at("x0").tensor(true, dtype), other = c.at("x1").tensor(false, dtype);
    Tensor v = views().at(view)(leaf);
    CHECK_FALSE(v.is_contiguous());
    Tensor out = ops().at(op)(v, other);
    golden::check_close(out, c.at("out"), name + " output", dtype);
    out.backward(c.at("gout").tensor(false, dtype));
    golden::check_close(leaf.grad(), c.at("grad0"), name + " grad", dtype);
  };
  golden::for_each_case(file_name, ops().size() * views().size(), check);
}

}  // namespace golden::noncontiguous
