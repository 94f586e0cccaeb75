// Linked against src/distributed/unavailable.cpp instead of the MPI implementation: what a
// build without MPI gives (the same check runs in ember_tests when EMBER_WITH_MPI=OFF).
#include <ember/ember.hpp>
#include <iostream>

int main() {
  namespace dist = ember::distributed;
  if (dist::is_available()) {
    std::cerr << "is_available() is true without MPI\n";
    return 1;
  }
  try {
    dist::Environment env;
    std::cerr << "Environment constructed without MPI\n";
    return 1;
  } catch (const ember::Error& e) {
    if (std::string(e.what()).find("built without MPI") == std::string::npos) {
      std::cerr << "unclear message: " << e.what() << "\n";
      return 1;
    }
    std::cout << e.what() << "\n";
  }
  try {
    dist::DataParallel dp({ember::zeros({2}, true)});
    return 1;
  } catch (const ember::Error& e) {
    std::cout << e.what() << "\n";
  }
  // What needs no MPI still works.
  dist::DistributedSampler sampler(10, dist::DistributedSamplerOptions(2, 1));
  return sampler.indices().size() == 5 ? 0 : 1;
}
