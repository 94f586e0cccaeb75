// Ops read views where they sit: data() is an adaptor over the storage, and the ops with a
// strided path allocate only their result when given a view (counted through the buffer
// cache's statistics, which see every request of 64 KiB and more: the tensors here are that
// large).
#include <doctest/doctest.h>

#include <cmath>
#include <ember/ember.hpp>
#include <utility>

using namespace ember;

namespace {

int64_t allocations() {
  const CacheStats s = cache_stats();
  return s.hits + s.misses;
}

// The storage allocations `op` makes: a packed copy of the input would be one more than the
// result.
template <class Op>
int64_t allocations_of(Op op) {
  const int64_t before = allocations();
  Tensor out = op();
  const int64_t made = allocations() - before;
  CHECK(out.defined());
  return made;
}

// A fresh narrowed and transposed view, as a model makes one: [C - 1, R] of an [R, C] storage.
Tensor narrowed_transposed(const Tensor& base) { return base.narrow(1, 1, base.size(1) - 1).t(); }

}  // namespace

TEST_CASE("data() reads a view through its strides and writes through them") {
  Tensor base = arange(0.f, 12.f).reshape({3, 4});
  Tensor v = base.narrow(1, 1, 2).t();  // [2, 3]: base[:, 1:3]ᵀ
  const auto values = std::as_const(v).data();
  CHECK(values.shape()[0] == 2);
  CHECK(values(0, 2) == 9.f);
  CHECK(values(1, 0) == 2.f);
  std::vector<float> seen(values.begin(), values.end());
  CHECK(seen == std::vector<float>{1, 5, 9, 2, 6, 10});
  v.data()(1, 1) = -1.f;
  CHECK(base.to_vector()[6] == -1.f);
}

TEST_CASE("a view's values read before an in-place write show the write: no stale copy") {
  // Round two cached a gathered copy per view: a reference to it dangled once the storage was
  // written and the copy remade (a use-after-free under ASan). The adaptor is the storage.
  Tensor x = zeros({4, 4});
  Tensor v = x.t();
  const auto r = std::as_const(v).data();
  x.add_(1.f);
  (void)std::as_const(v).data();
  for (float value : r) CHECK(value == 1.f);
}

