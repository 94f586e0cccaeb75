// Tensor storage (ember/allocator.hpp says what it promises): each request by its size, and the
// count of the bytes tensors hold.
//
// Requests under kMinCached go to malloc: glibc serves them from its heap without page faults.
// The tiniest (a 4x4 tensor, a scalar loss: what per-op overhead is made of) are kept freed in
// a per-thread list per size, so a training step reuses them without a call to malloc. Larger
// ones come from the block cache (block_cache.hpp), rounded up to whole pages.
#include "ember/allocator.hpp"

#include <atomic>
#include <cstdlib>
#include <string>

#include "block_cache.hpp"
#include "ember/error.hpp"

namespace ember {

using detail::block_cache;
using detail::kMaxRequest;
using detail::kMinCached;
using detail::throw_out_of_memory;

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

}  // namespace

void empty_cache() { block_cache().empty(); }

void set_cache_limit(int64_t bytes) {
  EMBER_CHECK_VALUE(bytes >= 0, "set_cache_limit: the limit must be >= 0 bytes, got ", bytes);
  block_cache().set_limit(static_cast<std::size_t>(bytes));
}

int64_t cache_limit() { return static_cast<int64_t>(block_cache().counts().limit); }

CacheStats cache_stats() {
  const detail::BlockCache::Counts c = block_cache().counts();
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

namespace detail {

void throw_too_large(std::size_t count, std::size_t element_bytes) {
  throw Error("allocator: cannot allocate " + std::to_string(count) + " elements of " +
              std::to_string(element_bytes) + " bytes: the size does not fit in 64 bits");
}

void* cached_alloc(std::size_t bytes) {
  void* p = nullptr;
  if (bytes <= kTinyBytes) {
    const std::size_t c = tiny_class(bytes);
    if (tiny.count[c] > 0 && !tiny.ended) {
      p = tiny.blocks[c][--tiny.count[c]];
      EMBER_UNPOISON(p, (c + 1) * kTinyStep);
    } else {
      p = std::malloc((c + 1) * kTinyStep);
      if (!p) throw_out_of_memory(bytes);
    }
  } else if (bytes < kMinCached) {
    p = std::malloc(bytes);
    if (!p) throw_out_of_memory(bytes);
  } else {
    // Checked before any rounding: the old size-class loop never ended for 2^63 bytes or more.
    if (bytes > kMaxRequest)
      throw Error("allocator: cannot allocate " + human(bytes) +
                  " for tensor storage: more than a 64-bit process can address (2^56 bytes)");
    p = block_cache().allocate(bytes);
  }
  note_requested(bytes);
  return p;
}

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
  block_cache().free(p);
}

}  // namespace detail

}  // namespace ember
