// Embedding and EmbeddingBag behaviour beyond the golden values: the pad row, determinism
// across thread counts, row-sparse gradients, shapes and errors.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <ember/ember.hpp>

using namespace ember;
namespace F = ember::nn::functional;

namespace {
std::vector<float> row(const Tensor& t, int64_t r) {
  std::vector<float> all = t.to_vector();
  int64_t d = t.size(1);
  return std::vector<float>(all.begin() + r * d, all.begin() + (r + 1) * d);
}

IndexTensor random_ids(int64_t n, int64_t vocab) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  for (auto& x : v) x = static_cast<int64_t>(random_u64() % static_cast<uint64_t>(vocab));
  return IndexTensor(std::move(v));
}
}  // namespace

TEST_CASE("ids of any shape [*] give [*, D]") {
  nn::Embedding emb(10, 3);
  CHECK(emb(IndexTensor{1, 2}).shape() == Shape{2, 3});
  CHECK(emb(IndexTensor({1, 2, 3, 4, 5, 6}, {2, 3})).shape() == Shape{2, 3, 3});
  CHECK(emb(IndexTensor({1, 2, 3, 4, 5, 6, 7, 8}, {2, 2, 2})).shape() == Shape{2, 2, 2, 3});
  CHECK(emb(IndexTensor({4}, {})).shape() == Shape{3});
  CHECK(row(emb(IndexTensor{7}).reshape({1, 3}), 0) == row(emb.weight, 7));
}

TEST_CASE("the pad row starts at zero and its gradient is exactly zero") {
  for (int64_t padding_idx : {1, -1}) {
    CAPTURE(padding_idx);
    manual_seed(0);
    nn::Embedding emb(nn::EmbeddingOptions(6, 4).padding_idx(padding_idx));
    int64_t pad = padding_idx < 0 ? 6 + padding_idx : padding_idx;
    CHECK(row(emb.weight, pad) == std::vector<float>(4, 0.f));
    for (bool sparse : {false, true}) {
      nn::Embedding e(nn::EmbeddingOptions(6, 4)
                          .padding_idx(padding_idx)
                          .sparse(sparse)
                          .scale_grad_by_freq(true));
      IndexTensor ids({pad, 0, pad, 3, pad, 0}, {2, 3});
      sum(e(ids) * 3.f).backward();
      CHECK(row(e.weight.grad(), pad) == std::vector<float>(4, 0.f));
      CHECK(row(e.weight.grad(), 3) == std::vector<float>(4, 3.f));
      CHECK(row(e.weight.grad(), 0) == std::vector<float>(4, 3.f));  // 2 uses / frequency 2
    }
  }
}

TEST_CASE("embedding backward is bit-identical with 1 and 2 threads on 100k ids") {
  manual_seed(11);
  nn::Embedding emb(nn::EmbeddingOptions(5000, 64).padding_idx(0));
  IndexTensor ids = random_ids(100000, 5000);
  Tensor gout = randn({100000, 64});
  auto grad_with = [&](int threads) {
    set_num_threads(threads);
    emb.zero_grad();
    emb(ids).backward(gout);
    return emb.weight.grad().to_vector();
  };
  int saved = get_num_threads();
  std::vector<float> one = grad_with(1), two = grad_with(2);
  set_num_threads(saved);
  CHECK(one.size() == two.size());
  CHECK(std::memcmp(one.data(), two.data(), one.size() * sizeof(float)) == 0);
  bool any_nonzero = false;
  for (float v : one) any_nonzero = any_nonzero || v != 0.f;
  CHECK(any_nonzero);
}

TEST_CASE("sparse gradients hold the touched rows, summed, and accumulate") {
  nn::Embedding emb(nn::EmbeddingOptions(8, 2).sparse(true));
  IndexTensor ids{5, 2, 5};
  sum(emb(ids)).backward();
  REQUIRE(emb.weight.has_sparse_grad());
  RowSparseGrad& g = emb.weight.sparse_grad();
  CHECK(g.rows == std::vector<int64_t>{2, 5});
  CHECK(g.values.shape()[0] == 2);
  CHECK(std::vector<float>(g.values.begin(), g.values.end()) == std::vector<float>{1, 1, 2, 2});
  sum(emb(IndexTensor{2})).backward();  // a second backward adds rows
  RowSparseGrad acc = emb.weight.sparse_grad();
  acc.coalesce();
  CHECK(acc.rows == std::vector<int64_t>{2, 5});
  CHECK(row(emb.weight.grad(), 2) == std::vector<float>{2, 2});
  CHECK(row(emb.weight.grad(), 0) == std::vector<float>{0, 0});
}

