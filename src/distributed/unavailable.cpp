// ember::distributed in a build without MPI: the API exists and says why it cannot run.
#include "ember/distributed/data_parallel.hpp"
#include "ember/distributed/environment.hpp"
#include "ember/distributed/sharded_optimizer.hpp"

namespace ember::distributed {

namespace {
[[noreturn]] void unavailable(const char* what) {
  EMBER_CHECK(false, "ember::distributed::", what,
              ": this Ember was built without MPI; install libopenmpi-dev and openmpi-bin "
              "(scripts/install_deps.sh) and configure again with -DEMBER_WITH_MPI=ON");
  std::abort();  // not reached: EMBER_CHECK(false, ...) throws
}
}  // namespace

bool is_available() { return false; }

Environment::Environment(EnvironmentOptions options) : options_(options) { init(nullptr, nullptr); }
Environment::Environment(int, char**, EnvironmentOptions options) : options_(options) {
  init(nullptr, nullptr);
}
void Environment::init(int*, char***) { unavailable("Environment"); }
Environment::~Environment() = default;
void Environment::set_timeout(double) { unavailable("Environment::set_timeout"); }
void Environment::abort(const std::string&, int) const { unavailable("Environment::abort"); }
Environment& Environment::current() { unavailable("Environment::current"); }
bool Environment::exists() { return false; }

void barrier() { unavailable("barrier"); }
void broadcast(Tensor&, int) { unavailable("broadcast"); }
void all_reduce(Tensor&, ReduceOp) { unavailable("all_reduce"); }
double all_reduce(double, ReduceOp) { unavailable("all_reduce"); }
std::vector<Tensor> all_gather(const Tensor&) { unavailable("all_gather"); }

DataParallel::DataParallel(std::vector<Tensor>, DataParallelOptions) {
  unavailable("DataParallel");
}
void DataParallel::synchronize() { unavailable("DataParallel::synchronize"); }
void DataParallel::broadcast_parameters() { unavailable("DataParallel::broadcast_parameters"); }
DataParallel::~DataParallel() = default;
void DataParallel::check_same_parameters() const { unavailable("DataParallel"); }
void DataParallel::synchronize_rest(const std::vector<size_t>&) { unavailable("DataParallel"); }
void DataParallel::build_overlap(const std::vector<int>&) { unavailable("DataParallel"); }
DataParallel::NoSync DataParallel::no_sync() { unavailable("DataParallel::no_sync"); }
DataParallel::NoSync::NoSync(NoSync&& other) noexcept : dp_(other.dp_) {}
DataParallel::NoSync::~NoSync() = default;

ShardedOptimizer::ShardedOptimizer(std::vector<Tensor> parameters, const Factory&)
    : Optimizer({parameters}, nullptr, "ShardedOptimizer") {
  unavailable("ShardedOptimizer");
}
void ShardedOptimizer::step() { unavailable("ShardedOptimizer::step"); }
int64_t ShardedOptimizer::state_bytes() const { unavailable("ShardedOptimizer::state_bytes"); }
void ShardedOptimizer::save_state(io::Archive&) const { unavailable("ShardedOptimizer"); }
void ShardedOptimizer::load_state(const io::Archive&) { unavailable("ShardedOptimizer"); }
int64_t optimizer_state_bytes(const optim::Optimizer&) { unavailable("optimizer_state_bytes"); }

}  // namespace ember::distributed
