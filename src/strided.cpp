// Strided walks over a storage: how a view's elements are gathered into a contiguous buffer,
// written back, or added into (the backward of every view op).
#include <algorithm>
#include <numeric>
#include <type_traits>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "ops/kernels.hpp"
#include "ops/op_helpers.hpp"

namespace ember::detail {

namespace {
// Calls visit(i, position) for element i of the view, row-major, the innermost dim in a tight
// loop.
template <class Visit>
void walk_strided(const Shape& shape, const Shape& strides, int64_t offset, Visit visit) {
  const int64_t rank = static_cast<int64_t>(shape.size());
  int64_t total = std::accumulate(shape.begin(), shape.end(), int64_t{1}, std::multiplies<>());
  if (total == 0) return;
  if (rank == 0) {
    visit(0, offset);
    return;
  }
  const int64_t inner = shape[rank - 1], inner_stride = strides[rank - 1];
  std::vector<int64_t> index(static_cast<size_t>(rank), 0);
  int64_t position = offset;
  for (int64_t i = 0; i < total; i += inner) {
    for (int64_t j = 0; j < inner; ++j) visit(i + j, position + j * inner_stride);
    for (int64_t d = rank - 2; d >= 0; --d) {  // odometer over the outer dims
      position += strides[d];
      if (++index[d] < shape[d]) break;
      position -= strides[d] * shape[d];
      index[d] = 0;
    }
  }
}
}  // namespace

namespace {

#if defined(__x86_64__)
// dst[r][c] = src[c][r] for an 8x8 block, in AVX registers: 8 row loads, 24 shuffles, 8 row
// stores (a scalar tile moves one element at a time).
__attribute__((target("avx2"))) void transpose8x8(const float* src, int64_t src_stride, float* dst,
                                                  int64_t dst_stride) {
  __m256 r[8], t[8];
  for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + i * src_stride);
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    r[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int i = 0; i < 4; ++i) {
    _mm256_storeu_ps(dst + i * dst_stride, _mm256_permute2f128_ps(r[i], r[i + 4], 0x20));
    _mm256_storeu_ps(dst + (i + 4) * dst_stride, _mm256_permute2f128_ps(r[i], r[i + 4], 0x31));
  }
}
bool has_avx2() {
  static const bool yes = __builtin_cpu_supports("avx2");
  return yes;
}
#else
void transpose8x8(const float* src, int64_t src_stride, float* dst, int64_t dst_stride) {
  for (int64_t i = 0; i < 8; ++i)
    for (int64_t j = 0; j < 8; ++j) dst[j * dst_stride + i] = src[i * src_stride + j];
}
bool has_avx2() { return false; }
#endif

// dst[r][c] = src[r + c * sc] for an [R, C] result, through 16x16 tiles in L1: each cache line
// of the source and of the result is touched once per tile. Writing the result column by
// column instead revisits 16 lines a power of two apart, which share one cache set and evict
// each other (2.6 ms for 1024x1024). Column bands outermost: a band's 16 source columns are
// read down their length, 16 sequential streams the prefetcher and the TLB follow.
void transpose_tiles(const float* src, int64_t R, int64_t C, int64_t sc, float* dst) {
  constexpr int64_t kTile = 16;
  float tile[kTile][kTile];
  for (int64_t c0 = 0; c0 < C; c0 += kTile)
    for (int64_t r0 = 0; r0 < R; r0 += kTile) {
      const int64_t rows = std::min(R - r0, kTile), cols = std::min(C - c0, kTile);
      if (rows == kTile && cols == kTile) {    // fixed bounds: the compiler unrolls them (1.4x)
        for (int64_t c = 0; c < kTile; ++c) {  // reads run along storage rows (stride 1 in r)
          const float* from = src + r0 + (c0 + c) * sc;
          for (int64_t r = 0; r < kTile; ++r) tile[r][c] = from[r];
        }
        for (int64_t r = 0; r < kTile; ++r)
          for (int64_t c = 0; c < kTile; ++c) dst[(r0 + r) * C + c0 + c] = tile[r][c];
        continue;
      }
      for (int64_t c = 0; c < cols; ++c) {
        const float* from = src + r0 + (c0 + c) * sc;
        for (int64_t r = 0; r < rows; ++r) tile[r][c] = from[r];
      }
      for (int64_t r = 0; r < rows; ++r)
        std::copy(tile[r], tile[r] + cols, dst + (r0 + r) * C + c0);
    }
}

// The same with 8x8 register transposes, in strips of 16 result rows swept across every
// column: the 16 result rows are written as sequential streams, and each source cache line
// (16 floats of one column) is read whole, once. 1.7x the tiles on the EPYC (1024x1024,
// stride 1025: 360 vs 630 µs; a column-band order or square blocks measured 420-900 µs).
void transpose_strips(const float* src, int64_t R, int64_t C, int64_t sc, float* dst,
                      const BandDone& done) {
  const int64_t R16 = R / 16 * 16, C8 = C / 8 * 8;
  for (int64_t r0 = 0; r0 < R16; r0 += 16) {
    for (int64_t c0 = 0; c0 < C8; c0 += 8) {
      transpose8x8(src + r0 + c0 * sc, sc, dst + r0 * C + c0, C);
      transpose8x8(src + r0 + 8 + c0 * sc, sc, dst + (r0 + 8) * C + c0, C);
    }
    for (int64_t r = r0; r < r0 + 16; ++r)  // the last columns, fewer than 8
      for (int64_t c = C8; c < C; ++c) dst[r * C + c] = src[r + c * sc];
    if (done) done(dst + r0 * C, 16 * C);  // while the strip is in cache
  }
  if (R16 == R) return;
  transpose_tiles(src + R16, R - R16, C, sc, dst + R16 * C);  // the last rows
  if (done) done(dst + R16 * C, (R - R16) * C);
}

// The common transposed layout: the last two dims [R, C] have strides [1, s]. Read column by
// column, each output row would touch C cache lines; square tiles touch each line once.
bool gather_transposed(const float* base, const Shape& shape, const Shape& strides, int64_t offset,
                       float* out, const BandDone& done) {
  const size_t rank = shape.size();
  if (rank < 2 || strides[rank - 2] != 1 || strides[rank - 1] == 1 || shape[rank - 1] < 2 ||
      shape[rank - 2] < 2)
    return false;
  const int64_t R = shape[rank - 2], C = shape[rank - 1], sc = strides[rank - 1];
  const Shape outer_shape(shape.begin(), shape.end() - 2);
  const Shape outer_strides(strides.begin(), strides.end() - 2);
  walk_strided(outer_shape, outer_strides, offset, [&](int64_t m, int64_t p) {
    float* dst = out + m * R * C;
    if (has_avx2()) return transpose_strips(base + p, R, C, sc, dst, done);
    transpose_tiles(base + p, R, C, sc, dst);
    if (done) done(dst, R * C);
  });
  return true;
}
}  // namespace

