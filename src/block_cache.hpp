// The cache of tensor blocks of kMinCached bytes and more (allocator.cpp says which requests
// come here and ember/allocator.hpp what it promises).
//
// Requests under kSmallRequest share kSmallSegment-byte segments, so that their blocks lie side
// by side and merge back into larger ones; a larger request gets a segment of its own size. A
// request takes the smallest free block that holds it (best fit, across sizes) and splits off
// the rest when the rest is worth keeping. A large request takes no block more than twice its
// size, so that a 2 MB tensor does not pin a 60 MB block a later 60 MB request needs. A freed
// block merges with its free neighbours.
//
// The old cache kept one free list per size class, so it held each class's largest set of
// blocks at once and a block never served another class.
//
// Memory goes back to the system when the free blocks exceed the limit (oldest freed first),
// when a free block has not been reused for kIdleAllocations allocations, and at
// empty_cache(): a whole free segment with free(), a free part of a segment still in use with
// madvise(MADV_DONTNEED), which keeps the addresses and drops the pages. Tensor memory is at
// most the live blocks plus the limit; a training loop that allocates the same shapes each
// step reuses the same memory (bench/soak.cpp and test_allocator.cpp check).
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define EMBER_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define EMBER_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define EMBER_POISON(p, n) ((void)(p), (void)(n))
#define EMBER_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace ember::detail {

constexpr std::size_t kMinCached = 64 << 10;  // smaller requests go to malloc
// No 64-bit Linux gives a process more address space (x86-64 with 5-level paging: 2^56), and
// rounding a request near 2^64 up to a page would wrap around.
constexpr std::size_t kMaxRequest = std::size_t(1) << 56;

// "1073741824 bytes (1.0 GiB)", for the allocator's errors.
std::string human(std::size_t bytes);
[[noreturn]] void throw_out_of_memory(std::size_t bytes);

struct Block {
  char* ptr = nullptr;
  std::size_t size = 0;
  bool small = false;  // carved from a shared small segment
  bool free = false;
  bool resident = true;      // may hold pages (false after madvise until it is used again)
  uint64_t freed_at = 0;     // the allocation count when it was last freed (for idleness)
  uint64_t freed_order = 0;  // when, counting frees too (oldest first under the limit)
  Block* prev = nullptr;     // neighbours in the segment, by address
  Block* next = nullptr;
  Block* free_prev = nullptr;  // in its pool's free list
  Block* free_next = nullptr;
};

// Free blocks of one pool, one list per power of two, each sorted by size then address, so
// that a walk from the request's power meets the sizes in increasing order.
struct FreeLists {
  Block* head[64] = {};

  static int bucket(std::size_t size) { return 63 - __builtin_clzll(size); }

  void insert(Block* b) {
    Block** at = &head[bucket(b->size)];
    Block* before = nullptr;
    while (*at && ((*at)->size < b->size || ((*at)->size == b->size && (*at)->ptr < b->ptr))) {
      before = *at;
      at = &(*at)->free_next;
    }
    b->free_prev = before;
    b->free_next = *at;
    if (*at) (*at)->free_prev = b;
    *at = b;
  }
  void erase(Block* b) {
    if (b->free_prev)
      b->free_prev->free_next = b->free_next;
    else
      head[bucket(b->size)] = b->free_next;
    if (b->free_next) b->free_next->free_prev = b->free_prev;
    b->free_prev = b->free_next = nullptr;
  }
  // The smallest block of at least n bytes and at most max_size, or nullptr.
  Block* best_fit(std::size_t n, std::size_t max_size) const {
    for (int k = bucket(n); k < 64; ++k)
      for (Block* b = head[k]; b; b = b->free_next) {
        if (b->size > max_size) return nullptr;
        if (b->size >= n) return b;
      }
    return nullptr;
  }
  template <class F>
  void for_each(F&& f) const {  // f may release (and so unlink) the block it is given
    for (Block* list : head)
      for (Block *b = list, *next = nullptr; b; b = next) {
        next = b->free_next;
        f(b);
      }
  }
};

class BlockCache {
 public:
  BlockCache();
  // A page-aligned block of at least `bytes` (kMinCached <= bytes <= kMaxRequest): a cached one,
  // else from a fresh segment (when the system refuses, the cache is emptied and the request
  // retried; then OutOfMemoryError).
  void* allocate(std::size_t bytes);
  void free(void* p);                 // a block allocate() gave out
  void empty();                       // every free block back to the system (empty_cache)
  void set_limit(std::size_t bytes);  // fixed from now on (set_cache_limit)
  struct Counts {
    std::size_t cached = 0, allocated = 0, reserved = 0, limit = 0;
    int64_t hits = 0, misses = 0, releases = 0;
  };
  Counts counts();

 private:
  FreeLists& pool(const Block* b) { return b->small ? small_free_ : large_free_; }
  void add_free(Block* b);
  void remove_free(Block* b);
  void* take(Block* b, std::size_t n, std::size_t bytes);
  static void absorb(Block* b, Block* right);
  Block* give_back(Block* b);
  void release(Block* b);
  void enforce_limit();
  void trim_idle();
  void release_all();

  std::mutex mutex_;
  FreeLists small_free_, large_free_;
  std::unordered_map<void*, Block*> live_;
  std::size_t limit_;
  // Without EMBER_CACHE_BYTES (or with it empty) and without set_cache_limit, the bound rises to
  // the most bytes ever live at once: a step that frees more than 256 MiB of activations and
  // allocates them again next step (GPT-2 124M: about 600 MiB) then reuses its blocks instead
  // of faulting fresh pages in (a 4.4 s step became 1.5 s here). Tensor memory stays within
  // twice the program's own peak.
  bool follows_peak_;
  std::size_t cached_ = 0, allocated_ = 0, reserved_ = 0;
  uint64_t allocations_ = 0, frees_ = 0;
  int64_t hits_ = 0, misses_ = 0, releases_ = 0;
};

// The process's cache. Never destroyed before the last tensor: tensors in static storage may
// outlive it otherwise.
BlockCache& block_cache();

}  // namespace ember::detail
