// The allocator of tensor storage: a size-bucketed cache of freed blocks inside Ember. A fresh
// block of a few MB costs a page fault per 4 KiB page (~10 µs each on the 2-core machines: a
// 1 MB add took 2 ms instead of 36 µs); reusing the block of the last step's tensor does not.
// Ember keeps its own cache rather than changing the process's malloc settings (mallopt).
#pragma once

#include <cstddef>
#include <cstdint>

namespace ember {

// Returns the cached free blocks to the system (live tensors are untouched).
void empty_cache();

struct CacheStats {
  int64_t cached_bytes = 0;  // free blocks kept for reuse
  int64_t hits = 0;          // allocations served from the cache
  int64_t misses = 0;        // allocations that went to malloc (cacheable sizes only)
};
CacheStats cache_stats();

namespace detail {
void* cached_alloc(std::size_t bytes);
void cached_free(void* p, std::size_t bytes) noexcept;
}  // namespace detail

template <class T>
struct CachingAllocator {
  using value_type = T;
  CachingAllocator() noexcept = default;
  template <class U>
  CachingAllocator(const CachingAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) { return static_cast<T*>(detail::cached_alloc(n * sizeof(T))); }
  void deallocate(T* p, std::size_t n) noexcept { detail::cached_free(p, n * sizeof(T)); }
};

template <class T, class U>
bool operator==(const CachingAllocator<T>&, const CachingAllocator<U>&) noexcept {
  return true;
}
template <class T, class U>
bool operator!=(const CachingAllocator<T>&, const CachingAllocator<U>&) noexcept {
  return false;
}

}  // namespace ember
