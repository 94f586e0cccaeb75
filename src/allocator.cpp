// Tensor storage cache. Blocks of at least kMinCached bytes are rounded up to a size class
// (four per power of two: at most 25% over the request) and, when freed, kept in their class's
// free list for the next allocation of that class. Smaller blocks go to malloc directly: glibc
// serves them from its heap without page faults.
//
// Peak memory stays bounded: the cache holds at most kMaxCachedBytes of free blocks (a freed
// block that would exceed it goes back to the system), so the process's tensor memory is at
// most 1.25 x the live tensors' bytes + kMaxCachedBytes. A training loop that allocates the
// same shapes each step reuses the same blocks and stays flat (bench/soak.cpp checks).
#include "ember/allocator.hpp"

#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

namespace ember {

namespace {

constexpr std::size_t kMinCached = 64 << 10;
constexpr std::size_t kMaxCachedBytes = std::size_t(256) << 20;

std::size_t size_class(std::size_t bytes) {
  std::size_t pow = kMinCached;
  while (pow * 2 <= bytes) pow *= 2;
  std::size_t quarter = pow / 4;
  return (bytes + quarter - 1) / quarter * quarter;
}

struct Cache {
  std::mutex mutex;
  std::unordered_map<std::size_t, std::vector<void*>> free_blocks;
  std::size_t cached = 0;
  int64_t hits = 0, misses = 0;

  ~Cache() { release(); }
  void release() {
    for (auto& [bytes, blocks] : free_blocks)
      for (void* p : blocks) std::free(p);
    free_blocks.clear();
    cached = 0;
  }
};

// Never destroyed before the last tensor: tensors in static storage may outlive it otherwise.
Cache& cache() {
  static Cache* c = new Cache;
  return *c;
}

}  // namespace

void empty_cache() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  c.release();
}

CacheStats cache_stats() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  return {static_cast<int64_t>(c.cached), c.hits, c.misses};
}

namespace detail {

void* cached_alloc(std::size_t bytes) {
  if (bytes < kMinCached) {
    void* p = std::malloc(bytes == 0 ? 1 : bytes);
    if (!p) throw std::bad_alloc();
    return p;
  }
  std::size_t cls = size_class(bytes);
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mutex);
    auto it = c.free_blocks.find(cls);
    if (it != c.free_blocks.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      c.cached -= cls;
      ++c.hits;
      return p;
    }
    ++c.misses;
  }
  void* p = std::aligned_alloc(64, cls);  // 64: a cache line, and what AVX-512 loads like
  if (!p) throw std::bad_alloc();
  return p;
}

void cached_free(void* p, std::size_t bytes) noexcept {
  if (!p) return;
  if (bytes < kMinCached) {
    std::free(p);
    return;
  }
  std::size_t cls = size_class(bytes);
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mutex);
    if (c.cached + cls <= kMaxCachedBytes) {
      try {
        c.free_blocks[cls].push_back(p);
        c.cached += cls;
        return;
      } catch (...) {  // no memory for the list entry: give the block back instead
      }
    }
  }
  std::free(p);
}

}  // namespace detail

}  // namespace ember
