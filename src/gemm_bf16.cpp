// bfloat16 GEMM with float32 accumulation and a float32 result, for autocast: oneDNN's matmul
// primitive where the CPU multiplies bfloat16 natively and faster than float32 (the rule in
// autocast.cpp), else the same bfloat16 operands widened to float32 and multiplied by sgemm:
// one set of numerics (products of bf16 values, summed in float32), two speeds.
#include <algorithm>
#include <map>
#include <tuple>

#include "ember/autocast.hpp"
#include "ember/parallel.hpp"
#include "ember/tensor.hpp"
#include "gemm.hpp"
#include "ops/kernels.hpp"

#ifdef EMBER_HAVE_DNNL
#include <omp.h>

#include <oneapi/dnnl/dnnl.hpp>
#endif

namespace ember {

namespace {

// A row-major bfloat16 matrix [rows, cols] with leading dim ld, widened to a packed float32 one
// (from the buffer cache: a fresh block of this size would fault its pages in on every call).
Array widened(const BFloat16* x, int64_t rows, int64_t cols, int64_t ld) {
  Array out = Array::from_shape({static_cast<size_t>(rows), static_cast<size_t>(cols)});
  detail::widen_rows(x, rows, cols, ld, out.data());
  return out;
}

// sgemm after widening each bfloat16 operand (op(a) is [m, k]: stored [k, m] when transposed).
void widened_gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, detail::MixedOperand a,
                  int64_t lda, detail::MixedOperand b, int64_t ldb, float beta, float* c,
                  int64_t ldc) {
  Array wa, wb;
  if (!a.f32) {
    wa = widened(a.bf16, ta ? k : m, ta ? m : k, lda);
    a.f32 = wa.data();
    lda = ta ? m : k;
  }
  if (!b.f32) {
    wb = widened(b.bf16, tb ? n : k, tb ? k : n, ldb);
    b.f32 = wb.data();
    ldb = tb ? k : n;
  }
  sgemm(ta, tb, m, n, k, 1.f, a.f32, lda, b.f32, ldb, beta, c, ldc);
}

#ifdef EMBER_HAVE_DNNL
// One matmul primitive per shape, layout and beta and per thread, made once (making one costs
// more than a small product). Per thread because with oneDNN's default scratchpad a primitive
// must run on the thread that made it, and one primitive never runs on two threads at once
// (the two halves of a product split in equal pieces have the same key).
using Key = std::tuple<bool, bool, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, float>;
struct Matmul {
  dnnl::matmul primitive;
  dnnl::memory::desc a, b, c;
};

const dnnl::engine& cpu_engine() {
  static const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

const Matmul& matmul_for(const Key& key) {
  thread_local std::map<Key, Matmul> made;
  auto found = made.find(key);
  if (found != made.end()) return found->second;
  const auto [ta, tb, m, n, k, lda, ldb, ldc, beta] = key;
  using dt = dnnl::memory::data_type;
  // op(A)[m, k] and op(B)[k, n] as strided views of the row-major buffers.
  dnnl::memory::desc a({m, k}, dt::bf16,
                       ta ? dnnl::memory::dims{1, lda} : dnnl::memory::dims{lda, 1});
  dnnl::memory::desc b({k, n}, dt::bf16,
                       tb ? dnnl::memory::dims{1, ldb} : dnnl::memory::dims{ldb, 1});
  dnnl::memory::desc c({m, n}, dt::f32, dnnl::memory::dims{ldc, 1});
  dnnl::primitive_attr attr;
  if (beta != 0.f) {
    dnnl::post_ops sum;
    sum.append_sum(beta);
    attr.set_post_ops(sum);
  }
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b, c), attr, cpu_engine());
  return made.emplace(key, Matmul{dnnl::matmul(pd), a, b, c}).first->second;
}

void onednn_serial(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const BFloat16* a,
                   int64_t lda, const BFloat16* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  // One OpenMP thread per call, as sgemm's (gemm.cpp): Ember's pool splits the product. Set
  // before the primitive is made: oneDNN plans a primitive's threads when it makes it, and one
  // made for 2 ran an OpenMP team of 2 on each of the pool's threads (4 threads on 2 cores,
  // each region waking a sleeping OpenMP worker).
  struct OneOpenMPThread {  // restored however the call ends (oneDNN throws dnnl::error)
    const int saved = omp_get_max_threads();
    OneOpenMPThread() {
      if (saved != 1) omp_set_num_threads(1);
    }
    ~OneOpenMPThread() {
      if (saved != 1) omp_set_num_threads(saved);
    }
  } one_thread;
  const Matmul& mm = matmul_for(Key{ta, tb, m, n, k, lda, ldb, ldc, beta});
  thread_local dnnl::stream stream(cpu_engine());
  const dnnl::engine& engine = cpu_engine();
  dnnl::memory A(mm.a, engine, const_cast<BFloat16*>(a)), B(mm.b, engine, const_cast<BFloat16*>(b)),
      C(mm.c, engine, c);
  mm.primitive.execute(stream, {{DNNL_ARG_SRC, A}, {DNNL_ARG_WEIGHTS, B}, {DNNL_ARG_DST, C}});
  stream.wait();
}

// Split as sgemm's products are (gemm.hpp), so the bits do not depend on the thread count.
void onednn_gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const BFloat16* a, int64_t lda,
                 const BFloat16* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  detail::split_product(m, n, k, [&](int64_t lo, int64_t hi, bool rows) {
    if (rows)
      onednn_serial(ta, tb, hi - lo, n, k, ta ? a + lo : a + lo * lda, lda, b, ldb, beta,
                    c + lo * ldc, ldc);
    else
      onednn_serial(ta, tb, m, hi - lo, k, a, lda, tb ? b + lo * ldb : b + lo, ldb, beta, c + lo,
                    ldc);
  });
}
#endif

}  // namespace

void gemm_bf16(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const BFloat16* a, int64_t lda,
               const BFloat16* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
#ifdef EMBER_HAVE_DNNL
  if (k > 0 && autocast::native_bf16_gemm())
    return onednn_gemm(ta, tb, m, n, k, a, lda, b, ldb, beta, c, ldc);
#endif
  widened_gemm(ta, tb, m, n, k, {nullptr, a}, lda, {nullptr, b}, ldb, beta, c, ldc);
}

namespace detail {
void widen_rows(const BFloat16* x, int64_t rows, int64_t cols, int64_t ld, float* out) {
  if (ld == cols)  // one block, which the pool splits when it is large (a row alone is not)
    return kernels::from_bf16(reinterpret_cast<const uint16_t*>(x), out, rows * cols);
  for (int64_t i = 0; i < rows; ++i)
    kernels::from_bf16(reinterpret_cast<const uint16_t*>(x + i * ld), out + i * cols, cols);
}

void gemm_mixed(bool ta, bool tb, int64_t m, int64_t n, int64_t k, MixedOperand a, int64_t lda,
                MixedOperand b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (a.bf16 && b.bf16) return gemm_bf16(ta, tb, m, n, k, a.bf16, lda, b.bf16, ldb, beta, c, ldc);
  if (m == 0 || n == 0) return;
  widened_gemm(ta, tb, m, n, k, a, lda, b, ldb, beta, c, ldc);
}
}  // namespace detail

}  // namespace ember
