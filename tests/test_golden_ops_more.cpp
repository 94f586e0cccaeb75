// The ops of "Core 2" against PyTorch 1.13 (golden/ops_more.txt, made by
// golden/make_golden_ops_more.py): values, returned indices, and input gradients; 0-d inputs
// to every op that takes a dim. The table is golden_ops_more_table.hpp's, which
// test_golden_float64.cpp runs in float64.
#include "golden_ops_more_table.hpp"

TEST_CASE("golden: Core 2 ops match PyTorch in value, indices and gradient") {
  golden::core_more::check_file("ops_more.txt", ember::kFloat32);
}
