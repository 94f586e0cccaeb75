// A persistent thread pool: workers start once and wait for work, so a parallel region costs a
// wake-up (a few µs) instead of a thread start (~20 µs on the 2-core machines).
#include "ember/parallel.hpp"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "ember/error.hpp"

namespace ember {

namespace {
std::atomic<int> num_threads{std::max(1, static_cast<int>(std::thread::hardware_concurrency()))};
// Below this much work waking a worker costs more than it saves (measured with
// bench/ember_bench's softmax and embedding cases on the 2-core machines).
constexpr int64_t kMinParallelWork = 1 << 16;

thread_local bool inside_pool = false;
// A child made by fork() has none of the workers (only the forking thread is copied): there the
// pool would wait for them forever, so the child runs every region alone.
std::atomic<bool> forked_child{false};

// How long a thread waits awake before sleeping on a condition variable: the caller for its
// helpers to finish, a helper for the next region. A sleeping thread takes tens of µs to wake
// on the virtual 2-core machines; a spinning one, a fraction of a µs.
constexpr auto kSpinCaller = std::chrono::microseconds(200);
constexpr auto kSpinHelper = std::chrono::microseconds(50);

template <class Ready>
void spin_until(Ready ready, std::chrono::microseconds budget) {
  const auto end = std::chrono::steady_clock::now() + budget;
  for (int i = 1; !ready(); ++i) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
    if (i % 64 == 0 && std::chrono::steady_clock::now() > end) return;
  }
}

class Pool {
 public:
  Pool() {
    pthread_atfork(nullptr, nullptr, [] { forked_child = true; });
  }

  // Runs the job on `threads` threads (caller included); false when another caller holds the
  // pool, and then the caller runs the job alone.
  bool run(int64_t tasks, int threads, const std::function<void(int64_t)>& fn) {
    std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
    if (!busy.owns_lock()) return false;
    grow(threads - 1);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      fn_ = &fn;
      tasks_ = tasks;
      next_ = 0;
      errors_.assign(static_cast<size_t>(tasks), nullptr);
      helpers_ = threads - 1;
      running_ = 0;
      closed_ = false;
      ++generation_;
    }
    wake_.notify_all();
    work();
    // Every task is taken once the caller's work() returns. A helper that has not woken by now
    // would find nothing to do, so the job is closed to it: waiting for a wake-up that can take
    // tens of µs on a virtual machine made small regions slower than serial ones.
    {
      std::lock_guard<std::mutex> lock(mutex_);
      closed_ = true;
    }
    // The helpers still running usually finish within µs: wait for them awake, and sleep only
    // if they take long (being woken from a sleep costs more than a small region).
    spin_until([&] { return running_.load(std::memory_order_acquire) == 0; }, kSpinCaller);
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [&] { return running_.load(std::memory_order_acquire) == 0; });
    fn_ = nullptr;
    for (auto& e : errors_)
      if (e) std::rethrow_exception(e);
    return true;
  }

 private:
  void grow(int wanted) {
    while (static_cast<int>(workers_.size()) < wanted)
      workers_.emplace_back([this, id = static_cast<int>(workers_.size())] { loop(id); });
  }

  // Tasks are taken in order from a shared counter; which thread runs a task does not matter
  // because tasks write disjoint outputs.
  void work() {
    inside_pool = true;
    for (int64_t t; (t = next_.fetch_add(1)) < tasks_;) {
      try {
        (*fn_)(t);
      } catch (...) {
        errors_[static_cast<size_t>(t)] = std::current_exception();
      }
    }
    inside_pool = false;
  }

  void loop(int id) {
    uint64_t seen = 0;
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      // A training step runs region after region: look for the next one awake for a moment
      // before sleeping, as OpenMP runtimes do.
      lock.unlock();
      spin_until([&] { return generation_.load(std::memory_order_acquire) != seen; }, kSpinHelper);
      lock.lock();
      wake_.wait(lock, [&] { return generation_ != seen && id < helpers_; });
      seen = generation_;
      if (closed_) continue;  // woke after the caller had taken every task
      running_.fetch_add(1, std::memory_order_relaxed);
      lock.unlock();
      work();
      lock.lock();
      if (running_.fetch_sub(1, std::memory_order_acq_rel) == 1) done_.notify_one();
    }
  }

  std::mutex busy_;  // one job at a time
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  std::vector<std::thread> workers_;
  const std::function<void(int64_t)>* fn_ = nullptr;
  int64_t tasks_ = 0;
  std::atomic<int64_t> next_{0};
  std::vector<std::exception_ptr> errors_;
  int helpers_ = 0;
  std::atomic<int> running_{0};  // helpers inside work() for the current job
  bool closed_ = false;          // the caller is done: helpers waking now skip the job
  std::atomic<uint64_t> generation_{0};
};

// Never destroyed: workers wait on it until the process ends (a static destructor would have to
// join threads that may be gone, in a forked child or at exit).
Pool& pool() {
  static Pool* p = new Pool;
  return *p;
}
}  // namespace

void set_num_threads(int threads) {
  EMBER_CHECK_VALUE(threads >= 1, "set_num_threads: expected at least 1 thread, got ", threads);
  num_threads = threads;
}

int get_num_threads() { return num_threads; }

namespace detail {

void parallel_for(int64_t tasks, const std::function<void(int64_t)>& fn) {
  int threads = static_cast<int>(std::min<int64_t>(num_threads, tasks));
  if (threads > 1 && !inside_pool && !forked_child && pool().run(tasks, threads, fn)) return;
  for (int64_t t = 0; t < tasks; ++t) fn(t);
}

void parallel_rows(int64_t rows, int64_t work, const std::function<void(int64_t, int64_t)>& fn) {
  int64_t threads = std::min<int64_t>(num_threads, rows);
  if (threads <= 1 || work < kMinParallelWork) {
    fn(0, rows);
    return;
  }
  int64_t chunk = (rows + threads - 1) / threads;
  parallel_for(threads, [&](int64_t t) {
    int64_t lo = t * chunk, hi = std::min(rows, lo + chunk);
    if (lo < hi) fn(lo, hi);
  });
}

}  // namespace detail

}  // namespace ember
