// The buffer cache of tensor storage: blocks serve requests of other sizes, what it holds stays
// under its bound and goes back when idle or asked, a training loop's footprint stays flat,
// and impossible sizes fail at once with the size in the message.
#include <doctest/doctest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <ember/ember.hpp>
#include <fstream>
#include <string>
#include <vector>

using namespace ember;
using detail::cached_alloc;
using detail::cached_free;

namespace {

constexpr int64_t KiB = 1024, MiB = 1024 * 1024;

struct LimitGuard {  // each case starts with an empty cache and leaves the limit as it was
  int64_t saved = cache_limit();
  LimitGuard() { empty_cache(); }
  ~LimitGuard() {
    set_cache_limit(saved);
    empty_cache();
  }
};

struct Block {  // one cached_alloc, freed with the size it was asked with
  std::size_t bytes;
  void* p;
  explicit Block(int64_t n) : bytes(static_cast<std::size_t>(n)), p(cached_alloc(bytes)) {}
  ~Block() { cached_free(p, bytes); }
  Block(const Block&) = delete;
  Block& operator=(const Block&) = delete;
};

}  // namespace

TEST_CASE("a freed block serves requests of other sizes") {
  LimitGuard guard;
  SUBCASE("a large block serves a smaller large request, and the rest stays cached") {
    { Block big(6 * MiB); }
    CacheStats before = cache_stats();
    CHECK(before.cached_bytes == 6 * MiB);
    {
      Block smaller(4 * MiB + 5);
      CacheStats during = cache_stats();
      CHECK(during.hits == before.hits + 1);
      CHECK(during.misses == before.misses);
      CHECK(during.reserved_bytes == before.reserved_bytes);  // nothing new from the system
      CHECK(during.allocated_bytes == 4 * MiB + 4 * KiB);     // split at a page
      CHECK(during.cached_bytes == 2 * MiB - 4 * KiB);
    }
    CHECK(cache_stats().cached_bytes == 6 * MiB);  // the halves merged back
  }
  SUBCASE("neighbouring small blocks merge into a block for a larger request") {
    { Block a(300 * KiB), b(300 * KiB), c(200 * KiB); }
    CacheStats before = cache_stats();
    Block merged(700 * KiB);  // larger than any block that was freed
    CHECK(cache_stats().hits == before.hits + 1);
    CHECK(cache_stats().reserved_bytes == before.reserved_bytes);
  }
  SUBCASE("a small request does not pin a much larger block") {
    { Block big(64 * MiB); }
    CacheStats before = cache_stats();
    Block mid(8 * MiB);  // more than twice as small: fresh memory, the 64 MiB stays whole
    CHECK(cache_stats().misses == before.misses + 1);
    Block again(64 * MiB);
    CHECK(cache_stats().hits == before.hits + 1);
  }
  SUBCASE("tensors of a new shape reuse a freed tensor's storage") {
    { Tensor a = zeros({600, 600}); }  // 1.4 MiB
    CacheStats before = cache_stats();
    Tensor b = zeros({512, 600});  // 1.2 MiB
    CHECK(cache_stats().hits == before.hits + 1);
    CHECK(cache_stats().misses == before.misses);
  }
}

TEST_CASE("requested_bytes counts what live tensors asked for, exactly; the peak since a reset") {
  LimitGuard guard;
  const CacheStats before = cache_stats();
  reset_peak_stats();
  CHECK(cache_stats().peak_requested_bytes == before.requested_bytes);
  {
    Block tiny(100), small(5 * KiB), large(4 * MiB + 5);  // malloc'd, malloc'd, cached (rounded)
    CHECK(cache_stats().requested_bytes == before.requested_bytes + 100 + 5 * KiB + 4 * MiB + 5);
    CHECK(cache_stats().allocated_bytes > 4 * MiB + 5);  // the cache's count is of whole pages
    {
      Tensor t = zeros({1000, 250});  // float32: 1,000,000 bytes
      CHECK(cache_stats().requested_bytes ==
            before.requested_bytes + 100 + 5 * KiB + 4 * MiB + 5 + 1000000);
    }
  }
  CHECK(cache_stats().requested_bytes == before.requested_bytes);
  CHECK(cache_stats().peak_requested_bytes ==
        before.requested_bytes + 100 + 5 * KiB + 4 * MiB + 5 + 1000000);
  reset_peak_stats();
  CHECK(cache_stats().peak_requested_bytes == before.requested_bytes);
}

