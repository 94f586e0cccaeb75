// Ember's single entry to single-precision matrix products, as the core calls it. The engine and
// its choice are public (ember/gemm.hpp); this name stays for the core's callers.
#pragma once

#include "ember/gemm.hpp"

namespace ember::detail {

using ember::sgemm;

}  // namespace ember::detail
