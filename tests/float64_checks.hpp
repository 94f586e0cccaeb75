// A float64 result against the same op's float32 result: within float32's rounding.
#pragma once

#include <doctest/doctest.h>

#include <cmath>
#include <ember/ember.hpp>
#include <ember/gradcheck.hpp>
#include <vector>

namespace float64_checks {

// a64 (float64) has a32's shape and every element within 1e-5 relative of it (float32 keeps
// 24 bits; the ops checked sum at most a few dozen terms).
inline void check_float32_rounding(const ember::Tensor& a64, const ember::Tensor& a32,
                                   const char* what) {
  INFO(what);
  REQUIRE(a64.dtype() == ember::kFloat64);
  REQUIRE(a64.shape() == a32.shape());
  const std::vector<double> x = ember::detail::values_as_double(a64),
                            y = ember::detail::values_as_double(a32);
  for (size_t i = 0; i < x.size(); ++i) {
    INFO("element ", i, ": ", x[i], " vs ", y[i]);
    CHECK(std::abs(x[i] - y[i]) <= 1e-5 * (1 + std::abs(y[i])));
  }
}

}  // namespace float64_checks
