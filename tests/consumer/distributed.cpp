// Built against the install tree when ember::distributed is there: the component links, and what
// needs no MPI (the sampler) works whether or not Ember was built with MPI.
#include <ember/ember.hpp>
#include <iostream>

int main() {
  namespace dist = ember::distributed;
  dist::DistributedSampler sampler(10, dist::DistributedSamplerOptions(2, 1));
  std::cout << "ember::distributed::is_available() = " << dist::is_available() << "\n";
  return sampler.indices().size() == 5 ? 0 : 1;
}
