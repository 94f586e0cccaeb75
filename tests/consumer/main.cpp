// Built against the `cmake --install` output: proves find_package(ember) works for a user.
#include <ember/ember.hpp>
#include <iostream>

int main() {
  ember::Tensor w = ember::tensor({1, 2, 3}, true);
  ember::Tensor loss = ember::sum(w * w);
  loss.backward();
  std::cout << w.grad() << "\n";
  return w.grad().to_vector() == std::vector<float>{2, 4, 6} ? 0 : 1;
}