TEST_CASE("ops on views allocate their result and nothing else") {
  manual_seed(3);
  Tensor base = randn({140, 131});  // its view: [130, 140], 71 KiB
  Tensor other = randn({130, 140});
  Tensor square = randn({140, 150});
  Tensor column = randn({130, 1});
  SUBCASE("unary ops") {
    CHECK(allocations_of([&] { return relu(narrowed_transposed(base)); }) == 1);
    CHECK(allocations_of([&] { return exp(narrowed_transposed(base)); }) == 1);
    CHECK(allocations_of([&] { return tanh(narrowed_transposed(base)); }) == 1);
    CHECK(allocations_of([&] { return narrowed_transposed(base) * 2.f; }) == 1);
  }
  SUBCASE("binary ops whose operands' layouts differ") {
    CHECK(allocations_of([&] { return narrowed_transposed(base) + other; }) == 1);
    CHECK(allocations_of([&] { return other * narrowed_transposed(base); }) == 1);
    CHECK(allocations_of([&] { return narrowed_transposed(base) - column; }) == 1);
  }
  SUBCASE("reductions: their results are too small to count, a packed input would not be") {
    CHECK(allocations_of([&] { return sum(narrowed_transposed(base)); }) == 0);
    CHECK(allocations_of([&] { return base.narrow(0, 1, 130).sum(); }) == 0);
    CHECK(allocations_of([&] { return sum(narrowed_transposed(base), {0}); }) == 0);
    CHECK(allocations_of([&] { return mean(narrowed_transposed(base), {1}); }) == 0);
  }
  SUBCASE("matmul reads transposed and narrowed operands as GEMM flags") {
    CHECK(allocations_of([&] { return matmul(narrowed_transposed(base), square); }) == 1);
    CHECK(allocations_of([&] { return matmul(other, narrowed_transposed(base).t()); }) == 1);
    Tensor weight = randn({150, 140});
    CHECK(allocations_of([&] { return linear(narrowed_transposed(base), weight); }) == 1);
  }
  SUBCASE("cat and index_select") {
    CHECK(allocations_of([&] { return cat({narrowed_transposed(base), other}, 1); }) == 1);
    CHECK(allocations_of([&] {
            return index_select(narrowed_transposed(base), 1, IndexTensor({3, 0, 3}));
          }) == 0);  // [130, 3]: too small to count, a packed input would not be
  }
  SUBCASE("softmax and log_softmax") {
    CHECK(allocations_of([&] { return softmax(narrowed_transposed(base), 1); }) == 1);
    CHECK(allocations_of([&] { return log_softmax(narrowed_transposed(base), 0); }) == 1);
  }
  SUBCASE("reductions along dims, scans and selections") {
    CHECK(allocations_of([&] { return amax(narrowed_transposed(base), {0}); }) == 0);
    CHECK(allocations_of([&] { return std::get<0>(max(narrowed_transposed(base), 1)); }) == 0);
    CHECK(allocations_of([&] { return to_float(argmin(narrowed_transposed(base), 0)); }) == 0);
    CHECK(allocations_of([&] { return var(narrowed_transposed(base), {0}); }) == 0);
    CHECK(allocations_of([&] { return logsumexp(narrowed_transposed(base), {1}); }) == 0);
    CHECK(allocations_of([&] { return norm(narrowed_transposed(base), 2.f, {0}); }) == 0);
    CHECK(allocations_of([&] { return std::get<0>(topk(narrowed_transposed(base), 3, 0)); }) == 0);
    CHECK(allocations_of([&] { return cumsum(narrowed_transposed(base), 0); }) == 1);
  }
  SUBCASE("layer_norm, masked_mean and embedding read rows through the strides") {
    CHECK(allocations_of(
              [&] { return nn::functional::layer_norm(narrowed_transposed(base), {140}); }) == 1);
    CHECK(allocations_of([&] {
            return nn::functional::masked_mean(narrowed_transposed(base), ones({130}, kBool), 0);
          }) == 0);
    std::vector<int64_t> ids(120);
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int64_t>(i * 7 % 130);
    CHECK(allocations_of([&] {
            return nn::functional::embedding(IndexTensor(ids), narrowed_transposed(base));
          }) == 1);
  }
  SUBCASE("gather, scatter, masks") {
    std::vector<int64_t> columns(130 * 140);
    for (size_t i = 0; i < columns.size(); ++i) columns[i] = static_cast<int64_t>(i * 31 % 140);
    const IndexTensor index(columns, {130, 140});
    std::vector<int64_t> permutation(140);
    for (size_t i = 0; i < permutation.size(); ++i)
      permutation[i] = static_cast<int64_t>((i * 3) % 140);
    Tensor mask = other > 0.f;
    CHECK(allocations_of([&] { return gather(narrowed_transposed(base), 1, index); }) == 1);
    CHECK(allocations_of([&] { return scatter_add(other, 1, index, narrowed_transposed(base)); }) ==
          1);
    CHECK(allocations_of([&] {
            return index_add(other, 1, IndexTensor(permutation), narrowed_transposed(base));
          }) == 1);
    CHECK(allocations_of([&] { return where(mask, narrowed_transposed(base), other); }) == 1);
    CHECK(allocations_of([&] { return masked_fill(narrowed_transposed(base), mask, 0.f); }) == 1);
    CHECK(allocations_of([&] { return where(mask.t().t(), other, narrowed_transposed(base)); }) ==
          1);
  }
  SUBCASE("pow, softplus, maximum") {
    CHECK(allocations_of([&] { return pow(narrowed_transposed(base), 3.f); }) == 1);
    CHECK(allocations_of([&] { return softplus(narrowed_transposed(base)); }) == 1);
    CHECK(allocations_of([&] { return maximum(narrowed_transposed(base), other); }) == 1);
  }
  SUBCASE("batched matmul, linear and attention read views where they sit") {
    Tensor stack3 = randn({4, 130, 141});  // its transposed view: [4, 140, 130], 291 KiB
    auto batched_view = [&] { return stack3.narrow(2, 1, 140).transpose(1, 2); };
    Tensor right = randn({4, 130, 40}), weight = randn({40, 130});
    CHECK(allocations_of([&] { return bmm(batched_view(), right); }) == 1);
    CHECK(allocations_of([&] { return matmul(batched_view(), weight.t()); }) == 1);
    Tensor wide = randn({4, 140, 131});  // its narrowed rows: [4, 140, 130]
    CHECK(allocations_of([&] { return linear(wide.narrow(2, 1, 130), weight); }) == 1);
    Tensor projected = randn({2, 64, 4, 32});  // [B, T, H, D], its heads [B, H, T, D]
    Tensor signals = randn({4, 141, 130}), filters = randn({40, 140, 3});
    auto channels_view = [&] { return signals.narrow(1, 1, 140); };  // [4, 140, 130]: 291 KiB
    CHECK(allocations_of([&] { return nn::functional::max_pool1d(channels_view(), 1); }) == 1);
    CHECK(allocations_of([&] {
            return nn::functional::avg_pool1d(channels_view(),
                                              nn::functional::AvgPool1dFuncOptions(2));
          }) == 1);
    CHECK(allocations_of([&] {  // the result [4, 40, 128], and the columns kept for backward
            return nn::functional::conv1d(channels_view(), filters);
          }) == 2);
    CHECK(allocations_of([&] {
            Tensor q = projected.transpose(1, 2);
            return nn::functional::scaled_dot_product_attention(q, q, q, Tensor(), 0.0, true);
          }) == 2);  // the result and the softmax it keeps for backward
  }
  SUBCASE("with grad on, forward still copies nothing") {
    Tensor w = randn({140, 131}, true);
    CHECK(allocations_of([&] { return relu(narrowed_transposed(w)); }) == 1);
    CHECK(allocations_of([&] { return narrowed_transposed(w) * other; }) == 1);
    CHECK(allocations_of([&] { return matmul(narrowed_transposed(w), square); }) == 1);
  }
}

