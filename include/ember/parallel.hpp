// Thread count for Ember's own parallel loops (GEMM, softmax, embedding backward, ...). Work is
// split into pieces fixed by the problem, never by the thread count, so results are
// bit-identical for any count.
#pragma once

#include <cstdint>
#include <functional>

namespace ember {

void set_num_threads(int threads);  // 1 = serial; default: the machine's hardware threads
int get_num_threads();

namespace detail {
// Runs fn(task) for every task in [0, tasks) on a persistent pool (the caller takes part) and
// returns when all are done. An exception thrown by any task reaches the caller (the one of the
// lowest task index); the other tasks still run to the end. Nested calls run serially.
void parallel_for(int64_t tasks, const std::function<void(int64_t)>& fn);

// Runs fn(lo, hi) over [0, rows) in contiguous chunks, one per thread, when `work` (a rough
// count of float operations) is large enough to pay for waking the pool. Each row must be
// computed by itself (a thread owns its rows), so the chunking does not change the result.
void parallel_rows(int64_t rows, int64_t work, const std::function<void(int64_t, int64_t)>& fn);
}  // namespace detail

}  // namespace ember
