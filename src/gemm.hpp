// Ember's single entry to single-precision matrix products, as the core calls it. The engine and
// its choice are public (ember/gemm.hpp); this name stays for the core's callers.
#pragma once

#include <cstdint>
#include <functional>

#include "ember/gemm.hpp"

namespace ember::detail {

using ember::sgemm;

// Splits a product's C[m, n] into pieces fixed by the shape and the machine (its hardware
// threads), never by the thread count, so that one and two threads compute every element with
// the same calls and give the same bits. Calls piece(lo, hi, rows) on the pool for each: rows
// [lo, hi) of C when rows is true, else columns [lo, hi); one call over all of C (rows 0..m)
// when the product is too small to split.
void split_product(int64_t m, int64_t n, int64_t k,
                   const std::function<void(int64_t lo, int64_t hi, bool rows)>& piece);

}  // namespace ember::detail
