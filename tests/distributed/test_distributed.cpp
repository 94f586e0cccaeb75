// Run under mpirun -np 2: collectives, DataParallel against one process with the global batch,
// the ranks' bits, the sparse exchange, and the timeout.
#include <doctest/doctest.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "models.hpp"

using namespace ember;
namespace dist = ember::distributed;
using dist_test::Net;

namespace {
dist::Environment& env() { return dist::Environment::current(); }

// The bytes of a contiguous tensor's elements, of any dtype.
std::vector<unsigned char> bytes_of(const Tensor& t) {
  const Tensor c = t.contiguous();
  const size_t size = element_size(c.dtype());
  const auto* first = static_cast<const unsigned char*>(c.impl()->storage->bytes()) +
                      static_cast<size_t>(c.storage_offset()) * size;
  return std::vector<unsigned char>(first, first + static_cast<size_t>(c.numel()) * size);
}

// Every rank's copy of every parameter has the same bits as rank 0's.
void check_bit_identical(const std::vector<Tensor>& params) {
  for (const Tensor& p : params) {
    std::vector<Tensor> all = dist::all_gather(p);
    for (size_t r = 1; r < all.size(); ++r) CHECK(bytes_of(all[0]) == bytes_of(all[r]));
  }
}

std::vector<double> doubles(const Tensor& t) {
  const Tensor d = t.to(kFloat64).contiguous();
  return std::vector<double>(d.data_ptr<double>(), d.data_ptr<double>() + d.numel());
}

// max |a - b| / max |b|: the error relative to the tensor's scale (in double, of either dtype).
double max_relative_error(const Tensor& a, const Tensor& b) {
  double worst = 0, scale = 0;
  std::vector<double> x = doubles(a), y = doubles(b);
  for (size_t i = 0; i < x.size(); ++i) {
    worst = std::max(worst, std::abs(x[i] - y[i]));
    scale = std::max(scale, std::abs(y[i]));
  }
  return worst / scale;
}
}  // namespace

TEST_CASE("collectives: broadcast, all_reduce sum/mean/max, all_gather") {
  REQUIRE(env().world_size() == 2);
  const float r = static_cast<float>(env().rank());
  Tensor t = full({3}, r + 5);
  dist::broadcast(t, 1);
  CHECK(t.to_vector() == std::vector<float>{6, 6, 6});

  Tensor s = tensor({r + 1, 10 * r});
  dist::all_reduce(s, dist::ReduceOp::Sum);
  CHECK(s.to_vector() == std::vector<float>{3, 10});
  Tensor m = tensor({r + 1, 10 * r});
  dist::all_reduce(m, dist::ReduceOp::Mean);
  CHECK(m.to_vector() == std::vector<float>{1.5f, 5});
  Tensor x = tensor({r, -r});
  dist::all_reduce(x, dist::ReduceOp::Max);
  CHECK(x.to_vector() == std::vector<float>{1, 0});
  CHECK(dist::all_reduce(double(r), dist::ReduceOp::Mean) == doctest::Approx(0.5));

  std::vector<Tensor> g = dist::all_gather(tensor({r, r}, {1, 2}));
  REQUIRE(g.size() == 2);
  CHECK(g[1].shape() == Shape{1, 2});
  CHECK(g[1].to_vector() == std::vector<float>{1, 1});
  // A shape mismatch is reported on every rank, and nobody hangs.
  CHECK_THROWS_WITH_AS(dist::all_gather(zeros({env().rank() + 1})),
                       doctest::Contains("all_gather: rank"), ShapeError);
  CHECK_THROWS_WITH_AS(dist::broadcast(t, 2), doctest::Contains("root 2"), IndexError);
}