TEST_CASE("ops on views equal the same ops on contiguous copies, values and gradients") {
  manual_seed(4);
  Tensor base = randn({5, 7}, true);
  Tensor other = randn({6, 5}), square = randn({5, 6}), column = randn({6, 1});
  // Equal bits, except that a GEMM given a transpose flag instead of a packed copy may round
  // its sums in another order (`tolerance` > 0).
  auto same = [](const std::vector<float>& a, const std::vector<float>& b, double tolerance) {
    REQUIRE(a.size() == b.size());
    for (size_t i = 0; i < a.size(); ++i)
      if (tolerance == 0 ? a[i] != b[i] : std::abs(a[i] - b[i]) > tolerance * (1 + std::abs(b[i])))
        return false;
    return true;
  };
  auto check = [&](auto op, double tolerance = 0) {
    Tensor on_view = op(narrowed_transposed(base));
    Tensor copy = narrowed_transposed(base).contiguous();
    Tensor on_copy = op(copy);
    CHECK(same(on_view.to_vector(), on_copy.to_vector(), tolerance));
    sum(on_view * on_view).backward();
    const std::vector<float> through_view = base.grad().to_vector();
    base.clear_grad();
    sum(on_copy * on_copy).backward();
    CHECK(same(base.grad().to_vector(), through_view, tolerance));
    base.clear_grad();
  };
  check([](const Tensor& v) { return relu(v); });
  check([](const Tensor& v) { return exp(v); });
  check([](const Tensor& v) { return sigmoid(v); });
  check([&](const Tensor& v) { return v * other + v; });
  check([&](const Tensor& v) { return v - column; });
  check([&](const Tensor& v) { return column / (v * v + 1.f); });
  check([&](const Tensor& v) { return matmul(v, square); }, 1e-6);
  check([&](const Tensor& v) { return matmul(other.t(), v); }, 1e-6);
  check([&](const Tensor& v) { return linear(v, square.t(), column.reshape({6})); }, 1e-6);
  check([](const Tensor& v) { return softmax(v, 1); });
  check([](const Tensor& v) { return log_softmax(v, 0); });
  check([&](const Tensor& v) { return sum(v, {0}); });
  check([&](const Tensor& v) { return cat({other, v, v}, 0); });
  check([&](const Tensor& v) { return cat({v, other}, 1); });
  check([](const Tensor& v) { return index_select(v, 0, IndexTensor({5, 1, 1})); });
  check([](const Tensor& v) { return index_select(v, 1, IndexTensor({4, 0})); });
  check([&](const Tensor& v) { return mean(v, {1}, true); });
  check([](const Tensor& v) { return amax(v, {0}); });
  check([](const Tensor& v) { return amin(v, {0, 1}); });
  check([](const Tensor& v) { return std::get<0>(max(v, 0)); });
  check([](const Tensor& v) { return std::get<0>(min(v, 1, true)); });
  check([](const Tensor& v) { return to_float(argmax(v, 0)) + v.sum() * 0.f; });
  check([](const Tensor& v) { return to_float(argmin(v)) + v.sum() * 0.f; });
  check([](const Tensor& v) { return var(v, {0}); });
  check([](const Tensor& v) { return ember::std(v, {1}, false, true); });
  check([](const Tensor& v) { return logsumexp(v, {0}); });
  check([](const Tensor& v) { return norm(v, 3.f, {1}); });
  check([](const Tensor& v) { return cumsum(v, 0); });
  check([](const Tensor& v) { return cumsum(v, 1); });
  check([](const Tensor& v) { return std::get<0>(topk(v, 2, 0)); });
  check([](const Tensor& v) { return std::get<0>(topk(v, 3, 1, false)); });
  check([](const Tensor& v) { return nn::functional::layer_norm(v, {5}); });
  check([](const Tensor& v) { return nn::functional::layer_norm(v, {6, 5}); });
  check([](const Tensor& v) {
    return nn::functional::masked_mean(v, tensor({1, 0, 1, 1, 0, 1}, {6}, kBool), 0);
  });
  check([](const Tensor& v) { return nn::functional::embedding(IndexTensor({5, 0, 2, 2}), v); });
  check([](const Tensor& v) {
    return gather(v, 1, IndexTensor({4, 0, 1, 1, 3, 2, 0, 0, 2, 4, 1, 3}, {6, 2}));
  });
  check([](const Tensor& v) { return gather(v, 0, IndexTensor({5, 0, 3, 1, 2}, {1, 5})); });
  check([&](const Tensor& v) {
    return scatter_add(other, 1, IndexTensor({0, 4, 2, 1, 0, 3}, {6, 1}), v);
  });
  check([&](const Tensor& v) {
    return index_add(other, 1, IndexTensor({4, 1, 0, 3, 2}), v, 0.5f);
  });
  check([&](const Tensor& v) { return where(other > 0.f, v, other); });
  check([&](const Tensor& v) { return where(v > 0.f, other, v); });
  check([&](const Tensor& v) { return masked_fill(v, other.t().t() > 0.f, 2.f); });
  check([](const Tensor& v) { return stack({v, v * 2.f}, 1); });
}

