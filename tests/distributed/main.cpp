// The distributed suite's main: one Environment for every test case; run by ctest under
// mpirun -np 2. A rank that fails makes the whole run fail on every rank.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <ember/ember.hpp>
#include <iostream>

int main(int argc, char** argv) {
  ember::distributed::Environment env(argc, argv,
                                      ember::distributed::EnvironmentOptions().timeout(20));
  ember::set_num_threads(1);  // one core per rank
  doctest::Context context(argc, argv);
  if (env.rank() != 0) context.setOption("minimal", true);  // failures only, from other ranks
  int failed = context.run() != 0;
  const double any = ember::distributed::all_reduce(static_cast<double>(failed),
                                                    ember::distributed::ReduceOp::Max);
  if (any > 0 && !failed) std::cerr << "rank " << env.rank() << ": another rank failed\n";
  return any > 0 ? 1 : 0;
}
