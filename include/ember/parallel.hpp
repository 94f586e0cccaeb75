// Thread count for Ember's own parallel loops (embedding backward, ...). Work is split by
// output rows, each thread owning its rows, so results are bit-identical for any count.
#pragma once

#include <cstdint>
#include <functional>

namespace ember {

void set_num_threads(int threads);  // 1 = serial; default: the machine's hardware threads
int get_num_threads();

namespace detail {
// Runs fn(lo, hi) over [0, rows) in contiguous chunks, one per thread, when `work` (a rough
// count of float operations) is large enough to pay for starting threads.
void parallel_rows(int64_t rows, int64_t work, const std::function<void(int64_t, int64_t)>& fn);
}  // namespace detail

}  // namespace ember
