// Run under mpirun with any number of ranks (ctest: 2 and 4, on simulated hosts over TCP):
// DataParallel with and without overlap, with no_sync() accumulation and with ShardedOptimizer
// against one process doing the same arithmetic (each rank's gradient, added in rank order),
// bit for bit. At 2 ranks that is also the arithmetic of MPI's sum, which DataParallel used
// before it summed in rank order itself.
#include <doctest/doctest.h>

#include <cstring>

#include "models.hpp"

using namespace ember;
namespace dist = ember::distributed;
using dist_test::Net;

namespace {
dist::Environment& env() { return dist::Environment::current(); }

constexpr int64_t kLocal = 3;  // rows of the global batch per rank and micro-batch

// One process doing what N ranks do in one step: each rank's gradient over its micro-batches,
// then dense ones added in rank order and scaled by 1/N, row-sparse ones (each coalesced)
// concatenated in rank order, coalesced and scaled.
void reference_step(Net& net, optim::Optimizer& opt, int64_t step, int micro) {
  const int ranks = env().world_size();
  const float scale = 1.0f / static_cast<float>(ranks);
  std::vector<Tensor> params = net.parameters();
  std::vector<std::optional<Array>> dense(params.size());
  std::vector<std::shared_ptr<RowSparseGrad>> sparse(params.size());
  for (int r = 0; r < ranks; ++r) {
    opt.zero_grad();
    for (int m = 0; m < micro; ++m) {
      auto [ids, labels] = dist_test::batch(step * micro + m, r * kLocal, kLocal);
      nn::functional::cross_entropy(net.forward(ids), labels).backward();
    }
    for (size_t k = 0; k < params.size(); ++k) {
      Tensor& p = params[k];
      if (p.has_sparse_grad()) {
        RowSparseGrad g = p.sparse_grad();
        g.coalesce();
        if (!sparse[k]) {
          sparse[k] = std::make_shared<RowSparseGrad>(g);
          continue;
        }
        sparse[k]->rows.insert(sparse[k]->rows.end(), g.rows.begin(), g.rows.end());
        sparse[k]->values = xt::concatenate(xt::xtuple(sparse[k]->values, g.values), 0);
      } else if (p.has_grad()) {
        const Array& g = p.grad().data();
        if (!dense[k]) {
          dense[k] = g;
          continue;
        }
        for (size_t i = 0; i < g.size(); ++i) dense[k]->data()[i] += g.data()[i];
      }
    }
  }
  opt.zero_grad();
  for (size_t k = 0; k < params.size(); ++k) {
    if (dense[k]) {
      Array mean = *dense[k];
      for (size_t i = 0; i < mean.size(); ++i) mean.data()[i] = (*dense[k]).data()[i] * scale;
      params[k].set_grad(Tensor(std::move(mean)));
    } else if (sparse[k]) {
      sparse[k]->coalesce();
      sparse[k]->values *= scale;
      auto grad = sparse[k];
      make_output(Array(xt::zeros<float>({1})), "reference", {params[k]}, [grad](const Array&) {
        return gradients(grad);
      }).backward(ones({1}));
    }
  }
  opt.step();
}

// One rank's step: micro-batches under no_sync() but the last, then synchronize and step.
void rank_step(Net& net, optim::Optimizer& opt, dist::DataParallel& dp, int64_t step, int micro) {
  opt.zero_grad();
  for (int m = 0; m < micro; ++m) {
    auto [ids, labels] = dist_test::batch(step * micro + m, env().rank() * kLocal, kLocal);
    if (m + 1 < micro) {
      auto guard = dp.no_sync();
      nn::functional::cross_entropy(net.forward(ids), labels).backward();
      CHECK_THROWS_WITH(dp.synchronize(), doctest::Contains("inside no_sync()"));
    } else {
      nn::functional::cross_entropy(net.forward(ids), labels).backward();
    }
  }
  dp.synchronize();
  opt.step();
}

bool same_bits(const Net& a, const Net& b) {
  auto x = a.named_parameters(), y = b.named_parameters();
  bool same = true;
  for (size_t k = 0; k < x.size(); ++k) {
    CAPTURE(x[k].first);
    const bool equal = std::memcmp(x[k].second.data().data(), y[k].second.data().data(),
                                   static_cast<size_t>(x[k].second.numel()) * sizeof(float)) == 0;
    CHECK(equal);
    same = same && equal;
  }
  return same;
}

std::unique_ptr<optim::Optimizer> adam(std::vector<Tensor> params) {
  return std::make_unique<optim::Adam>(std::move(params), optim::AdamOptions(0.05));
}

// Trains a replica and the one-process reference for `steps` steps; true when bit-identical.
void compare(bool sparse, bool overlap, int micro, bool sharded, int64_t steps = 6) {
  CAPTURE(sparse);
  CAPTURE(overlap);
  CAPTURE(micro);
  CAPTURE(sharded);
  manual_seed(11);
  Net reference(sparse);
  manual_seed(11);
  Net replica(sparse);
  auto ref_opt = adam(reference.parameters());
  std::unique_ptr<optim::Optimizer> opt;
  if (sharded)
    opt = std::make_unique<dist::ShardedOptimizer>(replica.parameters(), adam);
  else
    opt = adam(replica.parameters());
  // Small buckets: several of them, so that some start while backward is still running.
  dist::DataParallel dp(
      replica.parameters(),
      dist::DataParallelOptions().bucket_bytes(200).first_bucket_bytes(100).overlap(overlap));
  int64_t overlapped = 0;
  for (int64_t step = 0; step < steps; ++step) {
    reference_step(reference, *ref_opt, step, micro);
    rank_step(replica, *opt, dp, step, micro);
    overlapped += dp.last_stats().overlapped_buckets;
  }
  CHECK((overlapped > 0) == (overlap && env().world_size() > 1));
  CHECK(same_bits(replica, reference));
  if (sharded) {
    const auto& z = static_cast<const dist::ShardedOptimizer&>(*opt);
    const int64_t full = dist::optimizer_state_bytes(*ref_opt);
    const int64_t mine = z.state_bytes();
    // Adam's two buffers of this rank's rows only: about 1/N, plus at most a row of 16.
    MESSAGE("Adam state on rank ", env().rank(), ": ", mine, " of ", full, " bytes");
    CHECK(mine > 0);
    CHECK(mine <= full / env().world_size() + 2 * 16 * 4 * 2);
  }
}
}  // namespace