TEST_CASE("3-D views: batched matmul, linear and attention equal them on contiguous copies") {
  manual_seed(5);
  Tensor x = randn({2, 5, 3, 4}, true);  // [B, T, H, D]
  Tensor other = randn({2, 3, 4, 5}), weight = randn({6, 4}), bias = randn({6});
  auto check = [&](auto op) {
    auto heads = [&](const Tensor& t) { return t.transpose(1, 2); };  // [B, H, T, D] views
    Tensor on_view = op(heads(x));
    Tensor on_copy = op(heads(x).contiguous());
    const std::vector<float> a = on_view.to_vector(), b = on_copy.to_vector();
    REQUIRE(a.size() == b.size());
    for (size_t i = 0; i < a.size(); ++i) CHECK(a[i] == doctest::Approx(b[i]).epsilon(1e-5));
    sum(on_view * on_view).backward();
    const std::vector<float> through_view = x.grad().to_vector();
    x.clear_grad();
    sum(on_copy * on_copy).backward();
    const std::vector<float> through_copy = x.grad().to_vector();
    x.clear_grad();
    for (size_t i = 0; i < through_view.size(); ++i)
      CHECK(through_view[i] == doctest::Approx(through_copy[i]).epsilon(1e-5));
  };
  check([&](const Tensor& v) { return matmul(v, other); });
  check([&](const Tensor& v) { return matmul(other.transpose(2, 3), v.transpose(2, 3)); });
  check([&](const Tensor& v) { return matmul(v, weight.t()); });
  check([&](const Tensor& v) { return bmm(v.reshape({6, 5, 4}), other.reshape({6, 4, 5})); });
  check([&](const Tensor& v) { return linear(v, weight, bias); });
  check([&](const Tensor& v) { return linear(v.transpose(1, 2), weight); });
  check([&](const Tensor& v) {
    return nn::functional::scaled_dot_product_attention(v, v * 0.5f, v, Tensor(), 0.0, true);
  });
  check([&](const Tensor& v) {
    return nn::functional::scaled_dot_product_attention(v, v, v.narrow(3, 1, 2));
  });
  Tensor filters = randn({3, 5, 2});  // conv1d and pooling over [N, C, L] = [2, 5, 4] views
  check([&](const Tensor& v) {
    return nn::functional::conv1d(
        v.select(1, 0), filters,
        nn::functional::Conv1dFuncOptions().padding(int64_t{1}).bias(bias.narrow(0, 1, 3)));
  });
  check([&](const Tensor& v) {
    return nn::functional::max_pool1d(v.select(1, 2), nn::functional::MaxPool1dFuncOptions(2));
  });
  check([&](const Tensor& v) {
    return nn::functional::avg_pool1d(v.select(1, 1),
                                      nn::functional::AvgPool1dFuncOptions(3).stride(1));
  });
  check([&](const Tensor& v) { return nn::functional::adaptive_max_pool1d(v.select(1, 1), 3); });
  check([&](const Tensor& v) { return nn::functional::adaptive_avg_pool1d(v.select(1, 0), 3); });
  check([&](const Tensor& v) {
    return nn::functional::scaled_dot_product_attention(v.select(0, 1), v.select(0, 0),
                                                        v.select(0, 1));
  });
}

