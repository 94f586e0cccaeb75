// float64 products, conv1d, pools and embeddings: each op on float64 copies of its inputs gives
// a float64 result and float64 gradients within float32's rounding of the float32 op's (the
// float64 gradchecks live beside the float32 tests: test_gradcheck_ops.cpp, test_conv.cpp,
// test_nn_module.cpp); operands of different dtypes throw naming the op and both dtypes; a
// float64 operand is never autocast.
#include <doctest/doctest.h>

#include <cmath>
#include <ember/ember.hpp>
#include <ember/gradcheck.hpp>
#include <functional>

#include "float64_checks.hpp"

using namespace ember;
namespace F = ember::nn::functional;
using Inputs = std::vector<Tensor>;

namespace {
using float64_checks::check_float32_rounding;

// f on float64 copies of `inputs` against f on the float32 inputs: the result, then every
// input's gradient for the same random output gradient.
void check_against_float32(const std::function<Tensor(const Inputs&)>& f, const Inputs& inputs) {
  Inputs wide;
  for (const Tensor& t : inputs)
    wide.push_back(t.detach().to(kFloat64).requires_grad_(t.requires_grad()));
  const Tensor y32 = f(inputs), y64 = f(wide);
  check_float32_rounding(y64, y32, "result");
  const Tensor g = randn(y32.shape());
  y32.backward(g);
  y64.backward(g.to(kFloat64));
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].requires_grad()) continue;
    INFO("input ", i);
    check_float32_rounding(wide[i].grad(), inputs[i].grad(), "gradient");
  }
}

Tensor rn(const Shape& s) { return randn(s, true); }

}  // namespace

TEST_CASE("float64 matmul, bmm and linear agree with float32") {
  manual_seed(11);
  auto mm = [](const Inputs& x) { return matmul(x[0], x[1]); };
  SUBCASE("2-D, folded batch, batched, broadcast batch, bmm") {
    check_against_float32(mm, {rn({3, 4}), rn({4, 5})});
    check_against_float32(mm, {rn({2, 3, 4}), rn({4, 5})});
    check_against_float32(mm, {rn({2, 3, 4}), rn({2, 4, 5})});
    check_against_float32(mm, {rn({2, 1, 3, 4}), rn({3, 4, 2})});
    check_against_float32([](const Inputs& x) { return bmm(x[0], x[1]); },
                          {rn({2, 3, 4}), rn({2, 4, 5})});
  }
  SUBCASE("linear with and without bias") {
    check_against_float32([](const Inputs& x) { return linear(x[0], x[1], x[2]); },
                          {rn({2, 3, 4}), rn({5, 4}), rn({5})});
    check_against_float32([](const Inputs& x) { return linear(x[0], x[1]); },
                          {rn({3, 4}), rn({5, 4})});
  }
}

// Views of float64 tensors that require grad (transpose, narrow, unsqueeze) as operands.
TEST_CASE("float64 products of 1-D, transposed and narrowed operands agree with float32") {
  manual_seed(16);
  auto mm = [](const Inputs& x) { return matmul(x[0], x[1]); };
  SUBCASE("1-D operands") {
    check_against_float32(mm, {rn({4}), rn({4, 3})});
    check_against_float32(mm, {rn({2, 3, 4}), rn({4})});
    check_against_float32(mm, {rn({4}), rn({4})});
  }
  SUBCASE("transposed and narrowed operands are read where they sit") {
    check_against_float32([](const Inputs& x) { return matmul(x[0].t(), x[1].t()); },
                          {rn({4, 3}), rn({5, 4})});
    check_against_float32(
        [](const Inputs& x) { return matmul(x[0].narrow(2, 1, 3), x[1].transpose(1, 2)); },
        {rn({2, 3, 5}), rn({2, 4, 3})});
    check_against_float32([](const Inputs& x) { return bmm(x[0].transpose(1, 2), x[1]); },
                          {rn({2, 4, 3}), rn({2, 4, 5})});
  }
  SUBCASE("linear with a transposed weight") {
    check_against_float32([](const Inputs& x) { return linear(x[0], x[1].t(), x[2]); },
                          {rn({3, 4}), rn({4, 5}), rn({5})});
  }
}

