// Tensor storage cache (ember/allocator.hpp says what it promises).
//
// Requests under kMinCached go to malloc: glibc serves them from its heap without page faults.
// The tiniest (a 4x4 tensor, a scalar loss: what per-op overhead is made of) are kept freed in
// a per-thread list per size, so a training step reuses them without a call to malloc.
// Larger ones are rounded up to whole pages and carved from segments taken from the system:
// requests under kSmallRequest share kSmallSegment-byte segments, so that their blocks lie side
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
#include "ember/allocator.hpp"

#include <sys/mman.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <unordered_map>

#include "ember/error.hpp"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define EMBER_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define EMBER_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define EMBER_POISON(p, n) ((void)(p), (void)(n))
#define EMBER_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace ember {

namespace {

// The bytes tensors asked for and hold now, of every size (tiny, malloc'd and cached blocks
// alike, before any rounding), and the most at once since the last reset_peak_stats(): what a
// step's activations take, free of the cache's rounding and of what it keeps.
std::atomic<int64_t> requested{0}, peak_requested{0};

void note_requested(std::size_t bytes) {
  const int64_t now = requested.fetch_add(static_cast<int64_t>(bytes), std::memory_order_relaxed) +
                      static_cast<int64_t>(bytes);
  int64_t peak = peak_requested.load(std::memory_order_relaxed);
  while (now > peak &&
         !peak_requested.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
}

constexpr std::size_t kMinCached = 64 << 10;
constexpr std::size_t kPage = 4096;
constexpr std::size_t kSmallRequest = 1 << 20;
constexpr std::size_t kSmallSegment = 2 << 20;
constexpr std::size_t kDefaultLimit = std::size_t(256) << 20;
// No 64-bit Linux gives a process more address space (x86-64 with 5-level paging: 2^56), and
// rounding a request near 2^64 up to a page would wrap around.
constexpr std::size_t kMaxRequest = std::size_t(1) << 56;
constexpr uint64_t kIdleAllocations = 4096;
constexpr uint64_t kSweepEvery = 256;

std::string human(std::size_t bytes) {
  const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 6) v /= 1024, ++u;
  char text[64];
  std::snprintf(text, sizeof text, "%zu bytes (%.1f %s)", bytes, v, units[u]);
  return text;
}

[[noreturn]] void throw_out_of_memory(std::size_t bytes) {
  throw OutOfMemoryError("allocator: out of memory: the system refused " + human(bytes) +
                         " for tensor storage (the cache was emptied and the request retried)");
}

// EMBER_CACHE_BYTES: a byte count, with an optional K, M or G (powers of 1024).
std::size_t limit_from_environment() {
  const char* text = std::getenv("EMBER_CACHE_BYTES");
  if (!text || !*text) return kDefaultLimit;
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(text, &end, 10);
  int shift = 0;
  if (*end == 'K' || *end == 'k') shift = 10, ++end;
  if (*end == 'M' || *end == 'm') shift = 20, ++end;
  if (*end == 'G' || *end == 'g') shift = 30, ++end;
  EMBER_CHECK_VALUE(
      end != text && *end == '\0' && errno == 0 && text[0] != '-' && (v << shift >> shift) == v,
      "EMBER_CACHE_BYTES: expected a byte count such as 268435456, 512M or 2G, got '", text, "'");
  return static_cast<std::size_t>(v << shift);
}

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

struct Cache {
  std::mutex mutex;
  FreeLists small_free, large_free;
  std::unordered_map<void*, Block*> live;
  std::size_t limit = limit_from_environment();
  // Without EMBER_CACHE_BYTES or set_cache_limit, the bound rises to the most bytes ever live at
  // once: a step that frees more than 256 MiB of activations and allocates them again next step
  // (GPT-2 124M: about 600 MiB) then reuses its blocks instead of faulting fresh pages in (a
  // 4.4 s step became 1.5 s here). Tensor memory stays within twice the program's own peak.
  // (Set but empty counts as unset, as limit_from_environment reads it.)
  bool follows_peak = [] {
    const char* text = std::getenv("EMBER_CACHE_BYTES");
    return !text || !*text;
  }();
  std::size_t cached = 0, allocated = 0, reserved = 0;
  uint64_t allocations = 0, frees = 0;
  int64_t hits = 0, misses = 0, releases = 0;

  FreeLists& pool(const Block* b) { return b->small ? small_free : large_free; }
  void add_free(Block* b) {
    pool(b).insert(b);
    if (b->resident) cached += b->size;
  }
  void remove_free(Block* b) {
    pool(b).erase(b);
    if (b->resident) cached -= b->size;
  }

