// The speed machinery: the thread pool (errors reach the caller), the GEMM engine (right answers
// on every path it takes, the same bits for 1 and 2 threads) and the buffer cache (reuse, and
// no process-wide setting changed).
#include <doctest/doctest.h>
#include <malloc.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <ember/ember.hpp>
#include <fstream>
#include <iterator>
#include <set>
#include <stdexcept>
#include <string>

extern char** environ;

using namespace ember;

namespace {

struct ThreadsGuard {
  int saved = get_num_threads();
  ~ThreadsGuard() { set_num_threads(saved); }
};

// op(A)·op(B) in double, the reference for every engine.
std::vector<double> reference_mm(const std::vector<float>& a, const std::vector<float>& b,
                                 int64_t m, int64_t n, int64_t k) {
  std::vector<double> c(static_cast<size_t>(m * n), 0.);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t p = 0; p < k; ++p) {
      double av = a[i * k + p];
      for (int64_t j = 0; j < n; ++j) c[i * n + j] += av * b[p * n + j];
    }
  return c;
}

void check_close(const std::vector<float>& got, const std::vector<double>& want, int64_t k) {
  REQUIRE(got.size() == want.size());
  double worst = 0.;
  for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::abs(got[i] - want[i]));
  CHECK(worst < 1e-5 * static_cast<double>(k) * 4.);  // randn entries: |sum| grows like k
}

}  // namespace

TEST_CASE("an exception thrown in a pool worker reaches the caller") {
  ThreadsGuard guard;
  set_num_threads(2);
  std::atomic<int64_t> rows_done{0};
  auto body = [&](int64_t lo, int64_t hi) {
    if (lo > 0) throw std::runtime_error("row " + std::to_string(lo));
    rows_done += hi - lo;
  };
  // Enough work to go parallel: the throwing chunk runs on the worker thread.
  CHECK_THROWS_WITH_AS(detail::parallel_rows(1000, int64_t(1) << 30, body), "row 500",
                       std::runtime_error);
  CHECK(rows_done == 500);
  // The pool still works afterwards, and a nested region runs inside the outer one.
  std::vector<int> hits(64, 0);
  detail::parallel_for(8, [&](int64_t t) {
    detail::parallel_for(8, [&](int64_t u) { hits[static_cast<size_t>(t * 8 + u)] += 1; });
  });
  CHECK(std::count(hits.begin(), hits.end(), 1) == 64);
}

TEST_CASE("parallel_for reports the error of the lowest task and still runs the others") {
  ThreadsGuard guard;
  set_num_threads(2);
  std::atomic<int> ran{0};
  CHECK_THROWS_WITH(detail::parallel_for(16,
                                         [&](int64_t t) {
                                           ++ran;
                                           if (t % 5 == 3)
                                             throw std::runtime_error(std::to_string(t));
                                         }),
                    "3");
  CHECK(ran == 16);
}

