// The allocator of tensor storage: a cache of freed blocks inside Ember. A fresh block of a few
// MB costs a page fault per 4 KiB page (~10 µs each on the 2-core machines: a 1 MB add took
// 2 ms instead of 36 µs); reusing the block of the last step's tensor does not. Ember keeps its
// own cache rather than changing the process's malloc settings (mallopt).
//
// A freed block serves later requests of other sizes (best fit, split when larger; requests
// under 1 MiB share 2 MiB segments, a larger request takes a block up to twice its size);
// neighbouring free blocks merge. What the cache holds is bounded (by default 256 MiB or the
// most bytes ever live at once, whichever is larger; `EMBER_CACHE_BYTES` read once at the
// first allocation, or set_cache_limit, fixes it), returned when no allocation has reused it
// for a while, and all of it at empty_cache(). Blocks of 256 bytes or less are kept freed per
// thread (up to 64 of each 64-byte size) and reused before malloc is called.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>

namespace ember {

// Returns the cached free blocks to the system (live tensors are untouched), as
// torch.cuda.empty_cache does.
void empty_cache();

// The most bytes of free blocks the cache keeps; beyond it, freed blocks go back to the system
// at once. 0 turns caching off. Throws ValueError for a negative value.
void set_cache_limit(int64_t bytes);
int64_t cache_limit();

struct CacheStats {
  int64_t cached_bytes = 0;     // free blocks kept for reuse (what the limit bounds)
  int64_t allocated_bytes = 0;  // blocks in use by tensors (sizes as the cache rounds them)
  int64_t reserved_bytes = 0;   // all memory taken from the system, in use, cached or returned
                                // page by page inside a segment still partly in use
  int64_t limit_bytes = 0;      // cache_limit()
  int64_t hits = 0;             // allocations served from the cache
  int64_t misses = 0;           // allocations that took memory from the system
  int64_t releases = 0;         // free blocks given back to the system (bound, idle, empty)
  // The bytes live tensors asked for, exactly (no rounding, no cache; tiny blocks included),
  // and the most at once since the last reset_peak_stats(): torch.cuda's memory_allocated and
  // max_memory_allocated. What a step's activations take is the difference of two readings.
  int64_t requested_bytes = 0;
  int64_t peak_requested_bytes = 0;
};
CacheStats cache_stats();
// Starts peak_requested_bytes again from what is live now (torch.cuda.reset_peak_memory_stats).
void reset_peak_stats();

namespace detail {
void* cached_alloc(std::size_t bytes);
void cached_free(void* p, std::size_t bytes) noexcept;
[[noreturn]] void throw_too_large(std::size_t count, std::size_t element_bytes);
}  // namespace detail

template <class T>
struct CachingAllocator {
  using value_type = T;
  CachingAllocator() noexcept = default;
  template <class U>
  CachingAllocator(const CachingAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) {
    // n * sizeof(T) must not wrap around to a small request.
    if (n > std::numeric_limits<std::size_t>::max() / sizeof(T))
      detail::throw_too_large(n, sizeof(T));
    return static_cast<T*>(detail::cached_alloc(n * sizeof(T)));
  }
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