// A batch that touches few rows of a large table sends the dense gradient as its rows
// (Gradient::dense_from_rows): added into a tied weight's .grad by rows, dense everywhere else,
// with the bits of the whole-table gradient.
TEST_CASE("a dense table gradient sent by its rows: dense .grad, tied weights, hooks, sums") {
  manual_seed(5);
  const int64_t vocab = 1000, D = 8;
  const Tensor table = randn({vocab, D});
  const IndexTensor ids({7, 912, 7, 0, 455, 7, 912, 31}, {2, 4});  // 8 ids: 8 * 4 <= 1000
  const Tensor gout = randn({2, 4, D}), hidden = randn({3, D}), head_gout = randn({3, vocab});
  std::vector<float> by_hand(static_cast<size_t>(vocab * D), 0.f);  // dW[id] += g, in order
  const std::vector<float> g = gout.to_vector();
  const std::vector<int64_t> id = ids.to_vector();
  for (size_t i = 0; i < id.size(); ++i)
    for (int64_t j = 0; j < D; ++j)
      by_hand[static_cast<size_t>(id[i] * D + j)] += g[i * static_cast<size_t>(D) + j];
  auto embedding_loss = [&](const Tensor& w) { return sum(F::embedding(ids, w) * gout); };
  auto head_loss = [&](const Tensor& w) { return sum(matmul(hidden, w.t()) * head_gout); };

  SUBCASE("alone: a dense .grad, exactly the index-add") {
    Tensor w = table.clone().requires_grad_(true);
    embedding_loss(w).backward();
    CHECK_FALSE(w.has_sparse_grad());
    CHECK(w.grad().to_vector() == by_hand);
  }
  SUBCASE("tied: the rows are added into the head's dense gradient, with or without a hook") {
    Tensor w = table.clone().requires_grad_(true);
    head_loss(w).backward();
    std::vector<float> expected = w.grad().to_vector();
    for (size_t k = 0; k < expected.size(); ++k) expected[k] += by_hand[k];
    for (bool hook : {false, true}) {
      CAPTURE(hook);
      Tensor tied = table.clone().requires_grad_(true);
      int calls = 0;
      if (hook)
        tied.register_hook([&](const Tensor&) {
          ++calls;
          return Tensor();
        });
      (head_loss(tied) + embedding_loss(tied)).backward();
      CHECK_FALSE(tied.has_sparse_grad());
      CHECK(tied.grad().to_vector() == expected);
      CHECK(calls == (hook ? 2 : 0));  // the hook sees each part, the rows one made dense
    }
  }
  SUBCASE("through a node with two lookups: the rows are added into its pending sum") {
    Tensor w = table.clone().requires_grad_(true);
    Tensor scaled = w * 1.0;
    (embedding_loss(scaled) + embedding_loss(scaled)).backward();
    std::vector<float> twice = by_hand;
    for (float& v : twice) v += v;
    CHECK(w.grad().to_vector() == twice);
  }
  SUBCASE("autograd::grad captures it dense") {
    Tensor w = table.clone().requires_grad_(true);
    std::vector<Tensor> got = autograd::grad({embedding_loss(w)}, {w});
    CHECK(got[0].to_vector() == by_hand);
    CHECK_FALSE(w.grad().defined());
  }
}

TEST_CASE("max_norm renormalises only the rows looked up, in place, outside the tape") {
  Tensor table = tensor({3, 4, 0.3f, 0.4f, 6, 8}, {3, 2});
  nn::Embedding emb(nn::EmbeddingOptions(3, 2).max_norm(1.0)._weight(table));
  Tensor out = emb(IndexTensor{0, 1});
  CHECK(row(emb.weight, 0)[0] == doctest::Approx(0.6f));
  CHECK(row(emb.weight, 1) == std::vector<float>{0.3f, 0.4f});
  CHECK(row(emb.weight, 2) == std::vector<float>{6, 8});  // not looked up
  sum(out).backward();  // no autograd error from the in-place change
  CHECK(emb.weight.grad().defined());
}