TEST_CASE("float64 conv1d and the pools agree with float32") {
  manual_seed(12);
  check_against_float32(
      [](const Inputs& x) {
        return F::conv1d(
            x[0], x[1],
            F::Conv1dFuncOptions().bias(x[2]).stride(2).padding(int64_t{1}).dilation(2).groups(2));
      },
      {rn({2, 4, 9}), rn({6, 2, 3}), rn({6})});
  check_against_float32(
      [](const Inputs& x) {
        return F::max_pool1d(x[0], F::MaxPool1dFuncOptions(2).dilation(2).ceil_mode(true));
      },
      {rn({2, 8})});
  check_against_float32(
      [](const Inputs& x) {
        return F::avg_pool1d(x[0], F::AvgPool1dFuncOptions(3).stride(2).padding(1));
      },
      {rn({2, 3, 7})});
  check_against_float32(
      [](const Inputs& x) {
        return F::avg_pool1d(
            x[0], F::AvgPool1dFuncOptions(3).padding(1).count_include_pad(false).ceil_mode(true));
      },
      {rn({1, 2, 8})});
  check_against_float32([](const Inputs& x) { return F::adaptive_max_pool1d(x[0], 3); },
                        {rn({2, 2, 7})});
  check_against_float32([](const Inputs& x) { return F::adaptive_avg_pool1d(x[0], 4); },
                        {rn({2, 2, 7})});
}

TEST_CASE("float64 conv1d of an unbatched input, pools of a strided input, a transposed table") {
  manual_seed(17);
  check_against_float32(
      [](const Inputs& x) { return F::conv1d(x[0], x[1], F::Conv1dFuncOptions().padding("same")); },
      {rn({3, 7}), rn({2, 3, 4})});
  auto transposed = [](const Tensor& x) { return x.transpose(1, 2); };  // read through strides
  check_against_float32(
      [&](const Inputs& x) {
        return F::max_pool1d(transposed(x[0]), F::MaxPool1dFuncOptions(3).stride(2).padding(1));
      },
      {rn({2, 7, 3})});
  check_against_float32(
      [&](const Inputs& x) {
        return F::avg_pool1d(transposed(x[0]), F::AvgPool1dFuncOptions(3).stride(2).padding(1));
      },
      {rn({2, 7, 3})});
  check_against_float32(
      [](const Inputs& x) {
        return F::embedding(IndexTensor{1, 3, 0}, x[0].t(), {});
      },
      {rn({4, 6})});
}

TEST_CASE("float64 embedding and embedding_bag agree with float32") {
  manual_seed(13);
  const IndexTensor ids({1, 3, 3, 0, 5, 1}, {2, 3});
  for (auto o : {F::EmbeddingFuncOptions(), F::EmbeddingFuncOptions().padding_idx(3),
                 F::EmbeddingFuncOptions().scale_grad_by_freq(true)}) {
    check_against_float32([&](const Inputs& x) { return F::embedding(ids, x[0], o); },
                          {rn({6, 4})});
  }
  using Mode = F::EmbeddingBagMode;
  for (Mode m : {Mode::Sum, Mode::Mean, Mode::Max}) {
    check_against_float32(
        [&](const Inputs& x) {
          return F::embedding_bag(ids, x[0], F::EmbeddingBagFuncOptions().mode(m).padding_idx(3));
        },
        {rn({6, 4})});
  }
  check_against_float32(
      [&](const Inputs& x) {
        return F::embedding_bag(IndexTensor{1, 3, 3, 0, 5}, x[0],
                                F::EmbeddingBagFuncOptions()
                                    .mode(Mode::Sum)
                                    .offsets(IndexTensor{0, 2, 2})
                                    .per_sample_weights(x[1])
                                    .scale_grad_by_freq(true));
      },
      {rn({6, 4}), rand({5}, true)});
}

TEST_CASE("float64 max_norm renormalises the looked-up rows in place, as float32's") {
  manual_seed(14);
  const Tensor table = randn({5, 3}) + 4.f;  // every row longer than max_norm
  Tensor w32 = table.clone(), w64 = table.to(kFloat64);
  const IndexTensor ids{0, 2, 2, 4};
  const auto o = F::EmbeddingFuncOptions().max_norm(1.5);
  const uint64_t version = w64.version();
  const Tensor y64 = F::embedding(ids, w64, o);
  check_float32_rounding(y64, F::embedding(ids, w32, o), "looked-up rows");
  check_float32_rounding(w64, w32, "table after renorm");
  CHECK(w64.version() > version);  // a saved copy of the table is stale
  double squares = 0;              // the first looked-up row now has norm max_norm (it had more)
  for (double v : detail::values_as_double(y64.select(0, 0))) squares += v * v;
  CHECK(std::sqrt(squares) == doctest::Approx(1.5));
}

