// Embedding and EmbeddingBag behaviour beyond the golden values: the pad row, determinism
// across thread counts, row-sparse gradients, shapes and errors.
#include <doctest/doctest.h>

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