TEST_CASE("EmbeddingBag: empty bags give zeros, padding is skipped") {
  nn::EmbeddingBag bag(nn::EmbeddingBagOptions(5, 2).mode(F::EmbeddingBagMode::Max).padding_idx(0));
  Tensor out = bag(IndexTensor{1, 0, 0, 2}, IndexTensor{0, 1, 1, 3});
  CHECK(out.shape() == Shape{4, 2});
  CHECK(row(out, 1) == std::vector<float>{0, 0});  // empty bag
  CHECK(row(out, 2) == std::vector<float>{0, 0});  // only padding
  CHECK(row(out, 0) == row(bag.weight, 1));
}

TEST_CASE("Embedding and EmbeddingBag errors name the op and the values") {
  nn::Embedding emb(20000, 2);
  CHECK_THROWS_WITH_AS(emb(IndexTensor{3, 20001}),
                       "embedding: index 20001 out of range for num_embeddings 20000", IndexError);
  CHECK_THROWS_WITH_AS(emb(IndexTensor{-1}),
                       "embedding: index -1 out of range for num_embeddings 20000", IndexError);
  CHECK_THROWS_WITH_AS(F::embedding(IndexTensor{9}, zeros({4, 2})),
                       "embedding: index 9 out of range for num_embeddings 4", IndexError);
  CHECK_THROWS_WITH_AS(nn::Embedding(nn::EmbeddingOptions(5, 2).padding_idx(5)),
                       "Embedding: padding_idx 5 out of range for num_embeddings 5", IndexError);
  CHECK_THROWS_AS(nn::Embedding(nn::EmbeddingOptions(5, 2).padding_idx(-6)), IndexError);
  nn::EmbeddingBag bag(nn::EmbeddingBagOptions(5, 2));
  CHECK_THROWS_WITH_AS(bag(IndexTensor{1, 7}, IndexTensor{0}),
                       "embedding_bag: index 7 out of range for num_embeddings 5", IndexError);
  CHECK_THROWS_WITH_AS(bag(IndexTensor{1, 2, 3}, IndexTensor{0, 2, 1}),
                       "embedding_bag: offsets must be non-decreasing, but offsets[2] = 1 < "
                       "offsets[1] = 2",
                       IndexError);
  CHECK_THROWS_WITH_AS(bag(IndexTensor{1, 2, 3}, IndexTensor{0, 4}),
                       "embedding_bag: offsets[1] = 4 is past the end of input of size 3",
                       IndexError);
  CHECK_THROWS_WITH_AS(bag(IndexTensor{1, 2}, IndexTensor{0}, ones({2})),
                       "embedding_bag: per_sample_weights is only supported for mode='sum', got "
                       "mode='mean'",
                       ValueError);
  CHECK_THROWS_AS(bag(IndexTensor{1, 2}), ValueError);  // 1-D input without offsets
}