TEST_CASE("a collective another rank never joins times out with a clear error") {
  const double saved = env().timeout();
  if (env().rank() == 0) {
    env().set_timeout(0.3);
    // Rank 1 joins only after 0.8 s: a barrier that throws here gave up at the timeout.
    CHECK_THROWS_WITH(dist::barrier(),
                      doctest::Contains("got no answer from the other ranks within 0.3 s"));
  } else {
    std::this_thread::sleep_for(std::chrono::milliseconds(800));
  }
  // Rank 1's barrier now matches the one rank 0 gave up on; then both are in step again.
  if (env().rank() == 1) dist::barrier();
  env().set_timeout(saved);
  dist::barrier();
}

// A model converted with to(kFloat64) trains under DataParallel in float64: its dense buckets
// are float64 and averaged in double, so it follows one process to double rounding (each rank's
// mean over B, halved, against one mean over 2B: not the same sums, so not bit for bit).
TEST_CASE("DataParallel: 2 ranks x batch B equal 1 process x batch 2B after 20 steps") {
  constexpr int64_t B = 4;
  for (Dtype dtype : {kFloat32, kFloat64}) {
    for (bool sparse : {false, true}) {
      for (std::string optimizer : {"sgd", "adam"}) {
        CAPTURE(dtype_name(dtype));
        CAPTURE(sparse);
        CAPTURE(optimizer);
        manual_seed(11);
        Net reference(sparse);
        reference.to(dtype);
        manual_seed(11);
        Net replica(sparse);
        {  // the replicas start apart: the broadcast must make them rank 0's
          NoGradGuard g;
          replica.fc1.weight.data() += static_cast<float>(env().rank());
        }
        replica.to(dtype);
        auto ref_opt = dist_test::make_optimizer(optimizer, reference);
        auto opt = dist_test::make_optimizer(optimizer, replica);
        dist::DataParallel dp(
            replica.parameters(),
            dist::DataParallelOptions().bucket_bytes(600).first_bucket_bytes(600));
        for (int64_t step = 0; step < 20; ++step) {
          dist_test::train_step(reference, *ref_opt, nullptr, step, 0, 2 * B);
          dist_test::train_step(replica, *opt, &dp, step, env().rank() * B, B);
          if (sparse) CHECK(replica.emb.weight.has_sparse_grad());  // still rows, not a table
          CHECK(replica.fc1.weight.grad().dtype() == dtype);
        }
        CHECK(dp.last_stats().allreduce_calls > 1);     // 600-byte buckets: several
        CHECK(dp.last_stats().overlapped_buckets > 0);  // the hooks pack either dtype
        CHECK((dp.last_stats().sparse_bytes > 0) == sparse);
        auto ref = reference.named_parameters();
        auto got = replica.named_parameters();
        for (size_t k = 0; k < ref.size(); ++k) {
          CAPTURE(ref[k].first);
          REQUIRE(got[k].second.dtype() == dtype);
          CHECK(max_relative_error(got[k].second, ref[k].second) <
                (dtype == kFloat64 ? 1e-12 : 1e-5));
        }
        check_bit_identical(replica.parameters());
      }
    }
  }
}

TEST_CASE("DataParallel: a gradient present on one rank only is averaged with zeros") {
  Tensor dense = ones({2, 3}, true);
  Tensor table = zeros({5, 2}, true);
  dist::DataParallel dp({dense, table});
  if (env().rank() == 0) {
    (sum(dense) * 4.0f).backward();
    // A sparse lookup on rank 0 only: rank 1 must still end with the same row-sparse gradient.
    Tensor rows = nn::functional::embedding(IndexTensor({3, 3}), table,
                                            nn::functional::EmbeddingFuncOptions().sparse(true));
    sum(rows).backward();
  }
  dp.synchronize();
  REQUIRE(dense.has_grad());
  CHECK(dense.grad().to_vector() == std::vector<float>(6, 2.0f));
  REQUIRE(table.has_sparse_grad());
  CHECK(table.sparse_grad().rows == std::vector<int64_t>{3});
  CHECK(table.grad().to_vector() == std::vector<float>{0, 0, 0, 0, 0, 0, 1, 1, 0, 0});
  // No rank has a gradient: none is made up.
  Tensor idle = ones({2}, true);
  dist::DataParallel dp2({idle});
  dp2.synchronize();
  CHECK(!idle.has_grad());
}

