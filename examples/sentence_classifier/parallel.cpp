// The data-parallel plumbing of ember-classify and ember-lm; see parallel.hpp.
#include "parallel.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

namespace classifier {

namespace dist = ember::distributed;

std::pair<size_t, size_t> Parallel::shard(size_t lo, size_t hi) const {
  const size_t n = hi - lo, ranks = static_cast<size_t>(world_size), r = static_cast<size_t>(rank);
  return {lo + n * r / ranks, lo + n * (r + 1) / ranks};
}

float Parallel::loss_scale(size_t local, size_t global) const {
  if (world_size == 1) return 1.0f;
  return static_cast<float>(static_cast<double>(local) * world_size / static_cast<double>(global));
}

double Parallel::sum(double value) const {
  return world_size == 1 ? value : dist::all_reduce(value, dist::ReduceOp::Sum);
}

std::string Parallel::describe(int64_t global_batch) const {
  if (world_size == 1) return "";
  return "data-parallel on " + std::to_string(world_size) +
         " ranks: each takes its share of every batch of " + std::to_string(global_batch) + "\n";
}

std::unique_ptr<dist::DataParallel> Parallel::data_parallel(
    std::vector<ember::Tensor> parameters, dist::DataParallelOptions options) const {
  if (world_size == 1) return nullptr;
  return std::make_unique<dist::DataParallel>(std::move(parameters), options);
}

Parallel Parallel::current() {
  if (!dist::Environment::exists()) return Parallel();
  const dist::Environment& env = dist::Environment::current();
  return Parallel{env.rank(), env.world_size()};
}

namespace {
int env_int(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::atoi(v) : 0;
}
}  // namespace

std::unique_ptr<dist::Environment> start_distributed(int argc, char** argv,
                                                     const std::string& program) {
  // Open MPI's mpirun, or a PMI launcher (srun, MPICH's hydra).
  if (!env_int("OMPI_COMM_WORLD_SIZE") && !env_int("PMI_SIZE") && !std::getenv("PMIX_RANK"))
    return nullptr;
  EMBER_CHECK(dist::is_available(), program,
              " was launched by mpirun, but this Ember was built without MPI");
  auto env = std::make_unique<dist::Environment>(argc, argv);
  if (env->rank() != 0 && !std::freopen("/dev/null", "w", stdout))
    std::fprintf(stderr, "rank %d: could not silence stdout\n", env->rank());
  return env;
}

int threads_per_rank(int requested) {
  const int local = std::max(1, env_int("OMPI_COMM_WORLD_LOCAL_SIZE"));
  const int cores = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  return local > 1 ? std::max(1, std::min(requested, cores / local)) : requested;
}

}  // namespace classifier