TEST_CASE("any ranks: DataParallel equals one process adding the ranks' gradients, bit for bit") {
  for (bool sparse : {false, true})
    for (bool overlap : {false, true}) compare(sparse, overlap, 1, false);
}

TEST_CASE("any ranks: no_sync() accumulation equals one process, bit for bit") {
  for (bool sparse : {false, true}) compare(sparse, true, 3, false);
  compare(false, false, 2, false);
}

TEST_CASE("any ranks: ShardedOptimizer (ZeRO-1) equals the unsharded optimizer, bit for bit") {
  for (bool sparse : {false, true}) compare(sparse, true, 1, true);
  compare(true, false, 2, true);
}

TEST_CASE("any ranks: a parameter used twice in one backward is refused with overlap on") {
  Tensor w = ones({4}, true);
  dist::DataParallel dp({w}, dist::DataParallelOptions().overlap(true));
  sum(w * 2.0f).backward();
  dp.synchronize();  // learns the layout: w is dense everywhere, so it gets a hook
  w.clear_grad();
  CHECK_THROWS_WITH(sum(w * w).backward(), doctest::Contains("received a second gradient"));
  // The bucket the first delivery started is finished (the same on every rank); usable again.
  dp.synchronize();
  w.clear_grad();
  sum(w * 3.0f).backward();
  dp.synchronize();
  CHECK(w.grad().to_vector() == std::vector<float>(4, 3.0f));
}
