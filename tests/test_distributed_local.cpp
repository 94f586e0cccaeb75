// ember::distributed in one process (no mpirun): the sampler's shards, checkpoints, and what
// the API says without an Environment or without MPI. The multi-rank suite is
// tests/distributed/, run by ctest under mpirun -np 2.
#include <doctest/doctest.h>

#include <algorithm>
#include <ember/ember.hpp>
#include <filesystem>
#include <set>

using namespace ember;
namespace dist = ember::distributed;

TEST_CASE("DistributedSampler: disjoint shards, equal steps, padded or dropped tail") {
  for (bool drop_last : {false, true}) {
    CAPTURE(drop_last);
    std::vector<size_t> all;
    for (int rank = 0; rank < 3; ++rank) {
      dist::DistributedSampler s(
          10, dist::DistributedSamplerOptions(3, rank).seed(4).drop_last(drop_last));
      std::vector<size_t> mine = s.indices();
      CHECK(mine.size() == (drop_last ? 3u : 4u));
      CHECK(mine.size() == s.size());
      all.insert(all.end(), mine.begin(), mine.end());
    }
    std::set<size_t> distinct(all.begin(), all.end());
    // Padding repeats 2 indices to reach 12; dropping keeps 9 distinct ones.
    CHECK(distinct.size() == (drop_last ? 9u : 10u));
    CHECK(*std::max_element(all.begin(), all.end()) < 10u);
  }
  dist::DistributedSampler a(100, dist::DistributedSamplerOptions(2, 0).seed(1));
  std::vector<size_t> first = a.indices();
  CHECK(a.indices() == first);  // seeded
  a.set_epoch(1);
  CHECK(a.indices() != first);  // a new epoch, a new order
  dist::DistributedSampler plain(5, dist::DistributedSamplerOptions(2, 1).shuffle(false));
  CHECK(plain.indices() == std::vector<size_t>{1, 3, 0});
  CHECK_THROWS_AS(dist::DistributedSampler(5, dist::DistributedSamplerOptions(2, 2)), IndexError);
  CHECK_THROWS_WITH_AS(
      dist::DistributedSampler(1, dist::DistributedSamplerOptions(2, 0).drop_last(true)),
      doctest::Contains("no step"), ValueError);
}

TEST_CASE("checkpoint: model and optimizer state round-trip and resume the same trajectory") {
  auto path = (std::filesystem::temp_directory_path() / "ember_ckpt_test.safetensors").string();
  auto make = [] {
    manual_seed(2);
    return nn::Linear(3, 2);
  };
  Tensor x = tensor({1, 2, 3, -1, 0, 1}, {2, 3});
  auto step = [&](nn::Linear& m, optim::Adam& opt) {
    opt.zero_grad();
    sum(m.forward(x) * m.forward(x)).backward();
    opt.step();
  };
  nn::Linear full = make();
  optim::Adam full_opt(full.parameters(), optim::AdamOptions(0.1));
  for (int i = 0; i < 3; ++i) step(full, full_opt);
  dist::save_checkpoint(path, full.state_dict(), full_opt.state_dict(), 3);
  for (int i = 0; i < 2; ++i) step(full, full_opt);

  dist::Checkpoint c = dist::load_checkpoint(path);
  CHECK(c.step == 3);
  nn::Linear resumed = make();
  optim::Adam opt(resumed.parameters(), optim::AdamOptions(0.1));
  resumed.load_state_dict(c.model);
  opt.load_state_dict(c.optimizer);
  for (int i = 0; i < 2; ++i) step(resumed, opt);
  CHECK(resumed.weight.to_vector() == full.weight.to_vector());
  std::filesystem::remove(path);
  CHECK_THROWS_WITH_AS(dist::load_checkpoint(path), doctest::Contains("no file"), IoError);
}

TEST_CASE("distributed API outside mpirun: a clear error, never a hang") {
  if (dist::is_available()) {
    CHECK_FALSE(dist::Environment::exists());
    CHECK_THROWS_WITH(dist::DataParallel({zeros({2}, true)}),
                      doctest::Contains("construct one first"));
    Tensor t = zeros({2});
    CHECK_THROWS_WITH(dist::all_reduce(t), doctest::Contains("no distributed::Environment"));
  } else {
    CHECK_THROWS_WITH(dist::Environment(), doctest::Contains("built without MPI"));
    CHECK_THROWS_WITH(dist::DataParallel({zeros({2}, true)}),
                      doctest::Contains("built without MPI"));
  }
}
