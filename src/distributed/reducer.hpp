// Private: sums of float32 or float64 buffers over the ranks, taken in rank order by Ember rather
// than by MPI's reduction (whose order depends on the algorithm Open MPI picks for the message size
// and rank count). Every rank gets the same bits, and the same bits as one process that adds the
// ranks' buffers 0, 1, ..., N-1 in turn, at any N.
#pragma once

#include <mpi.h>

#include <deque>
#include <variant>
#include <vector>

#include "ember/allocator.hpp"

namespace ember::distributed::detail {

// A buffer goes through an all-to-all of 1/N segments (each rank receives every rank's part of
// its own segment), a sum of those parts in rank order, then an all-gather of the sums: the
// volume of a ring all-reduce, 2 (N-1)/N of the buffer per rank. Each phase has a communicator
// of its own, and each phase of every buffer is posted in queue order there, so the ranks'
// non-blocking collectives match whenever each rank gets round to driving them.
class RankOrderedReducer {
 public:
  RankOrderedReducer();  // duplicates the world communicator twice (collective)
  ~RankOrderedReducer();
  RankOrderedReducer(const RankOrderedReducer&) = delete;
  RankOrderedReducer& operator=(const RankOrderedReducer&) = delete;

  // Queues data[0, n) for summing in place, in T (float or double); n must be a multiple of
  // the world size (padded()), and the buffer must stay put until finish().
  template <class T>
  void start(T* data, size_t n, const char* what);
  // Moves queued sums along without blocking: call it often while computing.
  void progress();
  // Waits (with the Environment's timeout) until every queued sum is done; empties the queue.
  void finish();
  // n rounded up to a multiple of the world size.
  static size_t padded(size_t n);

 private:
  enum class Phase { Scatter, Gather, Done };
  struct Job {
    void* data;
    size_t n;
    const char* what;
    MPI_Datatype type;
    // Every rank's part of this rank's segment, in the buffer's element type.
    std::variant<std::vector<float, CachingAllocator<float>>,
                 std::vector<double, CachingAllocator<double>>>
        parts;
    MPI_Request request = MPI_REQUEST_NULL;
    Phase phase = Phase::Scatter;
  };
  // One step of `job`; with block, waits for its current phase. True when it moved on.
  bool advance(Job& job, bool block);
  std::deque<Job> jobs_;  // stable addresses: MPI holds pointers into them
  MPI_Comm scatter_ = MPI_COMM_NULL, gather_ = MPI_COMM_NULL;
  int rank_ = 0, ranks_ = 1;
};

}  // namespace ember::distributed::detail
