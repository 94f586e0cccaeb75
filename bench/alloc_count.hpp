// Counts heap allocations made by everything in a benchmark program (the library under test,
// libstdc++, OpenBLAS, LibTorch's c10 allocator): bench/alloc_count.cpp replaces glibc's malloc
// family in the program. operator new goes through malloc, so it is counted too. Counting is
// off unless an AllocCount is alive, so timed loops pay one relaxed load per allocation.
// Public headers only; link alloc_count.cpp into the program that includes this.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdint>

namespace bench {

void alloc_counting(bool on);
uint64_t alloc_total();  // allocations counted since the program started (while counting)

// Allocations made between construction and count(), by every thread.
class AllocCount {
 public:
  AllocCount() : start_(alloc_total()) { alloc_counting(true); }
  ~AllocCount() { alloc_counting(false); }
  AllocCount(const AllocCount&) = delete;
  AllocCount& operator=(const AllocCount&) = delete;
  uint64_t count() const { return alloc_total() - start_; }

 private:
  uint64_t start_;
};

// Counters of a training step of `ops` recorded ops, counted over `reps` steps outside the timed
// loop: allocations per step, per recorded op, and per recorded op of the forward alone.
// forward() returns the loss; backward(loss) runs the backward pass.
template <class Forward, class Backward>
void count_allocations(benchmark::State& state, int ops, Forward forward, Backward backward) {
  const int reps = 1000;
  uint64_t fwd = 0, all = 0;
  for (int i = 0; i < reps; ++i) {
    AllocCount count;
    auto loss = forward();
    fwd += count.count();
    backward(loss);
    all += count.count();
  }
  const double per_step = static_cast<double>(all) / reps;
  state.counters["allocs_per_iter"] = per_step;
  state.counters["allocs_per_op"] = per_step / ops;
  state.counters["allocs_fwd_per_op"] = static_cast<double>(fwd) / reps / ops;
}

}  // namespace bench