namespace {
std::vector<double> doubles(const Tensor& t) {
  REQUIRE(t.dtype() == kFloat64);
  const Tensor c = t.contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

// The weight's gradient after out(w).backward(gout), for a fresh float64 copy of `table` (a
// max_norm lookup renorms the table in place), checked to be row-sparse when asked.
template <class Lookup>
Tensor float64_grad(const Tensor& table, bool sparse, const Tensor& gout, Lookup lookup) {
  Tensor w = table.clone().requires_grad_(true);
  lookup(w, sparse).backward(gout);
  CHECK(w.has_sparse_grad() == sparse);
  if (sparse) {
    CHECK(w.sparse_grad().dtype == kFloat64);
    CHECK(w.sparse_grad().values64.shape()[0] == w.sparse_grad().rows.size());
  }
  return w.grad();
}
}  // namespace

// A row-sparse gradient has its table's dtype, as PyTorch's: the same sums, in float64.
TEST_CASE("float64 tables: sparse=true gives sparse=false's gradient exactly, in float64") {
  manual_seed(3);
  const Tensor table = randn({7, 3}).to(kFloat64);
  const IndexTensor ids({2, 5, 2, 0, 6, 2, 5, 4}, {2, 4});  // 2 three times, 5 twice
  const Tensor gout = randn({2, 4, 3}).to(kFloat64);
  const std::vector<std::pair<const char*, F::EmbeddingFuncOptions>> cases = {
      {"plain", F::EmbeddingFuncOptions()},
      {"padding_idx", F::EmbeddingFuncOptions().padding_idx(2)},
      {"scale_grad_by_freq", F::EmbeddingFuncOptions().scale_grad_by_freq(true)},
      {"padding_idx + scale_grad_by_freq",
       F::EmbeddingFuncOptions().padding_idx(5).scale_grad_by_freq(true)},
      {"max_norm", F::EmbeddingFuncOptions().max_norm(1.0).padding_idx(0)},
  };
  for (const auto& [name, options] : cases) {
    SUBCASE(name) {
      auto lookup = [&](const Tensor& w, bool sparse) {
        return F::embedding(ids, w, F::EmbeddingFuncOptions(options).sparse(sparse));
      };
      const Tensor dense = float64_grad(table, false, gout, lookup);
      const Tensor sparse = float64_grad(table, true, gout, lookup);
      CHECK(doubles(sparse) == doubles(dense));
      if (options.padding_idx()) {  // the pad row is not among the touched rows
        Tensor w = table.clone().requires_grad_(true);
        sum(F::embedding(ids, w, F::EmbeddingFuncOptions(options).sparse(true))).backward();
        const std::vector<int64_t>& rows = w.sparse_grad().rows;
        CHECK(std::find(rows.begin(), rows.end(), *options.padding_idx()) == rows.end());
      }
    }
  }
  SUBCASE("EmbeddingBag, each mode") {
    using Mode = F::EmbeddingBagMode;
    const IndexTensor flat{2, 5, 2, 0, 6, 2, 5, 4};
    const Tensor bag_gout = randn({3, 3}).to(kFloat64);
    for (Mode mode : {Mode::Sum, Mode::Mean, Mode::Max}) {
      CAPTURE(F::mode_name(mode));
      auto lookup = [&](const Tensor& w, bool sparse) {
        auto o = F::EmbeddingBagFuncOptions().offsets(IndexTensor{0, 3, 5}).mode(mode);
        manual_seed(4);  // the same per_sample_weights for both
        if (mode == Mode::Sum) o.per_sample_weights(rand({8}).to(kFloat64));
        if (mode != Mode::Max) o.scale_grad_by_freq(true);
        return F::embedding_bag(flat, w, o.padding_idx(6).sparse(sparse));
      };
      const Tensor dense = float64_grad(table, false, bag_gout, lookup);
      const Tensor sparse = float64_grad(table, true, bag_gout, lookup);
      CHECK(doubles(sparse) == doubles(dense));
    }
  }
}

TEST_CASE("float64 row-sparse gradients accumulate, mix with dense ones and take mul_/zero_") {
  // Integer gradients, so that every order of summing gives the same bits.
  const Tensor table = zeros({6, 2}, kFloat64);
  const Tensor gout = arange(8.f).reshape({4, 2}).to(kFloat64);
  const IndexTensor ids{4, 1, 4, 3};
  auto lookup = [&](const Tensor& w, bool sparse) {
    return F::embedding(ids, w, F::EmbeddingFuncOptions().sparse(sparse));
  };
  auto dense_sum = [&](int times) {
    Tensor r = table.clone().requires_grad_(true);
    for (int k = 0; k < times; ++k) lookup(r, false).backward(gout);
    return doubles(r.grad());
  };
  Tensor w = table.clone().requires_grad_(true);
  lookup(w, true).backward(gout);
  lookup(w, true).backward(gout);  // rows appended, summed by coalesce()
  REQUIRE(w.has_sparse_grad());
  CHECK(w.sparse_grad().rows.size() == 6);
  CHECK(doubles(w.grad()) == dense_sum(2));
  lookup(w, false).backward(gout);  // a dense one densifies the row-sparse sum
  CHECK_FALSE(w.has_sparse_grad());
  CHECK(doubles(w.grad()) == dense_sum(3));
  lookup(w, true).backward(gout);  // a row-sparse one adds into the dense .grad
  CHECK_FALSE(w.has_sparse_grad());
  CHECK(doubles(w.grad()) == dense_sum(4));

  w.clear_grad();
  lookup(w, true).backward(gout);
  w.grad().mul_(0.5f);  // acts on the row-sparse gradient (PyTorch's sparse mul_)
  REQUIRE(w.has_sparse_grad());
  std::vector<double> half = dense_sum(1);
  for (double& v : half) v *= 0.5;
  CHECK(doubles(w.grad()) == half);
  w.grad().zero_();
  CHECK(w.sparse_grad().rows.empty());
  CHECK(w.sparse_grad().dtype == kFloat64);
  CHECK(doubles(w.grad()) == std::vector<double>(12, 0.0));
}

TEST_CASE("a gradient has its input's dtype: a row-sparse one of the other dtype throws") {
  const Tensor w = zeros({4, 2}, kFloat64, true);
  auto rows_of = [](Dtype dtype) {
    auto g = std::make_shared<RowSparseGrad>();
    g->dense_shape = {4, 2};
    g->rows = {3, 1};
    if (dtype == kFloat64)
      g->allocate<double>(2).fill(1.5);
    else
      g->allocate<float>(2).fill(1.5f);
    return g;
  };
  auto op = [&](const Tensor& input, Dtype dtype) {
    return make_output_of<double>(
        Tensor(ArrayOf<double>(xt::zeros<double>({1}))), "rows_op", {input},
        [g = rows_of(dtype)](const ArrayOf<double>&) { return gradients(g); });
  };
  const Tensor one = ones({1}, kFloat64);
  CHECK_THROWS_WITH_AS(op(w, kFloat32).backward(one),
                       "backward: rows_op returned a float32 row-sparse gradient for a float64 "
                       "input",
                       DtypeError);
  CHECK_FALSE(w.has_grad());
  op(w, kFloat64).backward(one);
  REQUIRE(w.has_sparse_grad());
  CHECK(doubles(w.grad()) == std::vector<double>{0, 0, 1.5, 1.5, 0, 0, 1.5, 1.5});
  // Into an op's output (not a leaf): checked, then densified in its dtype.
  Tensor v = zeros({4, 2}, kFloat64, true);
  CHECK_THROWS_WITH_AS(op(v * 2.0f, kFloat32).backward(one),
                       "backward: rows_op returned a float32 row-sparse gradient for a float64 "
                       "input",
                       DtypeError);
  op(v * 2.0f, kFloat64).backward(one);
  CHECK_FALSE(v.has_sparse_grad());
  CHECK(doubles(v.grad()) == std::vector<double>{0, 0, 3, 3, 0, 0, 3, 3});
  // A float32 one into a float32 input is accepted as before; add_to checks the dtype.
  RowSparseGrad f64 = *rows_of(kFloat64);
  Array dense = xt::zeros<float>({4, 2});
  CHECK_THROWS_WITH_AS(f64.add_to(dense),
                       "RowSparseGrad::add_to: a float64 row-sparse gradient cannot be added "
                       "into a float32 array",
                       DtypeError);
}

TEST_CASE("Module::to converts a row-sparse gradient: dense when the dtype changes") {
  manual_seed(6);
  nn::Embedding emb(nn::EmbeddingOptions(5, 2).sparse(true));
  emb.to(kFloat64);
  sum(emb(IndexTensor{1, 3, 1})).backward();
  REQUIRE(emb.weight.has_sparse_grad());
  CHECK(emb.weight.sparse_grad().dtype == kFloat64);
  emb.to(kFloat64);  // the same dtype: still row-sparse
  CHECK(emb.weight.has_sparse_grad());
  emb.to(kFloat32);
  CHECK_FALSE(emb.weight.has_sparse_grad());
  CHECK(emb.weight.grad().dtype() == kFloat32);
  CHECK(row(emb.weight.grad(), 1) == std::vector<float>{2, 2});
}
