// RankOrderedReducer: all-to-all, a sum in rank order, all-gather; each phase on its own
// communicator, posted in queue order.
#include "reducer.hpp"

#include <limits>
#include <type_traits>

#include "ember/distributed/environment.hpp"
#include "ember/error.hpp"
#include "mpi_call.hpp"

namespace ember::distributed::detail {

namespace {
MPI_Comm duplicate_world() {
  MPI_Comm comm = MPI_COMM_NULL;
  MPI_Request request;
  check(MPI_Comm_idup(MPI_COMM_WORLD, &comm, &request), "MPI_Comm_idup");
  wait(request, "DataParallel (duplicating the world communicator)");
  return comm;  // inherits MPI_ERRORS_RETURN from the world
}
}  // namespace

RankOrderedReducer::RankOrderedReducer() {
  const Environment& env = Environment::current();
  rank_ = env.rank();
  ranks_ = env.world_size();
  scatter_ = duplicate_world();
  gather_ = duplicate_world();
}

RankOrderedReducer::~RankOrderedReducer() {
  // After MPI_Finalize (an object that outlived its Environment) there is nothing to free.
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized) return;
  for (Job& job : jobs_)
    if (job.request != MPI_REQUEST_NULL) MPI_Request_free(&job.request);
  MPI_Comm_free(&scatter_);
  MPI_Comm_free(&gather_);
}

size_t RankOrderedReducer::padded(size_t n) {
  const size_t ranks = static_cast<size_t>(Environment::current().world_size());
  return (n + ranks - 1) / ranks * ranks;
}

template <class T>
void RankOrderedReducer::start(T* data, size_t n, const char* what) {
  const size_t ranks = static_cast<size_t>(ranks_);
  EMBER_CHECK_VALUE(n % ranks == 0, "RankOrderedReducer: ", n, " elements do not divide among ",
                    ranks, " ranks");
  EMBER_CHECK_VALUE(n / ranks <= static_cast<size_t>(std::numeric_limits<int>::max()), what,
                    ": a bucket of ", n, " elements exceeds MPI's int count per rank");
  Job& job = jobs_.emplace_back();
  job.data = data;
  job.n = n;
  job.what = what;
  job.type = mpi_type<T>();
  auto& parts = job.parts.emplace<std::vector<T, CachingAllocator<T>>>(n);
  const int segment = static_cast<int>(n / ranks);
  check(MPI_Ialltoall(data, segment, job.type, parts.data(), segment, job.type, scatter_,
                      &job.request),
        "MPI_Ialltoall");
}
template void RankOrderedReducer::start(float*, size_t, const char*);
template void RankOrderedReducer::start(double*, size_t, const char*);

bool RankOrderedReducer::advance(Job& job, bool block) {
  if (job.phase == Phase::Done) return false;
  if (block) {
    wait(job.request, job.what);
  } else {
    int done = 0;
    check(MPI_Test(&job.request, &done, MPI_STATUS_IGNORE), job.what);
    if (!done) return false;
  }
  if (job.phase == Phase::Gather) {
    job.phase = Phase::Done;
    job.parts = {};
    return true;
  }
  // parts holds rank r's values of this rank's segment at [r * segment, (r + 1) * segment):
  // summed 0, 1, ..., N-1, as one process would add the ranks' gradients.
  const size_t segment = job.n / static_cast<size_t>(ranks_);
  std::visit(
      [&](const auto& all) {
        using T = typename std::decay_t<decltype(all)>::value_type;
        T* out = static_cast<T*>(job.data) + static_cast<size_t>(rank_) * segment;
        const T* parts = all.data();
        for (size_t i = 0; i < segment; ++i) out[i] = parts[i];
        for (size_t r = 1; r < static_cast<size_t>(ranks_); ++r) {
          const T* part = parts + r * segment;
          for (size_t i = 0; i < segment; ++i) out[i] += part[i];
        }
      },
      job.parts);
  check(MPI_Iallgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, job.data, static_cast<int>(segment),
                       job.type, gather_, &job.request),
        "MPI_Iallgather");
  job.phase = Phase::Gather;
  return true;
}

void RankOrderedReducer::progress() {
  for (Job& job : jobs_) {
    if (job.phase == Phase::Scatter) {
      // A later job's gather may not be posted before this one's: stop here.
      if (!advance(job, false) || job.phase == Phase::Scatter) return;
    }
    advance(job, false);
  }
}

void RankOrderedReducer::finish() {
  for (Job& job : jobs_)
    while (job.phase != Phase::Done) advance(job, true);
  jobs_.clear();
}

}  // namespace ember::distributed::detail