// A float64 table's row-sparse gradient travels as float64 rows: values a float32 would round
// (1/3) arrive exact, merged in rank order and halved, on every rank. A float64 dense gradient
// goes through a float64 bucket.
TEST_CASE("DataParallel: float64 row-sparse gradients are exchanged in float64") {
  Tensor table = zeros({6, 2}, kFloat64, true);
  dist::DataParallel dp({table});
  const double a = 1.0 / 3.0, b = 1.0 / 3.0 + 1.0;  // rank 0's and rank 1's upstream values
  const bool first = env().rank() == 0;
  const IndexTensor ids = first ? IndexTensor{4, 1, 4} : IndexTensor{1, 5};
  const Tensor gout = full({ids.numel(), 2}, first ? a : b, kFloat64);
  nn::functional::embedding(ids, table, nn::functional::EmbeddingFuncOptions().sparse(true))
      .backward(gout);
  dp.synchronize();
  REQUIRE(table.has_sparse_grad());
  const RowSparseGrad& g = table.sparse_grad();
  CHECK(g.dtype == kFloat64);
  CHECK(g.rows == std::vector<int64_t>{1, 4, 5});
  const double row1 = (a + b) * 0.5, row4 = (a + a) * 0.5, row5 = b * 0.5;
  CHECK(std::vector<double>(g.values64.begin(), g.values64.end()) ==
        std::vector<double>{row1, row1, row4, row4, row5, row5});
  CHECK(dp.last_stats().sparse_bytes == 2 * (8 + 2 * 8));  // 2 rows of 2 doubles and an id
  Tensor dense = zeros({2, 2}, kFloat64, true);
  dist::DataParallel dense_dp({dense});
  sum(dense * (first ? a : b)).backward();
  dense_dp.synchronize();
  CHECK(doubles(dense.grad()) == std::vector<double>(4, (a + b) * 0.5));
  CHECK(dense_dp.last_stats().dense_bytes == 4 * 8);
  // broadcast and all_reduce (DataParallel's start) carry float64 values exactly too.
  Tensor t = full({3}, first ? a : b, kFloat64);
  dist::broadcast(t, 0);
  CHECK(std::vector<double>(t.data_ptr<double>(), t.data_ptr<double>() + 3) ==
        std::vector<double>(3, a));
  Tensor s = full({2}, first ? a : b, kFloat64);
  dist::all_reduce(s, dist::ReduceOp::Mean);
  CHECK(std::vector<double>(s.data_ptr<double>(), s.data_ptr<double>() + 2) ==
        std::vector<double>(2, (a + b) * 0.5));
}

