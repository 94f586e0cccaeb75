// The malloc family of this program, counting each allocation and forwarding to glibc's own
// (__libc_malloc and friends, which glibc exports for exactly this). The program's definitions
// take precedence over libc.so's for every shared library it loads, so LibTorch's posix_memalign
// and Ember's operator new are both seen. Replacing only operator new would miss c10's tensor
// buffers, which come from posix_memalign.
#include "alloc_count.hpp"

#include <atomic>
#include <cerrno>
#include <cstddef>

extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);
void __libc_free(void*);
}

namespace {

std::atomic<bool> counting{false};
std::atomic<uint64_t> allocations{0};

inline void note() {
  if (counting.load(std::memory_order_relaxed)) allocations.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

namespace bench {
void alloc_counting(bool on) { counting.store(on, std::memory_order_relaxed); }
uint64_t alloc_total() { return allocations.load(std::memory_order_relaxed); }
}  // namespace bench

extern "C" {

void* malloc(size_t n) noexcept {
  note();
  return __libc_malloc(n);
}
void* calloc(size_t count, size_t n) noexcept {
  note();
  return __libc_calloc(count, n);
}
void* realloc(void* p, size_t n) noexcept {
  if (p == nullptr) note();  // growing a block in place or moving it is not a new allocation
  return __libc_realloc(p, n);
}
void free(void* p) noexcept { __libc_free(p); }
void* memalign(size_t alignment, size_t n) noexcept {
  note();
  return __libc_memalign(alignment, n);
}
void* aligned_alloc(size_t alignment, size_t n) noexcept {
  note();
  return __libc_memalign(alignment, n);
}
int posix_memalign(void** out, size_t alignment, size_t n) noexcept {
  // glibc's own checks: a power of two, a multiple of sizeof(void*).
  if (alignment % sizeof(void*) != 0 || (alignment & (alignment - 1)) != 0 || alignment == 0)
    return EINVAL;
  note();
  void* p = __libc_memalign(alignment, n);
  if (p == nullptr) return ENOMEM;
  *out = p;
  return 0;
}

}  // extern "C"