  // Hands out free block b for a request of `bytes` rounded up to n (n <= b->size), splitting
  // off the rest.
  void* take(Block* b, std::size_t n, std::size_t bytes) {
    const std::size_t keep = b->small ? kMinCached : kSmallRequest;
    Block* rest = b->size - n >= keep ? new Block : nullptr;
    try {
      live.emplace(b->ptr, b);
    } catch (...) {
      delete rest;
      throw;
    }
    remove_free(b);
    if (rest) {
      rest->ptr = b->ptr + n;
      rest->size = b->size - n;
      rest->small = b->small;
      rest->free = true;
      rest->resident = b->resident;
      rest->freed_at = b->freed_at;
      rest->freed_order = b->freed_order;
      rest->prev = b;
      rest->next = b->next;
      if (b->next) b->next->prev = rest;
      b->next = rest;
      b->size = n;
      add_free(rest);
    }
    b->free = false;
    allocated += b->size;
    if (follows_peak && allocated > limit) limit = allocated;
    EMBER_UNPOISON(b->ptr, bytes);  // under ASan, reading past the tensor is caught
    return b->ptr;
  }

  // Absorbs free neighbour `right` (b's next) into b; both are out of the free lists.
  static void absorb(Block* b, Block* right) {
    b->size += right->size;
    b->next = right->next;
    if (right->next) right->next->prev = b;
    b->resident = b->resident || right->resident;
    delete right;
  }

  // Returns the free block b became part of.
  Block* give_back(Block* b) {
    b->free = true;
    b->resident = true;
    b->freed_at = allocations;
    b->freed_order = allocations + ++frees;
    EMBER_POISON(b->ptr, b->size);
    if (b->prev && b->prev->free) {
      Block* left = b->prev;
      remove_free(left);
      absorb(left, b);
      b = left;
    }
    if (b->next && b->next->free) {
      Block* right = b->next;
      remove_free(right);
      absorb(b, right);
    }
    add_free(b);
    return b;
  }

  // Returns free block b's memory: the whole segment when b is one, else its pages.
  void release(Block* b) {
    if (!b->prev && !b->next) {
      ++releases;
      remove_free(b);
      reserved -= b->size;
      // glibc may keep a freed block in its heap, pages and all: drop the pages first.
      madvise(b->ptr, b->size, MADV_DONTNEED);
      EMBER_UNPOISON(b->ptr, b->size);
      std::free(b->ptr);
      delete b;
    } else if (b->resident) {
      ++releases;
      madvise(b->ptr, b->size, MADV_DONTNEED);
      b->resident = false;
      cached -= b->size;
    }
  }

  void enforce_limit() {
    while (cached > limit) {
      Block* oldest = nullptr;
      auto consider = [&](Block* b) {
        if (b->resident && (!oldest || b->freed_order < oldest->freed_order)) oldest = b;
      };
      small_free.for_each(consider);
      large_free.for_each(consider);
      release(oldest);  // cached > 0, so some free block is resident
    }
  }

  void trim_idle() {
    auto idle = [&](Block* b) {
      if (allocations - b->freed_at >= kIdleAllocations) release(b);
    };
    small_free.for_each(idle);
    large_free.for_each(idle);
  }

  void release_all() {
    auto all = [&](Block* b) { release(b); };
    small_free.for_each(all);
    large_free.for_each(all);
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
  c.release_all();
}

void set_cache_limit(int64_t bytes) {
  EMBER_CHECK_VALUE(bytes >= 0, "set_cache_limit: the limit must be >= 0 bytes, got ", bytes);
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  c.limit = static_cast<std::size_t>(bytes);
  c.follows_peak = false;
  c.enforce_limit();
}

int64_t cache_limit() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  return static_cast<int64_t>(c.limit);
}

CacheStats cache_stats() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  CacheStats s;
  s.cached_bytes = static_cast<int64_t>(c.cached);
  s.allocated_bytes = static_cast<int64_t>(c.allocated);
  s.reserved_bytes = static_cast<int64_t>(c.reserved);
  s.limit_bytes = static_cast<int64_t>(c.limit);
  s.hits = c.hits;
  s.misses = c.misses;
  s.releases = c.releases;
  s.requested_bytes = requested.load(std::memory_order_relaxed);
  s.peak_requested_bytes = peak_requested.load(std::memory_order_relaxed);
  return s;
}

void reset_peak_stats() {
  peak_requested.store(requested.load(std::memory_order_relaxed), std::memory_order_relaxed);
}

