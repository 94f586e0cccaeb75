// Test-side wrapper of ember::gradcheck: fails the doctest case with the mismatch it found.
#pragma once

#include <doctest/doctest.h>

#include <ember/gradcheck.hpp>

#define CHECK_GRADCHECK(fn, ...)                                              \
  do {                                                                        \
    ::ember::GradcheckResult gc_result = ::ember::gradcheck(fn, __VA_ARGS__); \
    INFO(gc_result.message);                                                  \
    CHECK(gc_result.ok);                                                      \
  } while (false)