TEST_CASE("a child made by fork() after the pool started still runs parallel regions") {
  ThreadsGuard guard;
  set_num_threads(2);
  std::atomic<int64_t> rows{0};
  auto count = [&](int64_t lo, int64_t hi) { rows += hi - lo; };
  detail::parallel_rows(1000, int64_t(1) << 30, count);  // the workers exist now
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {  // the workers were not copied: waiting for them would hang
    rows = 0;
    detail::parallel_rows(1000, int64_t(1) << 30, count);
    _exit(rows == 1000 ? 0 : 1);
  }
  int status = -1;
  for (int i = 0; i < 200 && waitpid(child, &status, WNOHANG) == 0; ++i) usleep(50000);
  if (waitpid(child, &status, WNOHANG) == 0) {
    kill(child, SIGKILL);
    waitpid(child, &status, 0);
    FAIL("the forked child hung in a parallel region");
  }
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("matmul and linear match a double-precision product on every GEMM path") {
  ThreadsGuard guard;
  manual_seed(3);
  // Small (one call), large split by rows (m >= n) and large split by columns (m < n).
  const int64_t shapes[][3] = {{7, 5, 3}, {64, 64, 128}, {256, 256, 128}, {48, 1024, 96}};
  for (auto& s : shapes) {
    const int64_t m = s[0], n = s[1], k = s[2];
    CAPTURE(m);
    CAPTURE(n);
    Tensor a = randn({m, k}, true), b = randn({k, n}, true);
    for (int threads : {1, 2}) {
      set_num_threads(threads);
      Tensor c = matmul(a, b);
      check_close(c.to_vector(), reference_mm(a.to_vector(), b.to_vector(), m, n, k), k);
    }
    // linear: x·Wᵀ forward (NT); backward g·W (NN) and gᵀ·x (TN), checked against matmul.
    Tensor w = randn({n, k}, true);
    Tensor y = linear(a, w);
    std::vector<float> y_ref = matmul(a, w.transpose(0, 1)).to_vector();
    check_close(y.to_vector(), std::vector<double>(y_ref.begin(), y_ref.end()), k);
    y.backward(ones({m, n}));
    Tensor ones_mn = ones({m, n});
    std::vector<double> dx_ref = reference_mm(ones_mn.to_vector(), w.to_vector(), m, k, n);
    check_close(a.grad().to_vector(), dx_ref, n);
  }
}

TEST_CASE("matmul and linear are bit-identical with 1 and 2 threads") {
  ThreadsGuard guard;
  manual_seed(5);
  for (auto [m, n, k] : {std::tuple<int64_t, int64_t, int64_t>{256, 256, 128}, {64, 1024, 64}}) {
    Tensor x0 = randn({m, k}), w0 = randn({n, k});
    auto run = [&](int threads) {
      set_num_threads(threads);
      Tensor x(x0.data(), true), w(w0.data(), true);
      Tensor y = linear(x, w);
      sum(mul(y, y)).backward();
      std::vector<float> all = y.to_vector(), dx = x.grad().to_vector(), dw = w.grad().to_vector();
      all.insert(all.end(), dx.begin(), dx.end());
      all.insert(all.end(), dw.begin(), dw.end());
      return all;
    };
    std::vector<float> one = run(1), two = run(2);
    REQUIRE(one.size() == two.size());
    CHECK(std::memcmp(one.data(), two.data(), one.size() * sizeof(float)) == 0);
  }
}

TEST_CASE("tensor storage reuses freed blocks and keeps a bounded cache") {
  empty_cache();
  CHECK(cache_stats().cached_bytes == 0);
  Tensor a = randn({512, 512});
  CacheStats before = cache_stats();
  for (int i = 0; i < 10; ++i) {
    Tensor b = add(a, a);  // 1 MiB result, freed at the end of each iteration
    CHECK(b.to_vector()[7] == a.to_vector()[7] * 2.f);
  }
  CacheStats after = cache_stats();
  CHECK(after.hits - before.hits >= 9);
  CHECK(after.misses - before.misses <= 1);
  CHECK(after.cached_bytes >= 512 * 512 * 4);
  const int64_t saved = cache_limit();
  set_cache_limit(int64_t(64) << 20);
  {  // more than the bound freed at once: the excess goes back to the system
    std::vector<Tensor> many;
    for (int i = 0; i < 40; ++i)  // 4 MiB each, never touched: no page faults
      many.push_back(Tensor(Array::from_shape({1024, 1024})));
  }
  CHECK(cache_stats().cached_bytes <= int64_t(64) << 20);
  set_cache_limit(saved);
  empty_cache();
  CHECK(cache_stats().cached_bytes == 0);
}

TEST_CASE("linking Ember changes neither malloc's settings nor the environment") {
  // glibc serves a 64 MiB block with mmap unless someone raised M_MMAP_THRESHOLD (mallopt):
  // the dynamic threshold stops at 32 MiB.
  Tensor warm = matmul(randn({300, 300}), randn({300, 300}));  // GEMM engines, pool, cache
#ifndef __SANITIZE_ADDRESS__  // ASan replaces malloc: glibc's counters do not move under it
  struct mallinfo2 before = mallinfo2();
  static void* volatile big = nullptr;  // volatile: the allocation must happen
  big = std::malloc(size_t(64) << 20);
  struct mallinfo2 during = mallinfo2();
  std::free(big);
  CHECK(during.hblkhd - before.hblkhd >= size_t(64) << 20);
#endif
  // The environment as the process started (/proc/self/environ) is the environment now.
  std::ifstream f("/proc/self/environ", std::ios::binary);
  std::string raw((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::set<std::string> at_start, now;
  for (size_t pos = 0, end; pos < raw.size(); pos = end + 1) {
    end = raw.find('\0', pos);
    if (end == std::string::npos) end = raw.size();
    at_start.insert(raw.substr(pos, end - pos));
  }
  for (char** e = environ; *e; ++e) now.insert(*e);
  CHECK(at_start == now);
}

TEST_CASE("the vectorised kernels keep a fixed order: sum, softmax and elementwise ops") {
  ThreadsGuard guard;
  manual_seed(9);
  // sum: 16 running double sums in pieces of 32,768 elements, pieces added in order; any clone
  // (AVX-512, AVX2, SSE) and any thread count must give exactly this.
  const int64_t n = 200003;
  Tensor x = randn({n});
  std::vector<float> v = x.to_vector();
  double total = 0;
  for (int64_t lo = 0; lo < n; lo += 32768) {
    double acc[16] = {};
    int64_t hi = std::min(n, lo + 32768), i = lo;
    for (; i + 16 <= hi; i += 16)
      for (int j = 0; j < 16; ++j) acc[j] += v[static_cast<size_t>(i + j)];
    for (int j = 0; i < hi; ++i, ++j) acc[j] += v[static_cast<size_t>(i)];
    for (int w = 8; w >= 1; w /= 2)
      for (int j = 0; j < w; ++j) acc[j] += acc[j + w];
    total += acc[0];
  }
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    CHECK(sum(x).item() == static_cast<float>(total));
  }
  // softmax's exp against std::exp, including -inf (exactly 0), large and tiny inputs.
  Tensor logits = tensor({0.f, -INFINITY, 80.f, -100.f, 1e-3f, 3.f, -3.f, 85.f, 0.5f, -0.5f, 2.f,
                          7.f, -7.f, 11.f, 60.f, 20.f, 1.f},
                         {1, 17});
  std::vector<float> got = softmax(logits, 1).to_vector(), in = logits.to_vector();
  double m = 85., denom = 0.;
  for (float t : in) denom += std::exp(static_cast<double>(t) - m);
  for (size_t i = 0; i < in.size(); ++i) {
    double want = std::exp(static_cast<double>(in[i]) - m) / denom;
    CHECK(std::abs(got[i] - want) <= 1e-6 * want + 1e-38);
  }
  CHECK(got[1] == 0.f);
  // Large elementwise ops and softmax rows: the same bits on 1 and 2 threads.
  Tensor a = randn({300, 1000}), b = randn({300, 1000});
  auto run = [&](int threads) {
    set_num_threads(threads);
    std::vector<float> all = (a * b + a / b - b).to_vector(), s = softmax(a, 1).to_vector();
    all.insert(all.end(), s.begin(), s.end());
    return all;
  };
  std::vector<float> one = run(1), two = run(2);
  CHECK(std::memcmp(one.data(), two.data(), one.size() * sizeof(float)) == 0);
}