namespace {

// Freed blocks of up to kTinyBytes, per thread, in classes of kTinyStep bytes: at most
// kTinyKept per class (a few KiB a thread), returned to malloc when the thread ends. After
// that (a tensor in static storage freed at exit) blocks go straight back to malloc.
constexpr std::size_t kTinyStep = 64, kTinyBytes = 256, kTinyKept = 64;
struct TinyBlocks {
  void* blocks[kTinyBytes / kTinyStep][kTinyKept];
  std::size_t count[kTinyBytes / kTinyStep] = {};
  bool ended = false;
  ~TinyBlocks() {
    for (std::size_t c = 0; c < kTinyBytes / kTinyStep; ++c)
      for (std::size_t i = 0; i < count[c]; ++i) {
        EMBER_UNPOISON(blocks[c][i], (c + 1) * kTinyStep);
        std::free(blocks[c][i]);
      }
    ended = true;
  }
};
thread_local TinyBlocks tiny;
std::size_t tiny_class(std::size_t bytes) { return bytes == 0 ? 0 : (bytes - 1) / kTinyStep; }

void* allocate(std::size_t bytes);

}  // namespace

namespace detail {

void throw_too_large(std::size_t count, std::size_t element_bytes) {
  throw Error("allocator: cannot allocate " + std::to_string(count) + " elements of " +
              std::to_string(element_bytes) + " bytes: the size does not fit in 64 bits");
}

void* cached_alloc(std::size_t bytes) {
  void* p = allocate(bytes);
  note_requested(bytes);
  return p;
}

}  // namespace detail

namespace {

void* allocate(std::size_t bytes) {
  if (bytes <= kTinyBytes) {
    const std::size_t c = tiny_class(bytes);
    if (tiny.count[c] > 0 && !tiny.ended) {
      void* p = tiny.blocks[c][--tiny.count[c]];
      EMBER_UNPOISON(p, (c + 1) * kTinyStep);
      return p;
    }
    void* p = std::malloc((c + 1) * kTinyStep);
    if (!p) throw_out_of_memory(bytes);
    return p;
  }
  if (bytes < kMinCached) {
    void* p = std::malloc(bytes == 0 ? 1 : bytes);
    if (!p) throw_out_of_memory(bytes);
    return p;
  }
  // Checked before any rounding: the old size-class loop never ended for 2^63 bytes or more.
  if (bytes > kMaxRequest)
    throw Error("allocator: cannot allocate " + human(bytes) +
                " for tensor storage: more than a 64-bit process can address (2^56 bytes)");
  const std::size_t n = (bytes + kPage - 1) / kPage * kPage;
  const bool small = n < kSmallRequest;
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mutex);
    if (++c.allocations % kSweepEvery == 0) c.trim_idle();
    FreeLists& pool = small ? c.small_free : c.large_free;
    if (Block* b = pool.best_fit(n, small ? kSmallSegment : 2 * n)) {
      ++c.hits;
      return c.take(b, n, bytes);
    }
    ++c.misses;
  }
  // Taken outside the lock: a fresh mapping of many MB should not stall other threads.
  const std::size_t segment = small ? kSmallSegment : n;
  void* mem = std::aligned_alloc(kPage, segment);
  if (!mem) {
    {
      std::lock_guard<std::mutex> lock(c.mutex);
      c.release_all();
    }
    mem = std::aligned_alloc(kPage, segment);
    if (!mem) throw_out_of_memory(bytes);
  }
  std::lock_guard<std::mutex> lock(c.mutex);
  Block* b = nullptr;
  try {
    b = new Block;
  } catch (...) {
    std::free(mem);
    throw;
  }
  b->ptr = static_cast<char*>(mem);
  b->size = segment;
  b->small = small;
  b->free = true;
  b->freed_at = c.allocations;
  b->freed_order = c.allocations + c.frees;
  EMBER_POISON(b->ptr, b->size);
  c.reserved += segment;
  c.add_free(b);
  void* p = c.take(b, n, bytes);  // on a throw the segment stays cached, as a freed one would
  if (c.cached > c.limit) c.enforce_limit();
  return p;
}

}  // namespace

namespace detail {

void cached_free(void* p, std::size_t bytes) noexcept {
  if (!p) return;
  requested.fetch_sub(static_cast<int64_t>(bytes), std::memory_order_relaxed);
  if (bytes <= kTinyBytes) {
    const std::size_t c = tiny_class(bytes);
    if (tiny.count[c] == kTinyKept || tiny.ended) {
      std::free(p);
      return;
    }
    EMBER_POISON(p, (c + 1) * kTinyStep);
    tiny.blocks[c][tiny.count[c]++] = p;
    return;
  }
  if (bytes < kMinCached) {
    std::free(p);
    return;
  }
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  auto it = c.live.find(p);
  if (it == c.live.end()) return;  // not from cached_alloc: never happens through the allocator
  Block* b = it->second;
  c.live.erase(it);
  c.allocated -= b->size;
  b = c.give_back(b);
  if (b->size > c.limit) c.release(b);  // older blocks that fit stay: this one never would
  if (c.cached > c.limit) c.enforce_limit();
}

}  // namespace detail

}  // namespace ember