TEST_CASE("products of different dtypes throw naming the op and both dtypes") {
  const Tensor a = randn({2, 3}), b64 = randn({3, 4}).to(kFloat64);
  CHECK_THROWS_WITH_AS(matmul(a, b64),
                       "matmul: expected both operands to have the same dtype, got float32 and "
                       "float64 (convert one with .to(dtype))",
                       DtypeError);
  CHECK_THROWS_WITH_AS(matmul(randn({2, 2, 3}).to(kFloat64), randn({2, 3, 4})),
                       doctest::Contains("matmul: expected both operands to have the same dtype, "
                                         "got float64 and float32"),
                       DtypeError);
  CHECK_THROWS_WITH_AS(bmm(randn({2, 2, 3}), randn({2, 3, 4}).to(kFloat64)),
                       doctest::Contains("bmm: expected both operands to have the same dtype, "
                                         "got float32 and float64"),
                       DtypeError);
  CHECK_THROWS_WITH_AS(linear(a, randn({4, 3}).to(kFloat64)),
                       doctest::Contains("linear: expected input and weight to have the same "
                                         "dtype, got float32 and float64"),
                       DtypeError);
  CHECK_THROWS_WITH_AS(linear(a, randn({4, 3}), randn({4}).to(kFloat64)),
                       doctest::Contains("linear: expected weight and bias to have the same "
                                         "dtype, got float32 and float64"),
                       DtypeError);
  CHECK_THROWS_WITH_AS(F::conv1d(randn({1, 2, 5}).to(kFloat64), randn({3, 2, 2})),
                       doctest::Contains("conv1d: expected input and weight to have the same "
                                         "dtype, got float64 and float32"),
                       DtypeError);
  CHECK_THROWS_WITH_AS(
      F::embedding_bag(IndexTensor{1, 2}, randn({3, 2}).to(kFloat64),
                       F::EmbeddingBagFuncOptions()
                           .mode(F::EmbeddingBagMode::Sum)
                           .offsets(IndexTensor{0})
                           .per_sample_weights(rand({2}))),
      doctest::Contains("embedding_bag: expected weight and per_sample_weights to have the same "
                        "dtype, got float64 and float32"),
      DtypeError);
  // bfloat16 and bool operands have no kernel outside autocast.
  CHECK_THROWS_WITH_AS(matmul(a.to(kBFloat16), randn({3, 4}).to(kBFloat16)),
                       doctest::Contains("matmul: got a bfloat16 tensor"), DtypeError);
  CHECK_THROWS_WITH_AS(F::max_pool1d(ones({1, 4}, kBool), F::MaxPool1dFuncOptions(2)),
                       doctest::Contains("max_pool1d: got a bool tensor"), DtypeError);
}

TEST_CASE("a float64 operand is never autocast: the same bits as without a Guard") {
  manual_seed(15);
  const Tensor x = randn({2, 3, 4}).to(kFloat64), w = randn({5, 4}).to(kFloat64),
               b = randn({5}).to(kFloat64), k = randn({5, 4, 2}).to(kFloat64);
  const Tensor plain_linear = linear(x, w, b), plain_matmul = matmul(x, w.t()),
               plain_bmm = matmul(x, x.transpose(1, 2)),
               plain_conv = F::conv1d(x.transpose(1, 2), k);
  autocast::Guard guard;
  const Tensor on_linear = linear(x, w, b), on_matmul = matmul(x, w.t()),
               on_bmm = matmul(x, x.transpose(1, 2)), on_conv = F::conv1d(x.transpose(1, 2), k);
  for (auto [on, plain] : {std::pair{on_linear, plain_linear}, std::pair{on_matmul, plain_matmul},
                           std::pair{on_bmm, plain_bmm}, std::pair{on_conv, plain_conv}}) {
    CHECK(on.dtype() == kFloat64);
    CHECK(detail::values_as_double(on) == detail::values_as_double(plain));
  }
  // Mixed with a float32 operand under autocast, float64 still forbids bfloat16: no promotion.
  CHECK_THROWS_AS(linear(x, w.to(kFloat32)), DtypeError);
}
