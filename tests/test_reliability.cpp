// Reliability: a checkpoint survives a process killed mid-save, two threads training their own
// models match sequential runs, anomaly detection in backward, and shape errors in every
// binary op.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <ember/ember.hpp>
#include <thread>

using namespace ember;
namespace F = ember::nn::functional;

namespace {
StateDict big_state(float value) {
  // ~32 MB: large enough that a kill lands inside a write.
  return StateDict{{"table", full({2000, 4000}, value)}, {"bias", full({7}, value)}};
}

std::vector<float> train_once(uint64_t seed) {
  manual_seed(seed);
  nn::Embedding emb(nn::EmbeddingOptions(50, 8).padding_idx(1));
  nn::Linear fc(8, 3);
  std::vector<Tensor> params = emb.parameters();
  params.push_back(fc.weight);
  params.push_back(fc.bias);
  optim::Adam opt(params, optim::AdamOptions(0.01));
  for (int step = 0; step < 30; ++step) {
    std::vector<int64_t> ids(4 * 6), labels(4);
    for (auto& v : ids) v = static_cast<int64_t>(random_u64() % 50);
    for (auto& v : labels) v = static_cast<int64_t>(random_u64() % 3);
    IndexTensor batch(ids, {4, 6});
    opt.zero_grad();
    F::cross_entropy(fc(F::masked_mean(emb(batch), batch != 1, 1)), IndexTensor(labels)).backward();
    opt.step();
  }
  std::vector<float> out = emb.weight.to_vector();
  for (float v : fc.weight.to_vector()) out.push_back(v);
  return out;
}
}  // namespace

TEST_CASE("a process killed in the middle of saving leaves the previous checkpoint loadable") {
  std::string path = std::string(EMBER_BINARY_DIR) + "/killed_save.safetensors";
  io::save(big_state(1.f), path);
  for (int attempt = 0; attempt < 5; ++attempt) {
    pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      for (float v = 2.f;; v += 1.f) io::save(big_state(v), path);  // until killed
    }
    ::usleep(static_cast<useconds_t>(20000 + attempt * 15000));
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    StateDict loaded = io::load(path);  // must not throw: always a whole checkpoint
    std::vector<float> bias = loaded.at("bias").to_vector();
    CHECK(bias.size() == 7);
    CHECK(loaded.at("table").to_vector().back() == bias[0]);  // one save, not a mix
  }
  std::remove(path.c_str());
}

TEST_CASE("two threads training their own models match the same runs one after the other") {
  std::vector<float> a = train_once(1), b = train_once(2);
  std::vector<float> ta, tb;
  std::thread first([&] { ta = train_once(1); });
  std::thread second([&] { tb = train_once(2); });
  first.join();
  second.join();
  CHECK(a != b);
  CHECK(std::memcmp(a.data(), ta.data(), a.size() * sizeof(float)) == 0);
  CHECK(std::memcmp(b.data(), tb.data(), b.size() * sizeof(float)) == 0);
}

TEST_CASE("anomaly detection names the op whose backward produced NaN") {
  set_detect_anomaly(true);
  Tensor x = tensor({0.f}, true);
  Tensor y = sqrt(x);  // forward is 0, fine; backward divides by 0
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("sqrt produced Inf in its backward"),
                       ValueError);
  set_detect_anomaly(false);
}

TEST_CASE("every binary op names itself and both shapes on a mismatch") {
  Tensor a = zeros({2, 3}), b = zeros({4});
  CHECK_THROWS_WITH_AS(a + b,
                       "add: shapes [2,3] and [4] do not broadcast: sizes 3 and 4 at dim -1 must "
                       "be equal or one of them 1",
                       ShapeError);
  CHECK_THROWS_WITH_AS(a - b,
                       "sub: shapes [2,3] and [4] do not broadcast: sizes 3 and 4 at dim -1 must "
                       "be equal or one of them 1",
                       ShapeError);
  CHECK_THROWS_WITH_AS(a * b,
                       "mul: shapes [2,3] and [4] do not broadcast: sizes 3 and 4 at dim -1 must "
                       "be equal or one of them 1",
                       ShapeError);
  CHECK_THROWS_WITH_AS(a / b,
                       "div: shapes [2,3] and [4] do not broadcast: sizes 3 and 4 at dim -1 must "
                       "be equal or one of them 1",
                       ShapeError);
  CHECK_THROWS_WITH_AS(where(ones({2, 3}), a, b),
                       "where: shapes [2,3] and [4] do not broadcast: sizes 3 and 4 at dim -1 must "
                       "be equal or one of them 1",
                       ShapeError);
  CHECK_THROWS_WITH_AS(F::mse_loss(a, zeros({3, 2})),
                       "mse_loss: input shape [2,3] and target shape [3,2] differ", ShapeError);
  CHECK_THROWS_WITH_AS(linear(a, zeros({5, 4})),
                       "linear: input shape [2,3] does not match weight shape [5,4] (expected last "
                       "dim 4)",
                       ShapeError);
}