// As DDP's, a bucket holds one dtype: float32 and float64 parameters, interleaved, make one
// bucket each, each summed in its own type (a float64 mean a float32 bucket would round).
TEST_CASE("DataParallel: float32 and float64 parameters travel in one bucket per dtype") {
  for (bool overlap : {false, true}) {
    CAPTURE(overlap);
    Tensor a32 = zeros({3, 4}, kFloat32, true), b64 = zeros({2, 5}, kFloat64, true);
    Tensor c32 = zeros({4}, kFloat32, true), d64 = zeros({3}, kFloat64, true);
    dist::DataParallel dp({a32, b64, c32, d64}, dist::DataParallelOptions().overlap(overlap));
    const bool first = env().rank() == 0;
    const double value = first ? 1.0 / 3.0 : 1.0 / 3.0 + 1.0;
    // Three steps: the first learns the layout, the later ones pack in the hooks (overlap).
    for (int step = 0; step < 3; ++step) {
      CAPTURE(step);
      for (Tensor* p : {&a32, &b64, &c32, &d64}) p->clear_grad();
      (sum(a32 * value) + sum(b64 * value) + sum(c32 * value) + sum(d64 * value)).backward();
      dp.synchronize();
      const dist::SyncStats& stats = dp.last_stats();
      CHECK(stats.allreduce_calls == 2);
      CHECK(stats.dense_bytes == (12 + 4) * 4 + (10 + 3) * 8);
      CHECK(stats.overlapped_buckets == (overlap && step > 0 ? 2 : 0));
      const float a = static_cast<float>(1.0 / 3.0), b = static_cast<float>(1.0 / 3.0 + 1.0);
      const float mean32 = (a + b) * 0.5f;
      const double mean64 = (1.0 / 3.0 + (1.0 / 3.0 + 1.0)) * 0.5;
      CHECK(mean64 != static_cast<double>(static_cast<float>(mean64)));  // float would round
      CHECK(a32.grad().dtype() == kFloat32);
      CHECK(a32.grad().to_vector() == std::vector<float>(12, mean32));
      CHECK(c32.grad().to_vector() == std::vector<float>(4, mean32));
      CHECK(b64.grad().dtype() == kFloat64);
      CHECK(doubles(b64.grad()) == std::vector<double>(10, mean64));
      CHECK(doubles(d64.grad()) == std::vector<double>(3, mean64));
    }
  }
}

TEST_CASE("DataParallel: a bfloat16 parameter's dense gradient is refused by name") {
  Tensor w = zeros({2, 2}, kBFloat16, true);
  // broadcast (float32 and float64) would refuse it first.
  dist::DataParallel dp({w}, dist::DataParallelOptions().broadcast_parameters(false));
  sum(w.to(kFloat32)).backward();
  CHECK_THROWS_WITH_AS(dp.synchronize(),
                       "DataParallel::synchronize: parameter 0 (shape [2,2]) is bfloat16 with a "
                       "dense gradient; buckets are float32 or float64",
                       DtypeError);
}

TEST_CASE("all_gather carries every dtype exactly") {
  const bool first = env().rank() == 0;
  const double value = first ? 1.0 / 3.0 : 1.0 / 3.0 + 1.0;
  std::vector<Tensor> g64 = dist::all_gather(full({2, 3}, value, kFloat64));
  REQUIRE(g64.size() == 2);
  CHECK(g64[1].dtype() == kFloat64);
  CHECK(g64[1].shape() == Shape{2, 3});
  CHECK(doubles(g64[0]) == std::vector<double>(6, 1.0 / 3.0));
  CHECK(doubles(g64[1]) == std::vector<double>(6, 1.0 / 3.0 + 1.0));
  // A strided view is gathered as its values.
  Tensor m = tensor({1, 2, 3, 4, 5, 6}, {2, 3}).to(kFloat64) * (env().rank() + 1.0);
  std::vector<Tensor> gt = dist::all_gather(m.t());
  CHECK(doubles(gt[1]) == std::vector<double>{2, 8, 4, 10, 6, 12});
  Tensor mask = tensor({first ? 1.0f : 0.0f, 1.0f, 0.0f}).to(kBool);
  std::vector<Tensor> gb = dist::all_gather(mask);
  CHECK(gb[0].dtype() == kBool);
  CHECK(gb[0].to_vector() == std::vector<float>{1, 1, 0});
  CHECK(gb[1].to_vector() == std::vector<float>{0, 1, 0});
  Tensor half = full({2}, first ? 1.5 : -2.25).to(kBFloat16);
  std::vector<Tensor> gh = dist::all_gather(half);
  CHECK(gh[1].dtype() == kBFloat16);
  CHECK(bytes_of(gh[static_cast<size_t>(env().rank())]) == bytes_of(half));
  CHECK(gh[0].to_vector() == std::vector<float>{1.5f, 1.5f});
  CHECK(gh[1].to_vector() == std::vector<float>{-2.25f, -2.25f});
  // Different dtypes on the ranks: refused on every rank.
  CHECK_THROWS_WITH_AS(dist::all_gather(zeros({2}, first ? kFloat32 : kFloat64)),
                       doctest::Contains("all_gather: rank"), DtypeError);
}

