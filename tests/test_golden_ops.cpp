// Forward outputs and input gradients of every core op against PyTorch 1.13 (golden/ops.txt;
// the table is golden_ops_table.hpp's, which test_golden_float64.cpp runs in float64).
#include "golden_ops_table.hpp"

TEST_CASE("golden: every core op matches PyTorch in value and gradient") {
  golden::core::check_file("ops.txt", ember::kFloat32);
}