TEST_CASE("the cache never holds more than its limit") {
  LimitGuard guard;
  set_cache_limit(3 * MiB);
  CHECK(cache_limit() == 3 * MiB);
  CHECK(cache_stats().limit_bytes == 3 * MiB);
  std::vector<Block*> held;
  const int64_t sizes[] = {64 * KiB, 5 * MiB, 700 * KiB, 2 * MiB, 96 * KiB, 1 * MiB, 9 * MiB};
  for (int round = 0; round < 20; ++round) {
    for (int64_t s : sizes) held.push_back(new Block(s + round * 4 * KiB));
    for (size_t i = round % 2; i < held.size(); i += 2) {  // every other block, then the rest
      delete held[i];
      held[i] = nullptr;
      CHECK(cache_stats().cached_bytes <= 3 * MiB);
    }
    for (Block*& b : held) {
      delete b;
      CHECK(cache_stats().cached_bytes <= 3 * MiB);
    }
    held.clear();
  }
  CHECK(cache_stats().cached_bytes > 0);
  set_cache_limit(0);  // lowering the limit gives back at once; 0 caches nothing
  CHECK(cache_stats().cached_bytes == 0);
  { Block b(4 * MiB); }
  CHECK(cache_stats().cached_bytes == 0);
  CHECK_THROWS_WITH_AS(set_cache_limit(-1), "set_cache_limit: the limit must be >= 0 bytes, got -1",
                       ValueError);
}

TEST_CASE("the cache gives memory back when asked and when idle") {
  LimitGuard guard;
  CacheStats start = cache_stats();
  {
    std::vector<Tensor> many;
    for (int i = 0; i < 10; ++i) many.push_back(zeros({1024, 1024}));  // 4 MiB each
  }
  CacheStats full = cache_stats();
  CHECK(full.cached_bytes >= 40 * MiB);
  CHECK(full.reserved_bytes >= start.reserved_bytes + 40 * MiB);
  empty_cache();
  CacheStats emptied = cache_stats();
  CHECK(emptied.cached_bytes == 0);
  CHECK(emptied.reserved_bytes <= start.reserved_bytes);
  CHECK(emptied.releases >= full.releases + 10);

  { Block idle(4 * MiB); }  // then thousands of allocations that never need it
  CHECK(cache_stats().cached_bytes == 4 * MiB);
  for (int i = 0; i < 5000; ++i) Block busy(64 * KiB);
  CHECK(cache_stats().cached_bytes < 4 * MiB);
  CHECK(cache_stats().reserved_bytes <= emptied.reserved_bytes + 2 * MiB);  // one small segment
}

TEST_CASE("a training loop with batches of changing size keeps a flat footprint") {
  LimitGuard guard;
  manual_seed(3);
  nn::Linear fc1(256, 512), fc2(512, 10);
  std::vector<Tensor> params = fc1.parameters();
  for (Tensor& p : fc2.parameters()) params.push_back(p);
  optim::Adam opt(params, optim::AdamOptions(1e-3));
  int64_t warm = 0, later = 0;
  for (int step = 0; step < 400; ++step) {
    int64_t batch = 64 + (step * 37) % 200;  // 64..263 rows: every tensor's size changes
    Tensor x = randn({batch, 256});
    IndexTensor y(std::vector<int64_t>(static_cast<size_t>(batch), step % 10));
    opt.zero_grad();
    nn::functional::cross_entropy(fc2(relu(fc1(x))), y).backward();
    opt.step();
    int64_t reserved = cache_stats().reserved_bytes;
    (step < 100 ? warm : later) = std::max(step < 100 ? warm : later, reserved);
  }
  CHECK(warm > 0);
  CHECK(later <= warm);
}

TEST_CASE("impossible sizes fail at once with the size in the message") {
  // The old size-class loop never ended for 2^63 bytes or more.
  CHECK_THROWS_WITH_AS(cached_alloc(std::size_t(1) << 63),
                       doctest::Contains("cannot allocate 9223372036854775808 bytes (8.0 EiB)"),
                       Error);
  CHECK_THROWS_AS(cached_alloc(~std::size_t(0)), Error);
  CHECK_THROWS_WITH_AS(cached_alloc(std::size_t(1) << 60),
                       doctest::Contains("1152921504606846976 bytes"), Error);
  CHECK_THROWS_WITH_AS(CachingAllocator<float>().allocate(std::size_t(1) << 62),
                       "allocator: cannot allocate 4611686018427387904 elements of 4 bytes: the "
                       "size does not fit in 64 bits",
                       Error);
  CHECK_THROWS_AS(zeros({int64_t(1) << 61}), Error);
  CHECK_THROWS_AS(zeros({int64_t(1) << 55, 64}), Error);
}