TEST_CASE("views as layer_norm's weight and bias, and as an LSTM's h0 and c0") {
  manual_seed(6);
  Tensor x = randn({3, 5}, true);
  Tensor table = randn({2, 12}, true);  // weight and bias strided views of one parameter
  auto weight = [&] { return table.select(0, 0).slice(0, 0, 10, 2); };  // stride 2
  auto bias = [&] { return table.select(0, 1).narrow(0, 3, 5); };
  Tensor on_views = nn::functional::layer_norm(x, {5}, weight(), bias());
  Tensor on_copies = nn::functional::layer_norm(x, {5}, weight().contiguous(), bias().contiguous());
  CHECK(on_views.to_vector() == on_copies.to_vector());
  sum(on_views * on_views).backward();
  const std::vector<float> through_views = table.grad().to_vector();
  table.clear_grad();
  sum(on_copies * on_copies).backward();
  CHECK(table.grad().to_vector() == through_views);

  nn::LSTM lstm(nn::LSTMOptions(4, 3));
  Tensor input = randn({2, 1, 4});
  Tensor states = randn({3, 2}, true);  // h0 and c0 as transposed views: [1, 1, 3] each
  auto h0 = [&] { return states.select(1, 0).reshape({1, 1, 3}); };
  auto c0 = [&] { return states.select(1, 1).reshape({1, 1, 3}); };
  auto [out_views, hc_views] = lstm.forward(input, std::make_tuple(h0(), c0()));
  auto [out_copies, hc_copies] =
      lstm.forward(input, std::make_tuple(h0().contiguous(), c0().contiguous()));
  CHECK(out_views.to_vector() == out_copies.to_vector());
  sum(out_views).backward();
  const std::vector<float> state_grads = states.grad().to_vector();
  states.clear_grad();
  sum(out_copies).backward();
  CHECK(states.grad().to_vector() == state_grads);
}
