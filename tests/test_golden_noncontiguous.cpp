// Every core op fed a non-contiguous input (a transposed, narrowed or expanded view of a
// leaf) against PyTorch 1.13 (golden/noncontiguous.txt, made by
// golden/make_golden_noncontiguous.py): the output and the leaf's gradient, through the view's
// backward. The table is golden_noncontiguous_table.hpp's, which test_golden_float64.cpp runs
// in float64.
#include "golden_noncontiguous_table.hpp"

TEST_CASE("golden: every core op on transposed, narrowed and expanded inputs") {
  golden::noncontiguous::check_file("noncontiguous.txt", ember::kFloat32);
}