#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
TEST_CASE("memory the system refuses is an ember::Error naming the size") {
  // A cap on the address space makes the system refuse (sanitizers need all of it).
  long pages = 0;
  std::ifstream("/proc/self/statm") >> pages;
  rlimit saved{};
  REQUIRE(getrlimit(RLIMIT_AS, &saved) == 0);
  rlimit capped = saved;
  capped.rlim_cur =
      static_cast<rlim_t>(pages) * static_cast<rlim_t>(sysconf(_SC_PAGESIZE)) + (rlim_t(512) << 20);
  if (saved.rlim_cur != RLIM_INFINITY && saved.rlim_cur < capped.rlim_cur) capped = saved;
  REQUIRE(setrlimit(RLIMIT_AS, &capped) == 0);
  bool threw = false;
  std::string message;
  try {
    void* p = cached_alloc(std::size_t(4) << 30);
    cached_free(p, std::size_t(4) << 30);
  } catch (const Error& e) {
    threw = true;
    message = e.what();
  }
  setrlimit(RLIMIT_AS, &saved);
  CHECK(threw);
  CHECK(message.find("out of memory") != std::string::npos);
  CHECK(message.find("4294967296 bytes (4.0 GiB)") != std::string::npos);
}
#endif

// Run by the next case in a child process with EMBER_CACHE_BYTES set; in the suite itself the
// variable is unset and the limit is the default.
TEST_CASE("allocator child: the limit comes from EMBER_CACHE_BYTES") {
  const char* v = std::getenv("EMBER_CACHE_BYTES");
  int64_t expected = v ? std::atoll(v) * (std::string(v).back() == 'M' ? MiB : 1) : 256 * MiB;
  LimitGuard guard;  // restores what the environment set, after another case changed it
  if (v) {
    CHECK(cache_stats().limit_bytes == expected);
    // A fixed bound stays fixed however much is live at once.
    void* big = cached_alloc(size_t(300 * MiB));
    cached_free(big, size_t(300 * MiB));
    CHECK(cache_stats().limit_bytes == expected);
  } else {
    CHECK(cache_stats().limit_bytes >= expected);
  }
}

// Run in a child process with EMBER_CACHE_BYTES unset (or empty) and no set_cache_limit before
// it.
TEST_CASE("allocator child peak: the default bound follows the most bytes live at once") {
  if (!std::getenv("EMBER_CHILD_PEAK")) return;
  CHECK(cache_limit() == 256 * MiB);
  void* a = cached_alloc(size_t(200 * MiB));
  void* b = cached_alloc(size_t(200 * MiB));
  CHECK(cache_limit() >= 400 * MiB);  // the peak: both live
  cached_free(a, size_t(200 * MiB));
  cached_free(b, size_t(200 * MiB));
  CHECK(cache_stats().cached_bytes >= 400 * MiB);  // both kept for the next step
  void* again = cached_alloc(size_t(200 * MiB));
  CHECK(cache_stats().hits >= 1);
  cached_free(again, size_t(200 * MiB));
  empty_cache();
}

TEST_CASE("EMBER_CACHE_BYTES is read at the first allocation") {
  if (std::getenv("EMBER_CACHE_BYTES")) return;  // this process is a child already
  char self[4096] = {};
  REQUIRE(readlink("/proc/self/exe", self, sizeof self - 1) > 0);
  std::string run = std::string(self) + " -tc='allocator child: *' > /dev/null 2>&1";
  CHECK(std::system(("EMBER_CACHE_BYTES=12M " + run).c_str()) == 0);
  CHECK(std::system(("EMBER_CHILD_PEAK=1 " + std::string(self) +
                     " -tc='allocator child peak: *' > /dev/null 2>&1")
                        .c_str()) == 0);
  // Set but empty is unset: the bound follows the peak (a 256 MiB bound made a GPT-2 step 3.6x
  // slower).
  CHECK(std::system(("EMBER_CACHE_BYTES= EMBER_CHILD_PEAK=1 " + std::string(self) +
                     " -tc='allocator child peak: *' > /dev/null 2>&1")
                        .c_str()) == 0);
  CHECK(std::system(("EMBER_CACHE_BYTES=5000 " + run).c_str()) == 0);
  std::string out = "/tmp/ember-cache-bytes-" + std::to_string(getpid()) + ".txt";
  CHECK(std::system(("EMBER_CACHE_BYTES=lots " + std::string(self) +
                     " -tc='allocator child: *' > " + out + " 2>&1")
                        .c_str()) != 0);
  std::ifstream f(out);
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::remove(out.c_str());
  CHECK(text.find("EMBER_CACHE_BYTES: expected a byte count such as 268435456, 512M or 2G, got "
                  "'lots'") != std::string::npos);
}