void gather_strided(const float* base, const Shape& shape, const Shape& strides, int64_t offset,
                    float* out) {
  if (gather_transposed(base, shape, strides, offset, out, nullptr)) return;
  walk_strided(shape, strides, offset, [&](int64_t i, int64_t p) { out[i] = base[p]; });
}

void gather_strided_then(const float* base, const Shape& shape, const Shape& strides,
                         int64_t offset, float* out, const BandDone& done) {
  if (gather_transposed(base, shape, strides, offset, out, done)) return;
  gather_strided(base, shape, strides, offset, out);
  done(out, std::accumulate(shape.begin(), shape.end(), int64_t{1}, std::multiplies<>()));
}
void write_strided(const float* values, const Shape& shape, const Shape& strides, int64_t offset,
                   float* base) {
  walk_strided(shape, strides, offset, [&](int64_t i, int64_t p) { base[p] = values[i]; });
}
void scatter_add_strided(const float* values, const Shape& shape, const Shape& strides,
                         int64_t offset, float* base) {
  walk_strided(shape, strides, offset, [&](int64_t i, int64_t p) { base[p] += values[i]; });
}

// float64: the plain walks (no speed target).
void gather_strided(const double* base, const Shape& shape, const Shape& strides, int64_t offset,
                    double* out) {
  walk_strided(shape, strides, offset, [&](int64_t i, int64_t p) { out[i] = base[p]; });
}
void write_strided(const double* values, const Shape& shape, const Shape& strides, int64_t offset,
                   double* base) {
  walk_strided(shape, strides, offset, [&](int64_t i, int64_t p) { base[p] = values[i]; });
}
void scatter_add_strided(const double* values, const Shape& shape, const Shape& strides,
                         int64_t offset, double* base) {
  walk_strided(shape, strides, offset, [&](int64_t i, int64_t p) { base[p] += values[i]; });
}

