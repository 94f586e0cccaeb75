// Row-partitioned parallel loops on std::thread.
#include "ember/parallel.hpp"

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

#include "ember/error.hpp"

namespace ember {

namespace {
std::atomic<int> num_threads{std::max(1, static_cast<int>(std::thread::hardware_concurrency()))};
// Below this much work a thread start (~20 µs) costs more than it saves.
constexpr int64_t kMinParallelWork = 1 << 18;
}  // namespace

void set_num_threads(int threads) {
  EMBER_CHECK_VALUE(threads >= 1, "set_num_threads: expected at least 1 thread, got ", threads);
  num_threads = threads;
}

int get_num_threads() { return num_threads; }

namespace detail {
void parallel_rows(int64_t rows, int64_t work, const std::function<void(int64_t, int64_t)>& fn) {
  int64_t threads = std::min<int64_t>(num_threads, rows);
  if (threads <= 1 || work < kMinParallelWork) {
    fn(0, rows);
    return;
  }
  std::vector<std::thread> pool;
  int64_t chunk = (rows + threads - 1) / threads;
  for (int64_t t = 1; t < threads; ++t) {
    int64_t lo = t * chunk, hi = std::min(rows, lo + chunk);
    if (lo < hi) pool.emplace_back(fn, lo, hi);
  }
  fn(0, std::min(rows, chunk));
  for (auto& th : pool) th.join();
}
}  // namespace detail

}  // namespace ember
