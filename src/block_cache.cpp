// The block cache's mechanics (block_cache.hpp): segments, best fit, split and merge, and
// giving memory back.
#include "block_cache.hpp"

#include <sys/mman.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <new>

#include "ember/error.hpp"

namespace ember::detail {

namespace {

constexpr std::size_t kPage = 4096;
constexpr std::size_t kSmallRequest = 1 << 20;
constexpr std::size_t kSmallSegment = 2 << 20;
constexpr std::size_t kDefaultLimit = std::size_t(256) << 20;
constexpr uint64_t kIdleAllocations = 4096;
constexpr uint64_t kSweepEvery = 256;

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

}  // namespace

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

BlockCache::BlockCache() : limit_(limit_from_environment()) {
  const char* text = std::getenv("EMBER_CACHE_BYTES");
  follows_peak_ = !text || !*text;
}

BlockCache& block_cache() {
  static BlockCache* c = new BlockCache;
  return *c;
}

void BlockCache::add_free(Block* b) {
  pool(b).insert(b);
  if (b->resident) cached_ += b->size;
}

void BlockCache::remove_free(Block* b) {
  pool(b).erase(b);
  if (b->resident) cached_ -= b->size;
}

// Hands out free block b for a request of `bytes` rounded up to n (n <= b->size), splitting off
// the rest.
void* BlockCache::take(Block* b, std::size_t n, std::size_t bytes) {
  const std::size_t keep = b->small ? kMinCached : kSmallRequest;
  Block* rest = b->size - n >= keep ? new Block : nullptr;
  try {
    live_.emplace(b->ptr, b);
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
  allocated_ += b->size;
  if (follows_peak_ && allocated_ > limit_) limit_ = allocated_;
  EMBER_UNPOISON(b->ptr, bytes);  // under ASan, reading past the tensor is caught
  return b->ptr;
}

// Absorbs free neighbour `right` (b's next) into b; both are out of the free lists.
void BlockCache::absorb(Block* b, Block* right) {
  b->size += right->size;
  b->next = right->next;
  if (right->next) right->next->prev = b;
  b->resident = b->resident || right->resident;
  delete right;
}

// Returns the free block b became part of.
Block* BlockCache::give_back(Block* b) {
  b->free = true;
  b->resident = true;
  b->freed_at = allocations_;
  b->freed_order = allocations_ + ++frees_;
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
void BlockCache::release(Block* b) {
  if (!b->prev && !b->next) {
    ++releases_;
    remove_free(b);
    reserved_ -= b->size;
    // glibc may keep a freed block in its heap, pages and all: drop the pages first.
    madvise(b->ptr, b->size, MADV_DONTNEED);
    EMBER_UNPOISON(b->ptr, b->size);
    std::free(b->ptr);
    delete b;
  } else if (b->resident) {
    ++releases_;
    madvise(b->ptr, b->size, MADV_DONTNEED);
    b->resident = false;
    cached_ -= b->size;
  }
}

void BlockCache::enforce_limit() {
  while (cached_ > limit_) {
    Block* oldest = nullptr;
    auto consider = [&](Block* b) {
      if (b->resident && (!oldest || b->freed_order < oldest->freed_order)) oldest = b;
    };
    small_free_.for_each(consider);
    large_free_.for_each(consider);
    release(oldest);  // cached_ > 0, so some free block is resident
  }
}

void BlockCache::trim_idle() {
  auto idle = [&](Block* b) {
    if (allocations_ - b->freed_at >= kIdleAllocations) release(b);
  };
  small_free_.for_each(idle);
  large_free_.for_each(idle);
}

void BlockCache::release_all() {
  auto all = [&](Block* b) { release(b); };
  small_free_.for_each(all);
  large_free_.for_each(all);
}

void* BlockCache::allocate(std::size_t bytes) {
  const std::size_t n = (bytes + kPage - 1) / kPage * kPage;
  const bool small = n < kSmallRequest;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (++allocations_ % kSweepEvery == 0) trim_idle();
    FreeLists& free_list = small ? small_free_ : large_free_;
    if (Block* b = free_list.best_fit(n, small ? kSmallSegment : 2 * n)) {
      ++hits_;
      return take(b, n, bytes);
    }
    ++misses_;
  }
  // Taken outside the lock: a fresh mapping of many MB should not stall other threads.
  const std::size_t segment = small ? kSmallSegment : n;
  void* mem = std::aligned_alloc(kPage, segment);
  if (!mem) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      release_all();
    }
    mem = std::aligned_alloc(kPage, segment);
    if (!mem) throw_out_of_memory(bytes);
  }
  std::lock_guard<std::mutex> lock(mutex_);
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
  b->freed_at = allocations_;
  b->freed_order = allocations_ + frees_;
  EMBER_POISON(b->ptr, b->size);
  reserved_ += segment;
  add_free(b);
  void* p = take(b, n, bytes);  // on a throw the segment stays cached, as a freed one would
  if (cached_ > limit_) enforce_limit();
  return p;
}

void BlockCache::free(void* p) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = live_.find(p);
  if (it == live_.end()) return;  // not from allocate(): never happens through the allocator
  Block* b = it->second;
  live_.erase(it);
  allocated_ -= b->size;
  b = give_back(b);
  if (b->size > limit_) release(b);  // older blocks that fit stay: this one never would
  if (cached_ > limit_) enforce_limit();
}

void BlockCache::empty() {
  std::lock_guard<std::mutex> lock(mutex_);
  release_all();
}

void BlockCache::set_limit(std::size_t bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  limit_ = bytes;
  follows_peak_ = false;
  enforce_limit();
}

BlockCache::Counts BlockCache::counts() {
  std::lock_guard<std::mutex> lock(mutex_);
  return {cached_, allocated_, reserved_, limit_, hits_, misses_, releases_};
}

}  // namespace ember::detail