namespace {
template <class T>
void copy_strided_of(const T* src, const Shape& shape, const Shape& src_strides, int64_t src_offset,
                     T* dst, const Shape& dst_strides, int64_t dst_offset) {
  const size_t rank = shape.size();
  for (int64_t d : shape)
    if (d == 0) return;
  if (rank == 0) {
    dst[dst_offset] = src[src_offset];
    return;
  }
  const int64_t inner = shape[rank - 1], in_step = src_strides[rank - 1],
                out_step = dst_strides[rank - 1];
  std::vector<int64_t> index(rank - 1, 0);
  int64_t from = src_offset, to = dst_offset;
  while (true) {
    for (int64_t j = 0; j < inner; ++j) dst[to + j * out_step] = src[from + j * in_step];
    size_t d = rank - 1;
    for (; d-- > 0;) {  // odometer over the outer dims, both positions at once
      from += src_strides[d];
      to += dst_strides[d];
      if (++index[d] < shape[d]) break;
      from -= src_strides[d] * shape[d];
      to -= dst_strides[d] * shape[d];
      index[d] = 0;
    }
    if (d == static_cast<size_t>(-1)) return;
  }
}
}  // namespace

void copy_strided(const float* src, const Shape& shape, const Shape& src_strides,
                  int64_t src_offset, float* dst, const Shape& dst_strides, int64_t dst_offset) {
  copy_strided_of(src, shape, src_strides, src_offset, dst, dst_strides, dst_offset);
}
void copy_strided(const double* src, const Shape& shape, const Shape& src_strides,
                  int64_t src_offset, double* dst, const Shape& dst_strides, int64_t dst_offset) {
  copy_strided_of(src, shape, src_strides, src_offset, dst, dst_strides, dst_offset);
}

namespace {
template <class T>
void sum_strided_of(const T* base, const Shape& shape, const Shape& strides, int64_t offset,
                    const Shape& out_strides, double* acc) {
  // The dims that matter, the smallest input stride innermost: the walk follows memory.
  struct Dim {
    int64_t size, in, out;
  };
  std::vector<Dim> dims;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 0) return;
    if (shape[d] > 1) dims.push_back({shape[d], strides[d], out_strides[d]});
  }
  std::stable_sort(dims.begin(), dims.end(),
                   [](const Dim& a, const Dim& b) { return std::abs(a.in) > std::abs(b.in); });
  if (dims.empty()) dims.push_back({1, 1, 0});
  const Dim inner = dims.back();
  dims.pop_back();
  std::vector<int64_t> index(dims.size(), 0);
  int64_t in_at = offset, out_at = 0;
  while (true) {
    const T* x = base + in_at;
    double* y = acc + out_at;
    if (std::is_same_v<T, float> && inner.out == 0 && inner.in == 1) {
      if constexpr (std::is_same_v<T, float>)
        *y += kernels::sum(x, inner.size);  // a contiguous run into one output: vectorised
    } else if (inner.out == 0) {
      double total = 0;
      for (int64_t j = 0; j < inner.size; ++j) total += x[j * inner.in];
      *y += total;
    } else if (std::is_same_v<T, float> && inner.out == 1 && inner.in == 1) {
      if constexpr (std::is_same_v<T, float>)
        kernels::add_to_double(x, y, inner.size);  // a row into a row of sums: vectorised
    } else {
      for (int64_t j = 0; j < inner.size; ++j) y[j * inner.out] += x[j * inner.in];
    }
    size_t d = dims.size();
    for (; d-- > 0;) {  // odometer over the outer dims
      in_at += dims[d].in;
      out_at += dims[d].out;
      if (++index[d] < dims[d].size) break;
      in_at -= dims[d].in * dims[d].size;
      out_at -= dims[d].out * dims[d].size;
      index[d] = 0;
    }
    if (d == static_cast<size_t>(-1)) return;
  }
}

}  // namespace

void sum_strided(const float* base, const Shape& shape, const Shape& strides, int64_t offset,
                 const Shape& out_strides, double* acc) {
  sum_strided_of(base, shape, strides, offset, out_strides, acc);
}
void sum_strided(const double* base, const Shape& shape, const Shape& strides, int64_t offset,
                 const Shape& out_strides, double* acc) {
  sum_strided_of(base, shape, strides, offset, out_strides, acc);
}

}  // namespace ember::detail