// Each rank steps its shard of the float64 table in double, on float64 rows, and gathers the
// shards as doubles: the same bits as the unsharded optimizer.
TEST_CASE("ShardedOptimizer steps a float64 table's row-sparse gradient as the whole optimizer") {
  manual_seed(5);
  const Tensor start = randn({9, 3}).to(kFloat64);
  const Tensor gout = randn({4, 3}).to(kFloat64);
  const std::vector<IndexTensor> ids = {IndexTensor{0, 7, 0, 2}, IndexTensor{8, 4, 4, 1},
                                        IndexTensor{3, 3, 6, 5}, IndexTensor{2, 8, 1, 0}};
  auto adam = [](std::vector<Tensor> p) {
    return std::make_unique<optim::Adam>(p, optim::AdamOptions(0.01));
  };
  auto train = [&](bool sharded) {
    Tensor table = start.clone().requires_grad_(true);
    dist::DataParallel dp({table});
    std::unique_ptr<optim::Optimizer> opt;
    if (sharded)
      opt = std::make_unique<dist::ShardedOptimizer>(std::vector<Tensor>{table}, adam);
    else
      opt = adam({table});
    for (size_t step = 0; step < 3; ++step) {
      opt->zero_grad();
      const IndexTensor& mine = ids[(step + static_cast<size_t>(env().rank())) % ids.size()];
      nn::functional::embedding(mine, table, nn::functional::EmbeddingFuncOptions().sparse(true))
          .backward(gout);
      dp.synchronize();
      REQUIRE(table.sparse_grad().dtype == kFloat64);
      opt->step();
    }
    // Two float64 buffers per element, split over the ranks.
    CHECK(dist::all_reduce(static_cast<double>(dist::optimizer_state_bytes(*opt)),
                           dist::ReduceOp::Sum) == (sharded ? 1 : env().world_size()) * 2 * 27 * 8);
    return std::vector<double>(table.data_ptr<double>(), table.data_ptr<double>() + 27);
  };
  const std::vector<double> sharded = train(true), whole = train(false);
  CHECK(sharded == whole);
  CHECK(sharded != std::vector<double>(start.data_ptr<double>(), start.data_ptr<double>() + 27));
}

TEST_CASE("DataParallel: a row-sparse exchange sends rows, a dense one the whole table") {
  auto volume = [](bool sparse) {
    manual_seed(3);
    Net net(sparse);
    auto opt = dist_test::make_optimizer("sgd", net);
    dist::DataParallel dp(net.parameters());
    dist_test::train_step(net, *opt, &dp, 0, env().rank() * 4, 4);
    return dp.last_stats();
  };
  dist::SyncStats dense = volume(false), sparse = volume(true);
  const int64_t table = dist_test::kVocab * dist_test::kDim * 4;
  CHECK(dense.dense_bytes > table);
  CHECK(sparse.dense_bytes == dense.dense_bytes - table);
  CHECK(sparse.sparse_bytes > 0);
  CHECK(sparse.sparse_bytes < table);
}

TEST_CASE("DataParallel: ranks with different parameters are refused") {
  std::vector<Tensor> params{zeros({env().rank() + 2}, true)};
  CHECK_THROWS_WITH_AS(dist::DataParallel{params}, doctest::Contains("do not have the same shapes"),
                       ShapeError);
  std::vector<Tensor> typed{zeros({2}, env().rank() == 0 ? kFloat32 : kFloat64, true)};
  CHECK_THROWS_WITH_AS(dist::DataParallel{typed},
                       doctest::Contains("do not have the same shapes and dtypes"), ShapeError);
}
